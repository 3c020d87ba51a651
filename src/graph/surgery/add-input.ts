import { ModsurgError } from '../../errors.js';
import { layersOf, type ResolvedHead } from '../../head/layers.js';
import { parameterSlots, type HeadParameter } from '../../head/params.js';
import { resolveHead } from '../../head/resolve.js';
import { headParametersFrom, type ParameterSource } from '../../head/source.js';
import { parseHeadSpec } from '../../head/spec.js';
import { headDtypeOf, headInputFeatures } from './head-input.js';
import { INT64, elemTypeByName } from '../elem-type.js';
import { cleanup, tensorNames, tensorTypeOf, uniqueName, valueInfoProto, type Graph, type GraphNode, type Initializer, type TensorType } from '../graph.js';
import { headNodes } from './head-nodes.js';

export interface AddInputRequest {
  /** The new graph input. */
  readonly name: string;
  /** Its type; the shape's first dim is the batch. */
  readonly type: TensorType;
  /** The tensor the new input joins (T). */
  readonly at: string;
  /** Layers applied to T first (`Flatten(1)`), with their parameters. */
  readonly pre?: { readonly head: ResolvedHead; readonly parameters: readonly HeadParameter[] };
  readonly head: ResolvedHead;
  readonly parameters: readonly HeadParameter[];
  /** The graph output the head's result replaces (keeping its name). */
  readonly output: string;
  /** Keep the old output as well, renamed `<output>_original`. */
  readonly keepOutput: boolean;
  readonly opset: number;
}

/** What `add-input` is asked for, as the user wrote it: specs and shapes still text. */
export interface AddInputOptions {
  readonly name: string;
  /** `batch` or `batch,4`. */
  readonly shape: string;
  readonly dtype: string;
  /** T, already a tensor name, and its type (onnxruntime's, when the graph declares none). */
  readonly at: string;
  readonly atType: TensorType;
  /** Parameter-free layers for T (`Flatten(1)`). */
  readonly pre?: string;
  readonly head: string;
  readonly parameterSource: ParameterSource;
  /** The graph output the head replaces; default the first. */
  readonly replace?: string;
  readonly keepOutput: boolean;
  readonly opset: number;
}

/**
 * Resolves an add-input request against the graph: the new input's type (its batch the model's), the
 * --pre layers and the head sized to T's features plus the new input's, and the head's values.
 */
