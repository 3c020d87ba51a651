import { describe, expect, it } from 'vitest';
import { py, type PyDict, type PyValue } from '../../src/checkpoint/pickle/value.js';
import { addPrefix, applyRules, parseRule, renameByRules, stripPrefix } from '../../src/checkpoint/rename.js';
import { metadataOf } from '../../src/checkpoint/state-dict.js';

const version = (n: number): PyValue => py.dict([[py.str('version'), py.int(n)]]);

/** A DataParallel state dict as torch saves it: keys and _metadata with `module.`. */
function dpStateDict(): PyDict {
  const tensor = py.int(0); // renaming never looks at values
  const dict = py.dict(
    ['module.0.weight', 'module.0.bias', 'module.1.running_mean'].map((k) => [py.str(k), tensor] as [PyValue, PyValue]),
    true,
  );
  dict.attributes = [['_metadata', py.dict([[py.str(''), version(1)], [py.str('module'), version(1)], [py.str('module.0'), version(1)], [py.str('module.1'), version(2)]], true)]];
  return dict;
}

const keys = (dict: PyDict): string[] => dict.entries.map(([k]) => (k as { value: string }).value);
const metaKeys = (dict: PyDict): string[] => keys(metadataOf(dict)!);

describe('prefix edits', () => {
  it('strips like consume_prefix_in_state_dict_if_present, _metadata included', () => {
    const { dict, changes } = stripPrefix(dpStateDict(), 'module.');
    expect(keys(dict)).toEqual(['0.weight', '0.bias', '1.running_mean']);
    expect(changes).toHaveLength(3);
    // torch: '' is skipped, 'module' → '' (overwriting the wrapper's entry in place), 'module.0' → '0'
    expect(metaKeys(dict)).toEqual(['', '0', '1']);
    expect(metadataOf(dict)!.entries[2]![1]).toEqual(version(2));
  });

  it('add-prefix is the inverse of strip-prefix', () => {
    const stripped = stripPrefix(dpStateDict(), 'module.').dict;
    const added = addPrefix(stripped, 'module.').dict;
    expect(keys(added)).toEqual(keys(dpStateDict()));
    expect(metaKeys(added)).toEqual(metaKeys(dpStateDict()));
  });

  it('leaves keys without the prefix alone and reports no change', () => {
    const { changes } = stripPrefix(dpStateDict(), '_orig_mod.');
    expect(changes).toEqual([]);
  });
});

describe('rename rules', () => {
  it('applies rules in order with $1 groups', () => {
    const rules = [parseRule('^module\\.(.*)=>$1'), parseRule('^0\\.=>encoder.')];
    expect(applyRules(rules, 'module.0.weight')).toBe('encoder.weight');
  });

  it('moves _metadata module paths with the keys', () => {
    const { dict } = renameByRules(dpStateDict(), [parseRule('^module\\.1\\.=>module.head.')]);
    expect(keys(dict)).toContain('module.head.running_mean');
    expect(metaKeys(dict)).toEqual(['', 'module', 'module.0', 'module.head']);
  });

  it('refuses two keys mapped to one name', () => {
    expect(() => renameByRules(dpStateDict(), [parseRule('\\.(weight|bias)$=>.param')])).toThrow(/would both be renamed to 'module.0.param'/);
  });

  it('says what is wrong with a malformed rule', () => {
    expect(() => parseRule('no arrow')).toThrow(/no '=>'/);
    expect(() => parseRule('(unclosed=>x')).toThrow(/invalid regular expression/);
  });
});
