import { dirname, join, resolve } from 'node:path';
import { Flags } from '@oclif/core';
import { ModsurgCommand } from '../cli/base-command.js';
import { ModsurgError, withFile } from '../cli/errors.js';
import { formatFlag, inputArg, outputFlag } from '../cli/flags.js';
import { formatBytes } from '../cli/render-inspect.js';
import { Progress, type Reporter } from '../cli/report.js';
import { castFloatingTensors } from '../checkpoint/cast.js';
import { checkpointFormat, outputFormat, readCheckpoint, writeCheckpoint } from '../checkpoint/files.js';
import type { CastTarget } from '../checkpoint/numeric.js';
import { py, type PyValue } from '../checkpoint/pickle/value.js';
import { sniff } from '../checkpoint/sniff.js';
import { getPath, isModuleObject, moduleClassName, resolvePath, toPlainData } from '../checkpoint/state-dict.js';
import {
  checkModelSize,
  DEFAULT_SIZE_THRESHOLD,
  ExternalDataFiles,
  hasExternalData,
  planDataLayout,
  PROTOBUF_LIMIT,
  requestedLayout,
  writeModelWithData,
  type LayoutPlan,
} from '../graph/external-data.js';
import { initializerTensors } from '../graph/initializers.js';
import { encodeOnnxModel, readOnnxModel, type OnnxModel } from '../graph/model.js';
import type { ByteSource } from '../io/byte-source.js';
import { openInput, STDIO, writeOutput } from '../io/files.js';

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
    format: formatFlag,
    key: Flags.string({ description: 'write only the object at this dot path (e.g. model_state_dict)' }),
    dtype: Flags.string({ description: 'cast floating-point tensors to this dtype', options: ['float16', 'bfloat16', 'float32', 'float64'] }),
    'external-data': Flags.boolean({ description: 'ONNX: store initializers of at least --size-threshold bytes in a data file beside the output' }),
    inline: Flags.boolean({ description: 'ONNX: store every initializer inside the model (refused past 2 GiB)' }),
    'data-file': Flags.string({ description: "ONNX: the data file's name, relative to the output's folder (default: OUTPUT's name + .data)" }),
    'size-threshold': Flags.integer({
      description: `ONNX: with --external-data, the smallest initializer (bytes) to move out (default ${DEFAULT_SIZE_THRESHOLD}, as onnx)`,
      min: 0,
    }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Convert);
    const reporter = this.reporter(flags, flags.output);
    const source = openInput(args.input);
    try {
      if (sniff(source).kind === 'onnx') return await this.convertOnnx(source, args.input, flags, reporter);
      const used = onnxFlags.filter((f) => flags[f] !== undefined && flags[f] !== false);
      if (used.length > 0) throw new ModsurgError(`--${used[0]} applies to ONNX models only`, source.name);
      const checkpoint = readCheckpoint(source);
      if (isModuleObject(checkpoint.root)) {
        reporter.info(`${source.name}: whole-model pickle (${moduleClassName(checkpoint.root)}); writing its state dict`);
      }
      let root = toPlainData(checkpoint.root);
      if (flags.key !== undefined) root = getPath(root, resolvePath(root, flags.key));
      let cast = 0;
      if (flags.dtype !== undefined) ({ root, cast } = castFloatingTensors(root, flags.dtype as CastTarget));
      const format = checkpointFormat(outputFormat(flags.output, flags.format, checkpoint.format), flags.output);
      const progress = new Progress('writing', source.size);
      await writeOutput(flags.output, (sink) =>
        writeCheckpoint(root, format, sink, { ...(checkpoint.metadata ? { metadata: checkpoint.metadata } : {}), onProgress: (n) => progress.update(n), origin: source.name }),
      );
      progress.finish();
      reporter.info(`${source.name} (${checkpoint.format}) → ${flags.output} (${format})${flags.dtype ? `, ${cast} tensors cast to ${flags.dtype}` : ''}`);
      reporter.json({ input: source.name, inputFormat: checkpoint.format, output: flags.output, format, key: flags.key ?? null, cast });
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
        const tensors = initializerTensors(model.graph.initializers, { external: external.opener });
        if (tensors.length === 0) throw new ModsurgError('has no initializers to write as a state dict');
        root = py.dict(tensors.map(([name, tensor]): [PyValue, PyValue] => [py.str(name), { kind: 'tensor', tensor }]), true);
      } catch (error) {
        throw withFile(error, source.name);
      }
      let cast = 0;
      if (flags.dtype !== undefined) ({ root, cast } = castFloatingTensors(root, flags.dtype as CastTarget));
      const progress = new Progress('writing', source.size);
      await writeOutput(flags.output, (sink) => writeCheckpoint(root, format, sink, { onProgress: (n) => progress.update(n), origin: source.name }));
      progress.finish();
      const count = model.graph.initializers.length;
      reporter.info(`${source.name} (onnx) → ${flags.output} (${format}): ${count} initializers as a state dict${flags.dtype ? `, ${cast} cast to ${flags.dtype}` : ''}`);
      reporter.json({ input: source.name, inputFormat: 'onnx', output: flags.output, format, tensors: count, cast });
    } finally {
      external.close();
    }
  }

  private async writeOnnx(model: OnnxModel, name: string, flags: OnnxConvertFlags, external: ExternalDataFiles, reporter: Reporter): Promise<void> {
    const output = flags.output;
    if (flags.dtype !== undefined) throw new ModsurgError('--dtype cannot change an ONNX model (its graph would need casts too); convert its initializers to a checkpoint instead', output);
    const layout = requestedLayout(
      { output, inline: flags.inline, externalData: flags['external-data'], dataFile: flags['data-file'], sizeThreshold: flags['size-threshold'] },
      hasExternalData(model.graph.initializers),
    );

    if (layout === undefined) {
      // nothing to move: the model is copied byte for byte
      await writeOutput(output, (sink) => encodeOnnxModel(model).forEach((chunk) => sink.write(chunk)));
      reporter.info(`${name} (onnx) → ${output} (onnx), copied`);
      reporter.json({ input: name, inputFormat: 'onnx', output, format: 'onnx', dataFile: null, external: 0, inlined: 0, dataBytes: 0 });
      return;
    }
    const size = encodeOnnxModel(model).reduce((n, c) => n + c.length, 0);
    let plan: LayoutPlan;
    try {
      plan = planDataLayout(model.graph.initializers, layout, { external: external.opener, inlineBudget: PROTOBUF_LIMIT - size });
    } catch (error) {
      throw withFile(error, name);
    }
    const chunks = encodeOnnxModel({ ...model, graph: { ...model.graph, initializers: plan.initializers } });
    checkModelSize(chunks, output);
    const dataFile = plan.pieces.length > 0 && layout.kind !== 'inline' ? layout.location : undefined;
    if (dataFile === undefined) {
      await writeOutput(output, (sink) => chunks.forEach((chunk) => sink.write(chunk)));
    } else {
      const dataPath = join(dirname(output), dataFile);
      if (resolve(dataPath) === resolve(output)) throw new ModsurgError('the data file cannot be the model itself', output);
      const progress = new Progress('writing', plan.dataSize);
      await writeModelWithData(output, chunks, dataPath, plan.pieces, (n) => progress.update(n));
      progress.finish();
    }
    const what = [
      dataFile === undefined ? '' : `${plan.external} initializers (${formatBytes(plan.pieces.reduce((n, p) => n + p.bytes.length, 0))}) in ${dataFile}`,
      plan.inlined === 0 ? '' : `${plan.inlined} initializers (${formatBytes(plan.inlinedBytes)}) moved into the model`,
    ].filter((w) => w !== '');
    if (layout.kind === 'external' && plan.pieces.length === 0) what.push(`no initializer has ${layout.threshold} bytes or more; none moved`);
    reporter.info(`${name} (onnx) → ${output} (onnx)${what.length > 0 ? `: ${what.join(', ')}` : ''}`);
    reporter.json({
      input: name,
      inputFormat: 'onnx',
      output,
      format: 'onnx',
      dataFile: dataFile ?? null,
      external: dataFile === undefined ? 0 : plan.external,
      inlined: plan.inlined,
      dataBytes: dataFile === undefined ? 0 : plan.dataSize,
    });
  }
}

interface OnnxConvertFlags {
  output: string;
  format?: string | undefined;
  key?: string | undefined;
  dtype?: string | undefined;
  'external-data': boolean;
  inline: boolean;
  'data-file'?: string | undefined;
  'size-threshold'?: number | undefined;
}