export function planAddInput(graph: Graph, options: AddInputOptions): { request: AddInputRequest; preFeatures: number; features: number } {
  const batch = tensorTypeOf(graph.inputs[0]?.proto ?? {})?.shape?.[0] ?? options.atType.shape?.[0] ?? 'batch';
  const type = parseShape(options.shape, options.dtype, batch);
  const what = `'${options.at}'`;
  const preSpec = options.pre !== undefined ? parseHeadSpec(options.pre, '--pre') : undefined;
  const flattens = preSpec !== undefined && layersOf(preSpec).some((layer) => layer.kind === 'Flatten');
  const pre = preSpec ? resolveHead(preSpec, headInputFeatures(options.atType, flattens, what, "start --pre with 'Flatten(1)'")) : undefined;
  if (pre && parameterSlots(pre).length > 0) throw new ModsurgError('--pre layers must have no parameters (put Linear layers in --head)');
  const preFeatures = pre ? pre.outFeatures : headInputFeatures(options.atType, false, what, "add --pre 'Flatten(1)'");
  const extra = (type.shape ?? []).slice(1).reduce<number>((n, d) => n * (typeof d === 'number' ? d : NaN), 1);
  if (!Number.isFinite(extra)) throw new ModsurgError("the new input's dims after the batch must be numbers");
  const head = resolveHead(parseHeadSpec(options.head), preFeatures + extra, `cat(pre(T), ${options.name})`);
  const parameters = headParametersFrom(head, headDtypeOf(options.atType, what), '', options.parameterSource);
  const request: AddInputRequest = {
    name: options.name,
    type,
    at: options.at,
    ...(pre ? { pre: { head: pre, parameters: [] } } : {}),
    head,
    parameters,
    output: options.replace ?? graph.outputs[0]?.proto.name ?? '',
    keepOutput: options.keepOutput,
    opset: options.opset,
  };
  return { request, preFeatures, features: preFeatures + extra };
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

/**
 * The PyTorch tutorial's extra input, in ONNX: output = head(cat(pre(T), NAME reshaped to [batch, -1]),
 * dim=1) — what `torch.cat((x, add_variable.unsqueeze(1)), 1)` before the classifier computes, or after the
 * whole network when T is the graph output itself (the tutorial's `Model(net)`). The head's result takes
 * the output's name; the old output becomes internal (or stays, renamed, with `keepOutput`), and the part
 * of the graph that only fed it is removed.
 */
export function addInput(graph: Graph, request: AddInputRequest): { graph: Graph; keptAs?: string } {
  const outputIndex = graph.outputs.findIndex((o) => o.proto.name === request.output);
  if (outputIndex < 0) throw new ModsurgError(`'${request.output}' is not a graph output`);
  if (tensorNames(graph).has(request.name)) throw new ModsurgError(`the name '${request.name}' is already used in the graph`);
  const headDtype = request.parameters[0]?.dtype ?? 'float32';

  // the old output goes (with what only it needed) or stays under another name; when T is the old output
  // itself, it is renamed so that the head's result can take the name
  const others = graph.outputs.filter((_, i) => i !== outputIndex);
  let base: Graph;
  let keptAs: string | undefined;
  let at = request.at;
  if (request.keepOutput || request.at === request.output) {
    const renamed = uniqueName(tensorNames(graph), `${request.output}_original`);
    base = renameTensor(graph, request.output, renamed);
    if (at === request.output) at = renamed;
    if (request.keepOutput) keptAs = renamed;
    else base = { ...base, outputs: others, valueInfo: base.valueInfo.filter((v) => v.proto.name !== renamed) };
  } else {
    // T stays needed while what only fed the old output goes (its names become free for the head)
    base = { ...cleanup({ ...graph, outputs: [...others, { proto: { name: at } }] }), outputs: others };
  }

  const used = tensorNames(base);
  used.add(request.name);
  const nodes: GraphNode[] = [];
  const initializers: Initializer[] = [];
  let features = at;
  if (request.pre) {
    features = uniqueName(used, `${request.name}/pre_output`);
    const pre = headNodes(request.pre.head, request.pre.parameters, { input: at, output: features, at: `${request.name}_pre`, opset: request.opset, dtype: headDtype, used });
    nodes.push(...pre.nodes);
    initializers.push(...pre.initializers);
  }
  // NAME → [batch, -1]: Reshape with 0 copies the batch dim (a [batch] input becomes [batch, 1])
  const shapeName = uniqueName(used, `${request.name}/reshape_shape`);
  initializers.push({ proto: { name: shapeName, dims: [2], data_type: INT64, raw_data: new Uint8Array(new BigInt64Array([0n, -1n]).buffer) } });
  const reshaped = uniqueName(used, `/${request.name}/Reshape_output_0`);
  nodes.push({ proto: { name: uniqueName(used, `/${request.name}/Reshape`), op_type: 'Reshape', input: [request.name, shapeName], output: [reshaped] } });
  const joined = uniqueName(used, `/${request.name}/Concat_output_0`);
  nodes.push({ proto: { name: uniqueName(used, `/${request.name}/Concat`), op_type: 'Concat', input: [features, reshaped], output: [joined], attribute: [{ name: 'axis', type: 2, i: 1 }] } });
  const head = headNodes(request.head, request.parameters, { input: joined, output: request.output, at: '', opset: request.opset, dtype: headDtype, used });
  nodes.push(...head.nodes);
  initializers.push(...head.initializers);

  const elemType = elemTypeByName(headDtype)!.code;
  const batch = request.type.shape?.[0] ?? tensorTypeOf(graph.outputs[outputIndex]!.proto)?.shape?.[0] ?? 'batch';
  const newOutput = { proto: valueInfoProto(request.output, { elemType, shape: [batch, request.head.outFeatures] }) };
  const outputs = [...base.outputs];
  outputs.splice(outputIndex, 0, newOutput);
  return {
    graph: {
      ...base,
      inputs: [...base.inputs, { proto: valueInfoProto(request.name, request.type) }],
      nodes: [...base.nodes, ...nodes],
      initializers: [...base.initializers, ...initializers],
      outputs,
      valueInfo: base.valueInfo.filter((v) => v.proto.name !== request.output),
    },
    ...(keptAs ? { keptAs } : {}),
  };
}

/** The graph with a tensor renamed wherever it is produced, read, or declared. */
function renameTensor(graph: Graph, from: string, to: string): Graph {
  const rename = (names: string[] | undefined): string[] | undefined => names?.map((n) => (n === from ? to : n));
  return {
    ...graph,
    nodes: graph.nodes.map((node) =>
      (node.proto.input ?? []).includes(from) || (node.proto.output ?? []).includes(from)
        ? { proto: { ...node.proto, input: rename(node.proto.input) ?? [], output: rename(node.proto.output) ?? [] } }
        : node,
    ),
    outputs: graph.outputs.map((o) => (o.proto.name === from ? { proto: { ...o.proto, name: to } } : o)),
    valueInfo: graph.valueInfo.map((v) => (v.proto.name === from ? { proto: { ...v.proto, name: to } } : v)),
  };
}
