import * as Flags from '@oclif/core/flags';
import { ModsurgCommand } from '../cli/base-command.js';
import { inputArg } from '../cli/flags.js';
import { escapeName, ModsurgError, withFile } from '../errors.js';
import { formatBytes, renderCheckpointSummary, unsafeGlobalWarnings } from '../cli/render-inspect.js';
import { Progress } from '../cli/report.js';
import type { Checkpoint } from '../checkpoint/checkpoint.js';
import { summarizeCheckpoint } from '../checkpoint/inspect.js';
import { completeInput } from '../io/files.js';
import { verifyStorages } from '../checkpoint/storage-io.js';
import { isOnnxFile, openCheckpointInput, readCheckpointInput, ShardedSource } from '../checkpoint/sharded.js';
import { scanSource } from '../checkpoint/scan.js';
import { PipeSource } from '../io/pipe-source.js';

export default class Inspect extends ModsurgCommand {
  static override summary =
    'Show what a checkpoint or ONNX model holds: its module tree, shapes, dtypes, totals; prefixes and pickle globals; graph inputs, outputs and ops.';
  static override description =
    "Like print(net) for files. Module kinds come from the pickle where it names them (whole-model pickles) and are inferred from tensor shapes otherwise. Lists every pickle global the file references and warns loudly about any outside torch's weights_only allowlist — without ever executing one. For ONNX models: IR version, opsets, producer, inputs and outputs (symbolic dims by name), node counts by op, initializer totals, external data files, and the module tree recovered from the exporter's scopes.";
  static override examples = [
    '<%= config.bin %> inspect model.pth',
    '<%= config.bin %> inspect model.pth --depth 1',
    '<%= config.bin %> inspect whole_model.pth --repr     # exactly what print(model) prints',
    '<%= config.bin %> inspect model.pth --names          # named_modules(), one a line',
    '<%= config.bin %> inspect checkpoint.ckpt --json | jq .totals',
    '<%= config.bin %> inspect model.onnx --depth 2',
    'cat model.safetensors | <%= config.bin %> inspect -',
  ];
  static override args = { input: inputArg };
  static override flags = {
    depth: Flags.integer({ description: 'show modules down to this depth only', min: 0 }),
    repr: Flags.boolean({ description: 'print only the model as print(model) prints it (a whole-model pickle: torch.save(model))', exclusive: ['names', 'json'] }),
    names: Flags.boolean({ description: "print only the modules' names, one a line, as named_modules() gives them (module.layer1.0.downsample)", exclusive: ['repr', 'json'] }),
    verify: Flags.boolean({ description: "also read every tensor's bytes and check them against the file's CRC-32s (a torch zip's): takes as long as reading the file" }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Inspect);
    const reporter = this.reporter(flags);
    const source = openCheckpointInput(args.input, { streaming: true });
    try {
      if (isOnnxFile(source)) {
        if (flags.verify) throw new ModsurgError('--verify checks the CRC-32s of a checkpoint; an ONNX file has none', source.name);
        const { inspectOnnx } = await import('../cli/inspect-onnx.js');
        return inspectOnnx(source, args.input, reporter, flags.depth ?? Infinity);
      }
      const checkpoint = readCheckpointInput(source);
      const verified = flags.verify ? verifyCheckpoint(checkpoint, source) : undefined;
      completeInput(source);
      const summary = summarizeCheckpoint(checkpoint);
      if (flags.repr) {
        if (summary.modelRepr === undefined) {
          throw new ModsurgError('holds no pickled model, only tensors: print(model) needs the modules torch.save(model) writes (inspect without --repr shows the modules its keys imply)', source.name);
        }
        // a name made of terminal codes is shown as text; nothing else in the text changes
        process.stdout.write(`${summary.modelRepr.split('\n').map(escapeName).join('\n')}\n`);
        return;
      }
      if (flags.names) {
        process.stdout.write(summary.moduleNames.map((name) => `${escapeName(name)}\n`).join(''));
        return;
      }
      // the scan's verdict, where the file can be read again (a pipe has gone by, shards are scanned one by one)
      const scanned = source instanceof PipeSource || source instanceof ShardedSource ? undefined : scanSource(source);
      reporter.info(renderCheckpointSummary(source.name, source.size, summary, reporter.colour, flags.depth ?? Infinity));
      if (verified !== undefined) reporter.info(`verified: ${formatBytes(verified)} of tensor data read, every CRC-32 matches`);
      if (scanned?.verdict === 'clean') reporter.info(`scan: clean (no code runs when it is loaded)`);
      for (const warning of unsafeGlobalWarnings(summary, scanned)) reporter.warn(warning);
      reporter.json({
        inputs: [source.name],
        size: source.size,
        format: summary.format,
        details: summary.details,
        metadata: summary.metadata ?? null,
        modelClass: summary.modelClass ?? null,
        repr: summary.modelRepr ?? null,
        moduleNames: summary.moduleNames,
        structure: summary.structure,
        tensors: summary.stateDicts.flatMap((sd) => sd.tensors.map((t) => ({ ...t, name: sd.path === '' ? t.name : `${sd.path}.${t.name}`, stateDict: sd.path }))),
        totals: summary.totals,
        stateDicts: summary.stateDicts.map((sd) => ({ path: sd.path, totals: sd.totals, prefixes: sd.prefixes, recovered: sd.recovered, modules: sd.tree })),
        globals: summary.globals,
        verifiedBytes: verified ?? null,
        scan: scanned ? { verdict: scanned.verdict, findings: scanned.findings, suspicious: scanned.suspicious } : null,
      });
    } finally {
      source.close();
    }
  }
}

/** Reads every storage of a checkpoint (each checked against its CRC-32), with a progress bar; the bytes read. */
function verifyCheckpoint(checkpoint: Checkpoint, source: { name: string; size: number }): number {
  const progress = new Progress('verifying', source.size);
  try {
    return verifyStorages(checkpoint.root, (n) => progress.update(n));
  } catch (error) {
    throw withFile(error, source.name);
  } finally {
    progress.finish();
  }
}
