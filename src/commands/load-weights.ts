import * as Flags from '@oclif/core/flags';
import { ModsurgCommand } from '../cli/base-command.js';
import { ModsurgError, withFile } from '../errors.js';
import { inputArg, outputFlag, fsyncFlag } from '../cli/flags.js';
import { readCheckpoint } from '../checkpoint/files.js';
import { soleStateDict, stateDictTensors, toPlainData } from '../checkpoint/state-dict.js';
import { detectPrefixes } from '../checkpoint/module-tree.js';
import { checkAndWriteEdit, describeData, layoutRequest, onnxOutputFlags } from '../cli/onnx-output.js';
import { ExternalDataFiles } from '../graph/external-data.js';
import { readOnnxFile, type OnnxWriteSummary } from '../graph/files.js';
import { loadWeights } from '../graph/surgery/load-weights.js';
import { openInput } from '../io/files.js';

export default class LoadWeights extends ModsurgCommand {
  static override summary = "Put a checkpoint's weights into an exported ONNX model, following the graph where the names are gone.";
  static override description = [
    "Ships a fine-tuned checkpoint without re-exporting. Each state-dict key goes to the initializer of its name, to the one behind an Identity alias of its name (the classic exporter's shared weights), or to the initializer its module's node reads in that member's place: an exporter that stores a Linear's weight transposed under a name like val_13 (torch 2.x's default) is followed to the MatMul in the Linear's scope (pkg.torch.onnx.name_scopes). Keys the exporter had merged because their values were equal when exported (fresh zero biases, norm weights of ones) get their own initializers back; a Gemm whose zero bias was dropped gets its bias input back. Shapes and dtypes are checked.",
    '',
    'Every checkpoint key must load, else the command fails and says why for each key (no such initializer; BatchNorm folded into a Conv; …); --partial loads what it can and warns about the rest. --strict also fails when an initializer named like a state-dict key gets no value. A model whose BatchNorm the exporter folded into the convolutions is refused, whichever exporter made it: their weights hold folded values. For a model with BatchNorm, export with torch.onnx.export(model, args, path, dynamo=False, do_constant_folding=False), which keeps the BatchNormalization nodes, and load into that.',
  ].join('\n');
  static override examples = [
    '<%= config.bin %> load-weights model.onnx --weights finetuned.pth -o finetuned.onnx',
    '<%= config.bin %> load-weights model.onnx --weights training.ckpt --key state_dict --strict -o model_v2.onnx',
    '<%= config.bin %> load-weights model.onnx --weights backbone_only.safetensors --partial -o model_v2.onnx',
  ];
  static override args = { input: inputArg };
  static override flags = {
    output: outputFlag,
    fsync: fsyncFlag,
    weights: Flags.string({ description: 'checkpoint with the new values (torch or safetensors)', required: true }),
    key: Flags.string({ description: 'the state dict at this dot path of the checkpoint (e.g. model_state_dict)' }),
    partial: Flags.boolean({ description: 'load the keys that have a place and warn about the others, instead of failing' }),
    strict: Flags.boolean({ description: 'also fail when an initializer named like a state-dict key gets no value' }),
    ...onnxOutputFlags,
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(LoadWeights);
    const reporter = this.reporter(flags, flags.output);
    const layout = layoutRequest(flags);
    const modelSource = openInput(args.input);
    const weightsSource = openInput(flags.weights);
    let external: ExternalDataFiles | undefined;
    try {
      const model = readOnnxFile(modelSource);
      external = new ExternalDataFiles(model.folder, modelSource.name);
      const checkpoint = readCheckpoint(weightsSource);
      const tensors = stateDictTensors(soleStateDict(toPlainData(checkpoint.root), flags.key).dict);
      let loaded: ReturnType<typeof loadWeights>;
      try {
        loaded = loadWeights(model.graph, tensors);
      } catch (error) {
        throw withFile(error, args.input);
      }
      const { graph, report } = loaded;
      if (report.unloaded.length > 0) {
        const prefixes = detectPrefixes(report.unloaded.map((u) => u.key));
        const hint = prefixes.length > 0 ? ` (they start with '${prefixes[0]}': try modsurg strip-prefix first)` : '';
        const listed = report.unloaded.slice(0, 6).map((u) => `${u.key}: ${u.reason}`).join('; ');
        const message = `${report.unloaded.length} of ${tensors.length} checkpoint keys cannot be loaded${hint}: ${listed}${report.unloaded.length > 6 ? '; …' : ''}`;
        if (!flags.partial) throw new ModsurgError(`${message} (--partial loads the others)`, flags.weights);
        reporter.warn(message);
      }
      if (report.loaded.length === 0) throw new ModsurgError('no checkpoint key has a place in the model; nothing to load', flags.weights);
      if (flags.strict && report.untouched.length > 0) {
        throw new ModsurgError(`${report.untouched.length} initializers named like state-dict keys get no value from the checkpoint: ${report.untouched.slice(0, 8).join(', ')}${report.untouched.length > 8 ? ', …' : ''}`, flags.weights);
      }
      const followed = report.loaded.filter((l) => l.placement === 'graph');
      reporter.info(
        `${report.loaded.length} of ${tensors.length} checkpoint tensors loaded into ${args.input}${
          followed.length > 0 ? ` (${followed.length} by following the graph, ${followed.filter((l) => l.transposed).length} of them transposed)` : ''
        }`,
      );
      for (const { keys, kind } of report.shared) {
        reporter.info(kind === 'tied' ? `${keys.join(' and ')} are one tensor in the checkpoint (tied): one initializer holds it` : `${keys.join(' and ')} hold equal values: one initializer serves them, as the exporter stored it`);
      }
      const merged = new Map<string, string[]>();
      for (const { key, from } of report.separated) merged.set(from, [...(merged.get(from) ?? []), key]);
      for (const [from, keys] of merged) {
        reporter.info(
          `the exporter had merged ${keys.length} key${keys.length === 1 ? '' : 's'} into ${from}, their values being equal when exported (${keys.slice(0, 4).join(', ')}${keys.length > 4 ? ', …' : ''}): each has its own initializer again`,
        );
      }
      for (const { key, node } of report.restored) reporter.info(`${key}: the exporter had dropped this bias (it was zero); it is ${node}'s bias input again`);
      if (report.skipped.length > 0) reporter.info(`skipped ${report.skipped.length} training-only counters (num_batches_tracked)`);
      if (report.untouched.length > 0) reporter.info(`${report.untouched.length} initializers named like state-dict keys kept their values (no key gave them one)`);
      let written: OnnxWriteSummary;
      try {
        ({ written } = await checkAndWriteEdit(model, { ...model, graph }, layout, external));
      } catch (error) {
        throw withFile(error, args.input);
      }
      const data = describeData(written, model);
      if (data) reporter.info(data);
      reporter.json({ inputs: [args.input, flags.weights], output: flags.output, ...report, dataFile: written.dataFile ?? null });
    } finally {
      external?.close();
      modelSource.close();
      weightsSource.close();
    }
  }
}
