import * as Args from '@oclif/core/args';
import * as Flags from '@oclif/core/flags';
import { ModsurgCommand } from '../cli/base-command.js';
import { ExitCode, ModsurgError, ExitWith } from '../errors.js';
import { renderDiff } from '../cli/render-diff.js';
import { diffCheckpoints } from '../checkpoint/diff.js';
import { openCheckpointInput, readCheckpointInput } from '../checkpoint/sharded.js';
import { getPath, resolvePath, toPlainData } from '../checkpoint/state-dict.js';

export default class Diff extends ModsurgCommand {
  static override summary = 'Compare two checkpoints key by key: missing keys, dtype/shape changes, value differences.';
  static override description =
    'Exit code 0 when the two files hold the same keys with the same dtypes, shapes and values (within --atol), 1 when they differ, 2 on error. Works across formats (a .pth against a .safetensors). A tensor cast to another floating dtype (fp32 → fp16) is listed with how far its values moved; with --atol it counts as equal when they stay within it. --ignore-prefix compares keys without a wrapper\'s prefix (module.).';
  static override examples = [
    '<%= config.bin %> diff model.pth model.safetensors',
    '<%= config.bin %> diff dp.pth model.pth --json',
    '<%= config.bin %> diff fp32.pth roundtrip.pth --atol 1e-3',
    '<%= config.bin %> diff model.pth model_fp16.pth --atol 1e-3',
    '<%= config.bin %> diff dp.pth model.pth --ignore-prefix module.',
  ];
  static override args = {
    a: Args.string({ description: 'first checkpoint', required: true }),
    b: Args.string({ description: 'second checkpoint', required: true }),
  };
  static override flags = {
    atol: Flags.string({ description: 'largest absolute difference still counted as equal (default 0); also across floating dtypes' }),
    'ignore-prefix': Flags.string({ description: 'compare keys without this prefix, on both sides (repeatable)', multiple: true }),
    key: Flags.string({ description: 'compare only the object at this dot path in both files' }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Diff);
    const reporter = this.reporter(flags);
    const atol = Number(flags.atol ?? 0);
    if (!(atol >= 0)) throw new ModsurgError(`--atol must be a non-negative number, not '${flags.atol}'`);
    const sourceA = openCheckpointInput(args.a, { streaming: false });
    const sourceB = args.b === args.a ? sourceA : openCheckpointInput(args.b, { streaming: false });
    try {
      const pick = (root: ReturnType<typeof toPlainData>) => (flags.key === undefined ? root : getPath(root, resolvePath(root, flags.key)));
      const a = pick(toPlainData(readCheckpointInput(sourceA).root));
      const b = pick(toPlainData(readCheckpointInput(sourceB).root));
      const report = diffCheckpoints(a, b, { atol, acrossFloatDtypes: flags.atol !== undefined, ignorePrefixes: flags['ignore-prefix'] ?? [] });
      reporter.info(renderDiff(report, args.a, args.b, reporter.colour));
      reporter.json({ inputs: [args.a, args.b], ok: report.differences.length === 0, atol, ...report });
      if (report.differences.length > 0) throw new ExitWith(ExitCode.different);
    } finally {
      sourceA.close();
      sourceB.close();
    }
  }
}
