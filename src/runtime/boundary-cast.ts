import { dirname } from 'node:path';
import { ModsurgError } from '../errors.js';
import { tensorNames, tensorTypeOf, uniqueName, valueInfoProto, type AttributeProto, type Graph, type GraphNode, type NodeProto, type TypeProto, type ValueInfo, type ValueInfoProto } from '../graph/graph.js';
import { initializerRenamed } from '../graph/initializers.js';
import { encodeOnnxModel, readOnnxModel } from '../graph/model.js';
import { materialize } from '../io/pieces.js';
import { BufferSource } from '../io/byte-source.js';
import { onnxTypeName } from './signature.js';

/**
 * onnxruntime-node has no bfloat16 or float8 tensor types: a session on a model with such a graph input
 * or output cannot even be created ("Unsupported data type: 16"). This makes an in-memory copy of such a
 * model whose boundary is float32: each such input X keeps its name, is declared float32 and goes
 * through Cast(to=its type) before the nodes that read it; each such output Y is written under an
 * internal name and comes out through Cast(to=FLOAT) as a float32 Y. Inside, the graph is untouched.
 * Inputs are rounded by the Cast (round to nearest even, saturating as Cast does); outputs are exact
 * (every bfloat16 and float8 value is a float32). The user's file is only read.
 */

/** TensorProto.DataType codes a Cast converts to and from float32 and onnxruntime-node cannot carry. */
export const CAST_THROUGH_FLOAT32: ReadonlySet<number> = new Set([16, 17, 18, 19, 20]);
const FLOAT = 1;
const ATTRIBUTE_INT = 2;

/** Which graph inputs and outputs were declared bfloat16 or float8 and are fed and fetched as float32. */
export interface BoundaryCast {
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  /** The model's type of each (onnx spelling: bfloat16, float8e4m3fn, …). */
  readonly types: Readonly<Record<string, string>>;
}

export interface BoundaryCastCopy {
  /** The edited model. */
  readonly bytes: Uint8Array;
  readonly cast: BoundaryCast;
  /** Where external data lies: the original model's folder. */
  readonly folder: string;
}

/**
 * The float32-boundary copy of `modelBytes` (read from `modelPath`); undefined when no graph input or
 * output is a bfloat16 or float8 tensor. Refuses, naming them, inputs and outputs that hold such types
 * in a type a Cast cannot convert (sequences, maps, optionals, sparse tensors).
 */
