import { Flags } from '@oclif/core';
import { ModsurgCommand } from '../cli/base-command.js';
import { inputArg } from '../cli/flags.js';
import { renderCheckpointSummary, unsafeGlobalWarnings } from '../cli/render-inspect.js';
import { readCheckpoint } from '../checkpoint/files.js';
import { summarizeCheckpoint } from '../checkpoint/inspect.js';
import { openInput } from '../io/files.js';

export default class Inspect extends ModsurgCommand {
  static override summary = 'Show what a checkpoint holds: its module tree, shapes, dtypes, totals, prefixes and pickle globals.';
  static override description =
    "Like print(net) for files. Module kinds come from the pickle where it names them (whole-model pickles) and are inferred from tensor shapes otherwise. Lists every pickle global the file references and warns loudly about any outside torch's weights_only allowlist — without ever executing one.";
  static override examples = [
    '<%= config.bin %> inspect model.pth',
    '<%= config.bin %> inspect model.pth --depth 1',
    '<%= config.bin %> inspect checkpoint.ckpt --json | jq .totals',
    'cat model.safetensors | <%= config.bin %> inspect -',
  ];
  static override args = { input: inputArg };
  static override flags = {
    depth: Flags.integer({ description: 'show modules down to this depth only', min: 0 }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Inspect);
    const reporter = this.reporter(flags);
    const source = openInput(args.input);
    try {
      const summary = summarizeCheckpoint(readCheckpoint(source));
      reporter.info(renderCheckpointSummary(source.name, source.size, summary, reporter.colour, flags.depth ?? Infinity));
      for (const warning of unsafeGlobalWarnings(summary)) reporter.warn(warning);
      reporter.json({
        file: source.name,
        size: source.size,
        format: summary.format,
        details: summary.details,
        metadata: summary.metadata ?? null,
        modelClass: summary.modelClass ?? null,
        structure: summary.structure,
        tensors: summary.stateDicts.flatMap((sd) => sd.tensors.map((t) => ({ ...t, name: sd.path === '' ? t.name : `${sd.path}.${t.name}`, stateDict: sd.path }))),
        totals: summary.totals,
        stateDicts: summary.stateDicts.map((sd) => ({ path: sd.path, totals: sd.totals, prefixes: sd.prefixes, recovered: sd.recovered, modules: sd.tree })),
        globals: summary.globals,
      });
    } finally {
      source.close();
    }
  }
}
