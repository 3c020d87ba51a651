import * as Flags from '@oclif/core/flags';
import { ModsurgCommand } from '../cli/base-command.js';
import { ModsurgError, withFile } from '../errors.js';
import { plainData, writeCheckpointOutput } from '../cli/checkpoint-output.js';
import { dropUnsafeFlag, formatFlag, inputArg, outputFlag, fsyncFlag, maxShardSizeFlag } from '../cli/flags.js';
import { formatBytes } from '../cli/render-inspect.js';
import type { Reporter } from '../cli/report.js';
import { castFloatingTensors } from '../checkpoint/cast.js';
import { checkpointFormat, outputFormat } from '../checkpoint/files.js';
import type { CastTarget } from '../checkpoint/numeric.js';
import type { PyValue } from '../checkpoint/pickle/value.js';
import { getPath, isModuleObject, moduleClassName, resolvePath } from '../checkpoint/state-dict.js';
import { DEFAULT_SIZE_THRESHOLD, ExternalDataFiles } from '../graph/external-data.js';
import type { OnnxWriteSummary } from '../graph/files.js';
import { initializersAsStateDict } from '../graph/initializers.js';
import { readOnnxModel, type OnnxModel } from '../graph/model.js';
import type { ByteSource } from '../io/byte-source.js';
import { STDIO } from '../io/files.js';
import { ModelLoadError, onnxruntimeOutputTypes } from '../runtime/check-model.js';
import { layoutRequest, onnxOutputFlags, writeOnnxWithProgress, type OnnxOutputFlags } from '../cli/onnx-output.js';
import { isOnnxFile, openCheckpointInput, readCheckpointInput } from '../checkpoint/sharded.js';

const onnxFlags = ['external-data', 'inline', 'data-file', 'size-threshold'] as const;

export default class Convert extends ModsurgCommand {
  static override summary =
    'Convert a checkpoint between torch zip, torch legacy and safetensors; extract a sub-object; cast dtypes. ONNX models: initializers to a state dict, external data in or out.';
  static override description =
    'The output format follows the extension (.pth .pt .bin .ckpt → torch zip, .safetensors) or --format. Whole-model pickles are written as their state dict (plain data, loadable with weights_only=True). --key writes only that part of the file (e.g. the model out of a training checkpoint). --dtype casts every floating-point tensor, rounding to nearest even like torch.\n\n' +
    "ONNX input: -o weights.safetensors|.pth writes the initializers as a state dict (graph order). -o OUT.onnx copies the model; --external-data moves every initializer of at least --size-threshold bytes into one data file beside OUT (OUT's file name + .data, or --data-file), tensors over 1 MiB at 64 KiB-aligned offsets as torch.onnx writes them; --inline moves external data back into the model (up to protobuf's 2 GiB limit). A model that already has external data gets its data file rewritten beside OUT. Only initializers change; every other byte is kept.";
  static override examples = [
    '<%= config.bin %> convert model.pth -o model.safetensors',
    '<%= config.bin %> convert model.safetensors -o model.pth',
    '<%= config.bin %> convert training.pth --key model_state_dict -o weights.pth',
    '<%= config.bin %> convert model.pth --dtype float16 -o model_fp16.safetensors',
    '<%= config.bin %> convert old.pth --format torch-legacy -o legacy.pth',
    '<%= config.bin %> convert model.onnx -o weights.safetensors',
    '<%= config.bin %> convert model.onnx --external-data -o big/model.onnx',
    '<%= config.bin %> convert big/model.onnx --inline -o model.onnx',
  ];
  static override args = { input: inputArg };
  static override flags = {
    output: outputFlag,
    fsync: fsyncFlag,
    'max-shard-size': maxShardSizeFlag,
    format: formatFlag,
    key: Flags.string({ description: 'write only the object at this dot path (e.g. model_state_dict)' }),
    'drop-unsafe': dropUnsafeFlag,
    dtype: Flags.string({ description: 'cast floating-point tensors to this dtype', options: ['float16', 'bfloat16', 'float32', 'float64'] }),
    ...onnxOutputFlags,
    check: Flags.boolean({
      description: 'ONNX to ONNX: load the model in onnxruntime (its graph, without weights) before writing it, and refuse one it cannot load; --no-check writes it anyway (custom operators onnxruntime lacks)',
      default: true,
      allowNo: true,
    }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Convert);
    const reporter = this.reporter(flags, flags.output);
    const source = openCheckpointInput(args.input, { streaming: true });
    try {
      if (isOnnxFile(source)) return await this.convertOnnx(source, args.input, flags, reporter);
      const used = onnxFlags.filter((f) => flags[f] !== undefined && flags[f] !== false);
      if (used.length > 0) throw new ModsurgError(`--${used[0]} applies to ONNX models only`, source.name);
      const checkpoint = readCheckpointInput(source);
      if (isModuleObject(checkpoint.root)) {
        reporter.info(`${source.name}: whole-model pickle (${moduleClassName(checkpoint.root)}); writing its state dict`);
      }
      const plain = plainData(checkpoint.root, flags['drop-unsafe'], source.name, reporter);
      let root = plain.root;
      if (flags.key !== undefined) root = getPath(root, resolvePath(root, flags.key));
      let cast = 0;
      if (flags.dtype !== undefined) ({ root, cast } = castFloatingTensors(root, flags.dtype as CastTarget));
      const format = checkpointFormat(outputFormat(flags.output, flags.format, checkpoint.format), flags.output);
      await writeCheckpointOutput(flags.output, root, format, { source, checkpoint }, { maxShardSize: flags['max-shard-size'], reporter });
      reporter.info(`${source.name} (${checkpoint.format}) → ${flags.output} (${format})${flags.dtype ? `, ${cast} tensors cast to ${flags.dtype}` : ''}`);
      reporter.json({ inputs: [source.name], inputFormat: checkpoint.format, output: flags.output, format, key: flags.key ?? null, cast, dropped: plain.dropped });
    } finally {
      source.close();
    }
  }