export function boundaryCastCopy(modelBytes: Buffer, modelPath: string): BoundaryCastCopy | undefined {
  const model = readOnnxModel(new BufferSource(modelPath, modelBytes), modelPath);
  const graph = model.graph;
  const initializerNames = new Set(graph.initializers.map((i) => i.proto.name ?? ''));
  // inputs that are also initializers are defaults nobody has to feed: onnxruntime does not list them
  const fedInputs = graph.inputs.filter((i) => !initializerNames.has(i.proto.name ?? ''));

  const uncastable = [
    ...fedInputs.filter((i) => holdsCastTypeInside(i.proto.type)).map((i) => `input '${i.proto.name ?? ''}'`),
    ...graph.outputs.filter((o) => holdsCastTypeInside(o.proto.type)).map((o) => `output '${o.proto.name ?? ''}'`),
  ];
  if (uncastable.length > 0) {
    throw new ModsurgError(
      `${uncastable.join(', ')} ${uncastable.length > 1 ? 'hold' : 'holds'} bfloat16 or float8 inside a sequence, map or optional, which onnxruntime-node cannot feed or fetch and a Cast cannot convert; modsurg runs models with tensor inputs and outputs only`,
      modelPath,
    );
  }

  const castType = (v: ValueInfo): number | undefined => {
    const elemType = tensorTypeOf(v.proto)?.elemType;
    return elemType !== undefined && CAST_THROUGH_FLOAT32.has(elemType) ? elemType : undefined;
  };
  const types: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const v of [...fedInputs, ...graph.outputs]) {
    const code = castType(v);
    if (code !== undefined) types[v.proto.name ?? ''] = onnxTypeName(code);
  }
  const castInputs = unique(fedInputs.filter((v) => castType(v) !== undefined).map((i) => i.proto.name ?? ''));
  const castOutputs = unique(graph.outputs.filter((v) => castType(v) !== undefined).map((o) => o.proto.name ?? ''));
  if (castInputs.length === 0 && castOutputs.length === 0) return undefined;
  const passedThrough = castOutputs.filter((name) => castInputs.includes(name));
  if (passedThrough.length > 0) {
    throw new ModsurgError(
      `output '${passedThrough[0]}' is the ${types[passedThrough[0]!]} input of the same name, passed straight through; modsurg cannot run it through a float32 copy (it feeds ${types[passedThrough[0]!]} inputs as float32 through a Cast)`,
      modelPath,
    );
  }

  const used = tensorNames(graph);
  for (const v of [...graph.outputs, ...graph.valueInfo]) if (v.proto.name) used.add(v.proto.name);
  const renames = new Map<string, string>();
  const before: GraphNode[] = [];
  const after: GraphNode[] = [];
  const internalInfo: ValueInfo[] = [];
  for (const name of castInputs) {
    const type = tensorTypeOf(declared(graph.inputs, name))!;
    const internal = uniqueName(used, `${name}_${types[name]}`);
    renames.set(name, internal);
    before.push({ proto: castNode(uniqueName(used, `${name}_to_${types[name]}`), name, internal, type.elemType) });
    internalInfo.push({ proto: valueInfoProto(internal, type) });
  }
  for (const name of castOutputs) {
    const internal = uniqueName(used, `${name}_${types[name]}`);
    renames.set(name, internal);
    after.push({ proto: castNode(uniqueName(used, `${name}_to_float`), internal, name, FLOAT) });
    internalInfo.push({ proto: valueInfoProto(internal, tensorTypeOf(declared(graph.outputs, name))!) });
  }

  const edited: Graph = {
    ...graph,
    nodes: [...before, ...graph.nodes.map((node) => renameNode(node, renames)), ...after],
    inputs: graph.inputs.map((i) => (castInputs.includes(i.proto.name ?? '') ? { proto: asFloat32(i.proto) } : i)),
    outputs: graph.outputs.map((o) => (castOutputs.includes(o.proto.name ?? '') ? { proto: asFloat32(o.proto) } : o)),
    // such an output may be a constant: its initializer now holds the internal tensor
    initializers: graph.initializers.map((i) => {
      const to = renames.get(i.proto.name ?? '');
      return to === undefined ? i : initializerRenamed(i, to);
    }),
    valueInfo: [...graph.valueInfo.filter((v) => !renames.has(v.proto.name ?? '')), ...internalInfo],
  };
  return {
    bytes: materialize(encodeOnnxModel({ ...model, graph: edited })),
    cast: { inputs: castInputs, outputs: castOutputs, types },
    folder: dirname(modelPath),
  };
}

/** `input 'x', output 'y'`, for messages. */
export function describeCast(cast: BoundaryCast): string {
  return [...cast.inputs.map((name) => `input '${name}'`), ...cast.outputs.map((name) => `output '${name}'`)].join(', ');
}

/** `bfloat16`, `float8e4m3fn and bfloat16`: the types a copy converts. */
export function castTypes(cast: BoundaryCast): string {
  return [...new Set(Object.values(cast.types))].join(' and ');
}

/** The one line that says a model ran through the float32 copy. */
export function boundaryCastNote(model: string, cast: BoundaryCast): string {
  return `note: ${model} has ${castTypes(cast)} inputs/outputs (${describeCast(cast)}); ran a copy with Cast nodes converting through float32`;
}

function unique(names: readonly string[]): string[] {
  return [...new Set(names)];
}

function declared(values: readonly ValueInfo[], name: string): ValueInfoProto {
  return values.find((v) => v.proto.name === name)!.proto;
}

