import { Flags } from '@oclif/core';
import { ModsurgCommand } from '../cli/base-command.js';
import { ModsurgError } from '../cli/errors.js';
import { inputArg, outputFlag } from '../cli/flags.js';
import { readCheckpoint } from '../checkpoint/files.js';
import { readOnnxFile, writeOnnxModel } from '../graph/files.js';
import { elemTypeByName } from '../graph/elem-type.js';
import { tensorTypeOf, type TensorType } from '../graph/graph.js';
import { encodeOnnxModel } from '../graph/model.js';
import { moduleBoundary } from '../graph/module-scopes.js';
import { addInput } from '../graph/surgery/add-input.js';
import { addOutputs } from '../graph/surgery/add-output.js';
import { defaultOpset } from '../graph/surgery/onnx-head.js';
import { parameterSlots } from '../head/params.js';
import { resolveHead } from '../head/resolve.js';
import { headParametersFrom, initSource, weightsSource } from '../head/source.js';
import { parseHeadSpec } from '../head/spec.js';
import { printHead } from '../head/torch-repr.js';
import { openInput, writeOutput } from '../io/files.js';
import { inferOutputTypes } from '../runtime/infer-types.js';
import type { CastTarget } from '../checkpoint/numeric.js';

export default class AddInput extends ModsurgCommand {
  static override summary = 'Feed an extra input into an ONNX model before its head: head(cat(pre(T), NAME), dim=1).';
  static override description = [
    "The seed tutorial's `x = torch.cat((x, add_variable.unsqueeze(1)), 1); x = self.fc(x)`, on the file: a new graph input NAME is reshaped to [batch, -1], concatenated with pre(T) along dim 1, and fed through --head; the result replaces the graph output (keeping its name, or --replace another). T is --at: a tensor name, or a module whose output it is (avgpool, layer4). --shape batch (the default) means a 1-D input of the batch size, unsqueezed like add_variable.unsqueeze(1); other shapes are dims like 'batch,4'. --pre layers (Flatten(1), activations) must have no parameters. The part of the graph that only fed the old output is removed, or kept with --keep-outputs (as <output>_original).",
    '',
    "--head uses replace-head's spec language ('fc=Linear(?,10)': ? is the features of pre(T) plus NAME's); its values come from --weights (keys fc.weight, …) or PyTorch's default initialisation (--seed).",
  ].join('\n');
  static override examples = [
    "<%= config.bin %> add-input resnet.onnx --name add_variable --at avgpool --pre 'Flatten(1)' --head 'fc=Linear(?,10)' --weights fc9.safetensors -o extra_input.onnx",
    "<%= config.bin %> add-input model.onnx --name meta --shape batch,4 --dtype float32 --at /Flatten_output_0 --head 'fc1=Linear(?,64),relu=ReLU(),fc2=Linear(64,2)' --seed 1 -o with_meta.onnx",
  ];
  static override args = { input: inputArg };
  static override flags = {
    output: outputFlag,
    name: Flags.string({ description: 'name of the new graph input', required: true }),
    shape: Flags.string({ description: "its shape: 'batch' (a 1-D input of the batch size) or dims like 'batch,4'", default: 'batch' }),
    dtype: Flags.string({ description: 'its element type', default: 'float32', options: ['float32', 'float16', 'float64'] }),
    at: Flags.string({ description: 'T: a tensor name, or a module whose output T is', required: true }),
    pre: Flags.string({ description: "parameter-free layers applied to T first, e.g. 'Flatten(1)'" }),
    head: Flags.string({ description: "the head on cat(pre(T), NAME), e.g. 'fc=Linear(?,10)'", required: true }),
    weights: Flags.string({ description: 'values for the head (torch or safetensors file)' }),
    seed: Flags.integer({ description: 'seed for the default initialisation' }),
    replace: Flags.string({ description: 'the graph output the head replaces (default: the first)' }),
    'keep-outputs': Flags.boolean({ description: 'keep the old output too, as <output>_original' }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(AddInput);
    const reporter = this.reporter(flags, flags.output);
    const source = openInput(args.input);
    const weights = flags.weights !== undefined ? openInput(flags.weights) : undefined;
    try {
      const model = readOnnxFile(source);
      const graph = model.graph;
      const at = resolveTensor(graph, flags.at);
      // T's shape, as onnxruntime infers it
      const probe = addOutputs(graph, [{ tensor: at }]);
      const tType = (await inferOutputTypes(Buffer.concat(encodeOnnxModel({ ...model, graph: probe.graph })), probe.added, model.folder)).get(at);
      if (!tType?.shape) throw new ModsurgError(`cannot tell the shape of '${at}'`, args.input);
      const batch = tensorTypeOf(graph.inputs[0]?.proto ?? {})?.shape?.[0] ?? tType.shape[0] ?? 'batch';
      const inputType = parseShape(flags.shape, flags.dtype, batch);
      const pre = flags.pre !== undefined ? resolveHead(parseHeadSpec(flags.pre, '--pre'), featuresOf(tType, true, flags.at)) : undefined;
      if (pre && parameterSlots(pre).length > 0) throw new ModsurgError('--pre layers must have no parameters (put Linear layers in --head)');
      const preFeatures = pre ? pre.outFeatures : featuresOf(tType, false, flags.at);
      const extra = (inputType.shape ?? []).slice(1).reduce<number>((n, d) => n * (typeof d === 'number' ? d : NaN), 1);
      if (!Number.isFinite(extra)) throw new ModsurgError('the new input\'s dims after the batch must be numbers');
      const head = resolveHead(parseHeadSpec(flags.head), preFeatures + extra, `cat(pre(T), ${flags.name})`);
      const dtype = (tType.elemType === 10 ? 'float16' : tType.elemType === 11 ? 'float64' : 'float32') as CastTarget;
      const parameterSource = weights ? weightsSource(readCheckpoint(weights).root, weights.name) : initSource(flags.seed);
      const parameters = headParametersFrom(head, dtype, '', parameterSource);
      const output = flags.replace ?? graph.outputs[0]?.proto.name ?? '';
      const edit = addInput(graph, {
        name: flags.name,
        type: inputType,
        at,
        ...(pre ? { pre: { head: pre, parameters: [] } } : {}),
        head,
        parameters,
        output,
        keepOutput: flags['keep-outputs'],
        opset: defaultOpset(model),
      });
      await writeOutput(flags.output, (sink) => writeOnnxModel({ ...model, graph: edit.graph }, sink));
      reporter.info(`new input ${flags.name}: ${flags.dtype} [${(inputType.shape ?? []).join(', ')}], joined to ${at} (${preFeatures} features) → ${preFeatures + extra} features`);
      reporter.info(`head on the joined features, writing ${output}:\n${printHead(head)}`);
      if (edit.keptAs) reporter.info(`the old output is kept as ${edit.keptAs}`);
      reporter.json({ input: args.input, output: flags.output, name: flags.name, shape: inputType.shape, at, features: preFeatures + extra, replaces: output, keptAs: edit.keptAs ?? null });
    } finally {
      source.close();
      weights?.close();
    }
  }
}

/** A tensor name as is, or the one output of a module. */
function resolveTensor(graph: Parameters<typeof moduleBoundary>[0], at: string): string {
  const names = new Set([...graph.nodes.flatMap((n) => n.proto.output ?? []), ...graph.inputs.map((i) => i.proto.name)]);
  if (names.has(at)) return at;
  const { outputs } = moduleBoundary(graph, at);
  if (outputs.length === 1) return outputs[0]!;
  if (outputs.length === 0) throw new ModsurgError(`--at '${at}' is neither a tensor nor a module of the graph`);
  throw new ModsurgError(`module '${at}' has ${outputs.length} outputs (${outputs.join(', ')}); name one with --at TENSOR`);
}

/** Features per batch item of T: its dims after the batch, which must be one dim unless flattened. */
function featuresOf(type: TensorType, flattened: boolean, at: string): number {
  const dims = (type.shape ?? []).slice(1);
  if (!dims.every((d): d is number => typeof d === 'number')) throw new ModsurgError(`'${at}' has dims that are not fixed: [${(type.shape ?? []).join(', ')}]`);
  if (!flattened && dims.length !== 1) throw new ModsurgError(`'${at}' is [${(type.shape ?? []).join(', ')}], not [batch, features]; add --pre 'Flatten(1)'`);
  return dims.reduce((a, b) => a * b, 1);
}

function parseShape(text: string, dtype: string, batch: number | string): TensorType {
  const elemType = elemTypeByName(dtype)!.code;
  const dims = text.split(',').map((d) => d.trim());
  if (dims[0] !== 'batch') throw new ModsurgError(`--shape must start with 'batch' (the new input is per batch item), not '${text}'`);
  const rest = dims.slice(1).map((d) => {
    if (!/^\d+$/.test(d)) throw new ModsurgError(`--shape: '${d}' is not a dimension size`);
    return Number(d);
  });
  return { elemType, shape: [batch, ...rest] };
}