  private async convertOnnx(source: ByteSource, input: string, flags: OnnxConvertFlags, reporter: Reporter): Promise<void> {
    let model: OnnxModel;
    try {
      model = readOnnxModel(source, input === STDIO ? undefined : input);
    } catch (error) {
      throw withFile(error, source.name);
    }
    if (flags.key !== undefined) throw new ModsurgError('--key applies to checkpoints; an ONNX model has one set of initializers', source.name);
    const external = new ExternalDataFiles(model.folder, source.name);
    try {
      const format = outputFormat(flags.output, flags.format, 'onnx');
      if (format === 'onnx') return await this.writeOnnx(model, source.name, flags, external, reporter);
      const used = onnxFlags.filter((f) => flags[f] !== undefined && flags[f] !== false);
      if (used.length > 0) throw new ModsurgError(`--${used[0]} applies to ONNX output only`, flags.output);
      let root: PyValue;
      try {
        root = initializersAsStateDict(model.graph.initializers, { external: external.opener });
      } catch (error) {
        throw withFile(error, source.name);
      }
      let cast = 0;
      if (flags.dtype !== undefined) ({ root, cast } = castFloatingTensors(root, flags.dtype as CastTarget));
      await writeCheckpointOutput(flags.output, root, format, { source });
      const count = model.graph.initializers.length;
      reporter.info(`${source.name} (onnx) → ${flags.output} (${format}): ${count} initializers as a state dict${flags.dtype ? `, ${cast} cast to ${flags.dtype}` : ''}`);
      reporter.json({ inputs: [source.name], inputFormat: 'onnx', output: flags.output, format, tensors: count, cast });
    } finally {
      external.close();
    }
  }

  private async writeOnnx(model: OnnxModel, name: string, flags: OnnxConvertFlags, external: ExternalDataFiles, reporter: Reporter): Promise<void> {
    const output = flags.output;
    if (flags.dtype !== undefined) throw new ModsurgError('--dtype cannot change an ONNX model (its graph would need casts too); convert its initializers to a checkpoint instead', output);
    const layout = layoutRequest(flags);
    if (flags.check) await refuseUnloadable(model, name, reporter);
    let written: OnnxWriteSummary;
    try {
      written = await writeOnnxWithProgress(model, model, layout, 'copy', external);
    } catch (error) {
      throw withFile(error, name);
    }
    const what = [
      written.dataFile === undefined ? '' : `${written.external} initializers (${formatBytes(written.dataBytes)}) in ${written.dataFile}`,
      written.inlined === 0 ? '' : `${written.inlined} initializers (${formatBytes(written.inlinedBytes)}) moved into the model`,
    ].filter((w) => w !== '');
    if (flags['external-data'] && written.dataFile === undefined) what.push(`no initializer has ${flags['size-threshold'] ?? DEFAULT_SIZE_THRESHOLD} bytes or more; none moved`);
    if (what.length === 0) what.push('copied');
    reporter.info(`${name} (onnx) → ${output} (onnx): ${what.join(', ')}`);
    reporter.json({
      inputs: [name],
      inputFormat: 'onnx',
      output,
      format: 'onnx',
      dataFile: written.dataFile ?? null,
      external: written.external,
      inlined: written.inlined,
      dataBytes: written.dataBytes,
    });
  }
}

/**
 * A model onnxruntime cannot load (a dangling input, an unknown operator or attribute) is not copied on
 * as if it were fine. One newer than this onnxruntime knows (its IR version or opset) cannot be judged
 * here: it is copied, with a warning saying it was not checked.
 */
async function refuseUnloadable(model: OnnxModel, name: string, reporter: Reporter): Promise<void> {
  try {
    await onnxruntimeOutputTypes(model);
  } catch (error) {
    if (!(error instanceof ModelLoadError)) throw withFile(error, name);
    const newer = /Unsupported model IR version: (\d+)|opset (\d+) is under development|ONNX Runtime only \*guarantees\* support for models stamped with official released onnx opset versions|is till opset \d+/.exec(error.message);
    if (newer) {
      reporter.warn(`${name}: this onnxruntime cannot load ${newer[1] !== undefined ? `IR version ${newer[1]}` : 'its opset'} models, so the copy was not checked by loading it`);
      return;
    }
    throw new ModsurgError(`${error.message}, so nothing was written (--no-check writes it anyway)`, name);
  }
}

interface OnnxConvertFlags extends OnnxOutputFlags {
  check: boolean;
  format?: string | undefined;
  key?: string | undefined;
  dtype?: string | undefined;
}
