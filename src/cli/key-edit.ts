import { checkpointFormat, outputFormat } from '../checkpoint/files.js';
import { sharedFirstSegments, type RenameResult } from '../checkpoint/rename.js';
import type { PyDict } from '../checkpoint/pickle/value.js';
import { completeInput } from '../io/files.js';
import { openCheckpointInput } from '../checkpoint/sharded.js';
import { editCheckpointStateDicts, writeCheckpointOutput } from './checkpoint-output.js';
import type { Reporter } from './report.js';

export interface KeyEditRequest {
  input: string;
  flags: { output: string; key?: string | undefined; format?: string | undefined; 'dry-run'?: boolean; 'max-shard-size'?: string | undefined; 'drop-unsafe': boolean };
  /** Past tense for the report: `3 of 62 keys stripped`. */
  verb: string;
  edit: (dict: PyDict) => RenameResult;
  reporter: Reporter;
  /** For strip-prefix and add-prefix: the prefix, warned about when it lacks its dot or matches nothing. */
  prefix?: { value: string; kind: 'strip' | 'add' };
}

/**
 * The shared wiring of strip-prefix, add-prefix and rename: read a checkpoint, rename keys in the
 * selected state dicts, write the result (or, with --dry-run, only show what would change).
 */
export async function runKeyEdit(request: KeyEditRequest): Promise<void> {
  const { flags, reporter } = request;
  const source = openCheckpointInput(request.input, { streaming: true });
  try {
    const keys: string[] = [];
    const edited = editCheckpointStateDicts(source, { key: flags.key, dropUnsafe: flags['drop-unsafe'] }, reporter, (dict) => {
      for (const [k] of dict.entries) if (k.kind === 'str') keys.push(k.value);
      const result = request.edit(dict);
      return { dict: result.dict, result: { keys: dict.entries.length, changes: result.changes } };
    });
    const { checkpoint, root } = edited;
    const changesByPath = edited.results.map(({ path, result }) => ({ path, ...result }));
    const total = changesByPath.reduce((n, c) => n + c.changes.length, 0);
    const prefix = request.prefix;
    if (prefix !== undefined && !prefix.value.endsWith('.') && prefix.value !== '') {
      // `--prefix module` makes `.features.0.weight` (strip) or `modulefeatures.0.weight` (add)
      const hits = prefix.kind === 'strip' ? keys.filter((k) => k.startsWith(`${prefix.value}.`)).length : keys.length;
      if (hits > 0) reporter.warn(`--prefix '${prefix.value}' has no trailing dot, so keys become '${prefix.kind === 'strip' ? keys.find((k) => k.startsWith(`${prefix.value}.`))!.slice(prefix.value.length) : `${prefix.value}${keys[0]}`}'; did you mean --prefix '${prefix.value}.'?`);
    }
    if (total === 0) {
      reporter.warn(prefix?.kind === 'strip' ? `no key starts with '${prefix.value}' (${sharedFirstSegments(keys)}); nothing changed` : 'no key changed');
    }
    const format = checkpointFormat(outputFormat(flags.output, flags.format, checkpoint.format), flags.output);
    if (flags['dry-run']) completeInput(source);
    else await writeCheckpointOutput(flags.output, root, format, { source, checkpoint }, { maxShardSize: flags['max-shard-size'], reporter });
    // said once the output is in place: a write that fails has reported no success
    for (const { path, keys, changes } of changesByPath) {
      reporter.info(`${path === '' ? 'state dict' : path}: ${changes.length} of ${keys} keys ${request.verb}`);
      if (flags['dry-run']) for (const change of changes) reporter.info(`  ${change.from} ${reporter.colour.dim('→')} ${change.to}`);
    }
    reporter.json({
      inputs: [source.name],
      output: flags['dry-run'] ? null : flags.output,
      format,
      stateDicts: changesByPath.map(({ path, keys, changes }) => ({ path, keys, changed: changes.length, changes })),
      dropped: edited.dropped,
    });
  } finally {
    source.close();
  }
}
