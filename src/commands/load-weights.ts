import { Flags } from '@oclif/core';
import { ModsurgCommand } from '../cli/base-command.js';
import { ModsurgError, withFile } from '../cli/errors.js';
import { inputArg, outputFlag } from '../cli/flags.js';
import { readCheckpoint } from '../checkpoint/files.js';
import { soleStateDict, stateDictTensors, toPlainData } from '../checkpoint/state-dict.js';
import { detectPrefixes } from '../checkpoint/module-tree.js';
import { checkAndWriteEdit, describeData, layoutRequest, onnxOutputFlags } from '../cli/onnx-output.js';
import { ExternalDataFiles } from '../graph/external-data.js';
import { readOnnxFile, type OnnxWriteSummary } from '../graph/files.js';
import { loadWeights } from '../graph/surgery/load-weights.js';
import { openInput } from '../io/files.js';

export default class LoadWeights extends ModsurgCommand {
  static override summary = "Put a checkpoint's weights into an ONNX model's initializers, by name.";
  static override description =
    'Ships a fine-tuned checkpoint without re-exporting: each state-dict value replaces the initializer of the same name (following the Identity aliases exporters add for shared weights), with every shape and dtype checked. Reports the keys matched, checkpoint keys with no initializer, and initializers no key named; --strict makes an unmatched checkpoint key an error. Export with do_constant_folding=False (or the dynamo exporter) so initializers keep their state-dict names.';
  static override examples = [
    '<%= config.bin %> load-weights model.onnx --weights finetuned.pth -o finetuned.onnx',
    '<%= config.bin %> load-weights model.onnx --weights training.ckpt --key state_dict --strict -o model_v2.onnx',
  ];
  static override args = { input: inputArg };
  static override flags = {
    output: outputFlag,
    weights: Flags.string({ description: 'checkpoint with the new values (torch or safetensors)', required: true }),
    key: Flags.string({ description: 'the state dict at this dot path of the checkpoint (e.g. model_state_dict)' }),
    strict: Flags.boolean({ description: 'fail if any checkpoint key matches no initializer' }),
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
      reporter.info(`${report.matched.length} of ${tensors.length} checkpoint tensors loaded into ${args.input}`);
      for (const { key, sameAs } of report.tied) reporter.info(`${key} is tied to ${sameAs} (one initializer holds both)`);
      if (report.skipped.length > 0) reporter.info(`skipped ${report.skipped.length} training-only counters (num_batches_tracked)`);
      if (report.unusedKeys.length > 0) {
        const prefixes = detectPrefixes(report.unusedKeys);
        const hint = prefixes.length > 0 ? ` (they start with '${prefixes[0]}': try modsurg strip-prefix first)` : '';
        const message = `${report.unusedKeys.length} checkpoint keys match no initializer${hint}: ${report.unusedKeys.slice(0, 10).join(', ')}${report.unusedKeys.length > 10 ? ', …' : ''}`;
        if (flags.strict) throw new ModsurgError(message, flags.weights);
        reporter.warn(message);
      }
      if (report.untouched.length > 0) reporter.info(`${report.untouched.length} initializers kept their values (no key named them)`);
      if (report.matched.length === 0) throw new ModsurgError('no checkpoint key names an initializer of the model; nothing to load', flags.weights);
      let written: OnnxWriteSummary;
      try {
        ({ written } = await checkAndWriteEdit(model, { ...model, graph }, layout, external));
      } catch (error) {
        throw withFile(error, args.input);
      }
      const data = describeData(written, model);
      if (data) reporter.info(data);
      reporter.json({ input: args.input, weights: flags.weights, output: flags.output, ...report, dataFile: written.dataFile ?? null });
    } finally {
      external?.close();
      modelSource.close();
      weightsSource.close();
    }
  }
}