function castNode(name: string, input: string, output: string, to: number): NodeProto {
  const attribute: AttributeProto[] = [{ name: 'to', type: ATTRIBUTE_INT, i: to }];
  return { input: [input], output: [output], name, op_type: 'Cast', attribute };
}

/** The same declaration, dims included, with float32 elements. */
function asFloat32(info: ValueInfoProto): ValueInfoProto {
  const tensor = info.type!.tensor_type!;
  return { ...info, type: { ...info.type, tensor_type: { ...tensor, elem_type: FLOAT } } };
}

/** A bfloat16 or float8 element type somewhere below a type that is not a plain tensor. */
function holdsCastTypeInside(type: TypeProto | undefined): boolean {
  if (type === undefined || type.tensor_type !== undefined) return false;
  const visit = (value: unknown): boolean => {
    if (value === null || typeof value !== 'object') return false;
    const record = value as Record<string, unknown>;
    if (typeof record.elem_type === 'number' && CAST_THROUGH_FLOAT32.has(record.elem_type)) return true;
    return Object.values(record).some(visit);
  };
  return visit(type);
}

/** A node reading and writing the renamed tensors; unchanged nodes keep their bytes. */
function renameNode(node: GraphNode, renames: ReadonlyMap<string, string>): GraphNode {
  const renamed = renameNodeProto(node.proto, renames);
  return renamed === node.proto ? node : { proto: renamed };
}

function renameNodeProto(node: NodeProto, renames: ReadonlyMap<string, string>): NodeProto {
  let changed = false;
  const rename = (name: string): string => {
    const to = renames.get(name);
    if (to === undefined) return name;
    changed = true;
    return to;
  };
  const input = node.input?.map(rename);
  const output = node.output?.map(rename);
  // If/Loop/Scan bodies may read the tensor from the outer scope
  const attribute = node.attribute?.map((a) => {
    if (a.g === undefined && !(Array.isArray(a.graphs) && a.graphs.length > 0)) return a;
    const g = a.g === undefined ? undefined : renameSubgraph(a.g as SubgraphProto, renames);
    const graphs = (a.graphs as SubgraphProto[] | undefined)?.map((sub) => renameSubgraph(sub, renames));
    if (g === a.g && (graphs ?? []).every((sub, i) => sub === (a.graphs as SubgraphProto[])[i])) return a;
    changed = true;
    return { ...a, ...(g !== undefined ? { g } : {}), ...(graphs !== undefined ? { graphs } : {}) };
  });
  if (!changed) return node;
  return { ...node, ...(input ? { input } : {}), ...(output ? { output } : {}), ...(attribute ? { attribute } : {}) };
}

interface SubgraphProto {
  node?: NodeProto[];
  input?: ValueInfoProto[];
  output?: ValueInfoProto[];
  initializer?: { name?: string }[];
  [other: string]: unknown;
}

/** Renames outer-scope references in a subgraph, except names the subgraph defines itself (they shadow). */
function renameSubgraph(graph: SubgraphProto, renames: ReadonlyMap<string, string>): SubgraphProto {
  const shadowed = new Set<string>([
    ...(graph.input ?? []).map((i) => i.name ?? ''),
    ...(graph.initializer ?? []).map((i) => i.name ?? ''),
    ...(graph.node ?? []).flatMap((n) => n.output ?? []),
  ]);
  const inner = new Map([...renames].filter(([name]) => !shadowed.has(name)));
  if (inner.size === 0) return graph;
  let changed = false;
  const node = graph.node?.map((n) => {
    const renamed = renameNodeProto(n, inner);
    if (renamed !== n) changed = true;
    return renamed;
  });
  // a body output may be the outer tensor itself
  const output = graph.output?.map((o) => {
    const to = inner.get(o.name ?? '');
    if (to === undefined) return o;
    changed = true;
    return { ...o, name: to };
  });
  return changed ? { ...graph, ...(node ? { node } : {}), ...(output ? { output } : {}) } : graph;
}
