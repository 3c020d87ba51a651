import { ModsurgError } from '../errors.js';
import { py, type PyDict, type PyValue } from './pickle/value.js';
import { metadataOf, withEntries } from './state-dict.js';

/** One renamed key: what a `--dry-run` prints and a report counts. */
export interface KeyChange {
  readonly from: string;
  readonly to: string;
}

export interface RenameResult {
  readonly dict: PyDict;
  readonly changes: KeyChange[];
}

/**
 * Renames a state dict's keys with `rename` (returning the key unchanged keeps it), and its `_metadata`
 * module paths with `renameModule`. Two keys that end up with one name are an error: loading would
 * silently keep only one of them.
 */
export function renameKeys(
  dict: PyDict,
  rename: (key: string) => string,
  renameModule: (path: string) => string | undefined = () => undefined,
): RenameResult {
  const changes: KeyChange[] = [];
  const sources = new Map<string, string>();
  const entries: [PyValue, PyValue][] = dict.entries.map(([k, v]) => {
    const from = (k as { value: string }).value;
    const to = rename(from);
    const clash = sources.get(to);
    if (clash !== undefined) throw new ModsurgError(`keys '${clash}' and '${from}' would both be renamed to '${to}'`);
    sources.set(to, from);
    if (to !== from) changes.push({ from, to });
    return [to === from ? k : py.str(to), v];
  });
  const metadata = metadataOf(dict);
  let newMetadata: PyDict | undefined;
  if (metadata) {
    // as torch's consume_prefix_in_state_dict_if_present does: `meta[new] = meta.pop(old)` in order
    const renamed: [PyValue, PyValue][] = [...metadata.entries];
    for (const [k, v] of metadata.entries) {
      if (k.kind !== 'str') continue;
      const to = renameModule(k.value);
      if (to === undefined || to === k.value) continue;
      renamed.splice(renamed.findIndex(([key]) => key === k), 1);
      const existing = renamed.findIndex(([key]) => key.kind === 'str' && key.value === to);
      if (existing >= 0) renamed[existing] = [renamed[existing]![0], v];
      else renamed.push([py.str(to), v]);
    }
    newMetadata = { kind: 'dict', ordered: metadata.ordered, entries: renamed };
    if (metadata.attributes) newMetadata.attributes = metadata.attributes;
  }
  return { dict: withEntries(dict, entries, newMetadata), changes };
}

/** `module.0.weight` → `0.weight`: undoes what nn.DataParallel and friends add. */
export function stripPrefix(dict: PyDict, prefix: string): RenameResult {
  const bare = prefix.replace(/\.$/, '');
  return renameKeys(
    dict,
    (key) => (key.startsWith(prefix) ? key.slice(prefix.length) : key),
    (path) => {
      if (path === '') return undefined;
      if (path === prefix.replace(/\./g, '')) return '';
      if (path.startsWith(prefix)) return path.slice(prefix.length);
      return path === bare ? '' : undefined;
    },
  );
}

/** `0.weight` → `module.0.weight`: what loading into an nn.DataParallel-wrapped model expects. */
export function addPrefix(dict: PyDict, prefix: string): RenameResult {
  const bare = prefix.replace(/\.$/, '');
  const result = renameKeys(dict, (key) => prefix + key);
  const metadata = metadataOf(dict);
  if (!metadata) return result;
  // the wrapper becomes the root module (`''`, version 1) and the old root its child
  const entries: [PyValue, PyValue][] = [[py.str(''), py.dict([[py.str('version'), py.int(1)]])]];
  for (const [k, v] of metadata.entries) {
    if (k.kind !== 'str') entries.push([k, v]);
    else entries.push([py.str(k.value === '' ? bare : `${prefix}${k.value}`), v]);
  }
  const newMetadata: PyDict = { kind: 'dict', ordered: metadata.ordered, entries };
  return { dict: withEntries(result.dict, result.dict.entries, newMetadata), changes: result.changes };
}

/** A `--map 'REGEX=>REPLACEMENT'` rule. */
export interface RenameRule {
  readonly pattern: RegExp;
  readonly replacement: string;
  readonly text: string;
}

export function parseRule(text: string): RenameRule {
  const at = text.indexOf('=>');
  if (at < 0) throw new ModsurgError(`rename rule '${text}' has no '=>' (write REGEX=>REPLACEMENT)`);
  const source = text.slice(0, at);
  try {
    return { pattern: new RegExp(source), replacement: text.slice(at + 2), text };
  } catch (error) {
    throw new ModsurgError(`rename rule '${text}': invalid regular expression: ${(error as Error).message}`);
  }
}

/** Lines of a `--map-file`: one rule a line; blank lines and `#` comments skipped. */
export function parseRuleFile(text: string): RenameRule[] {
  return text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map(parseRule);
}

/** Applies the rules in order, each to the result of the one before (first match of each replaced). */
export function applyRules(rules: readonly RenameRule[], key: string): string {
  return rules.reduce((name, rule) => name.replace(rule.pattern, rule.replacement), key);
}

/**
 * Renames keys by rules. Module paths in `_metadata` follow the same rules applied to `path.` (so a rule
 * written for `fc.weight` → `head.weight` moves `fc` → `head`).
 */
export function renameByRules(dict: PyDict, rules: readonly RenameRule[]): RenameResult {
  return renameKeys(
    dict,
    (key) => applyRules(rules, key),
    (path) => {
      if (path === '') return undefined;
      const renamed = applyRules(rules, `${path}.`);
      return renamed.endsWith('.') ? renamed.slice(0, -1) : undefined;
    },
  );
}

/**
 * What the keys do share at their start, for a prefix that matched nothing: the first segment every key
 * has (`model.`), else the commonest first segments with their counts.
 */
export function sharedFirstSegments(keys: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const key of keys) {
    const dot = key.indexOf('.');
    if (dot > 0) counts.set(key.slice(0, dot + 1), (counts.get(key.slice(0, dot + 1)) ?? 0) + 1);
  }
  const ranked = [...counts].sort((a, b) => b[1] - a[1]);
  if (ranked.length === 0) return 'the keys have no dotted prefix';
  if (ranked[0]![1] === keys.length) return `every key starts with '${ranked[0]![0]}'`;
  return `the keys start with ${ranked.slice(0, 3).map(([segment, n]) => `'${segment}' (${n})`).join(', ')}${ranked.length > 3 ? ', …' : ''}`;
}
