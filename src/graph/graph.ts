import { elemTypeInfo } from './elem-type.js';
import type { Piece } from '../io/pieces.js';
import type { LazyField, WireField } from './wire.js';

/** Decoded ONNX messages, as plain objects (protobufjs `toObject`, int64 as numbers, defaults omitted). */
export interface StringEntry {
  key?: string;
  value?: string;
}
export interface AttributeProto {
  name?: string;
  type?: number;
  f?: number;
  i?: number;
  s?: Uint8Array;
  t?: TensorProto;
  /** A subgraph (If/Loop/Scan bodies), decoded. */
  g?: { node?: NodeProto[]; initializer?: TensorProto[]; [other: string]: unknown };
  floats?: number[];
  ints?: number[];
  strings?: Uint8Array[];
  [other: string]: unknown;
}
export interface NodeProto {
  input?: string[];
  output?: string[];
  name?: string;
  op_type?: string;
  domain?: string;
  attribute?: AttributeProto[];
  doc_string?: string;
  metadata_props?: StringEntry[];
  [other: string]: unknown;
}
export interface DimensionProto {
  dim_value?: number;
  dim_param?: string;
  denotation?: string;
}
export interface TypeProto {
  tensor_type?: { elem_type?: number; shape?: { dim?: DimensionProto[] } };
  [other: string]: unknown;
}
export interface ValueInfoProto {
  name?: string;
  type?: TypeProto;
  doc_string?: string;
  metadata_props?: StringEntry[];
}
export interface TensorProto {
  dims?: number[];
  data_type?: number;
  name?: string;
  raw_data?: Uint8Array;
  float_data?: number[];
  int32_data?: number[];
  int64_data?: number[];
  double_data?: number[];
  uint64_data?: number[];
  external_data?: StringEntry[];
  data_location?: number;
  doc_string?: string;
  [other: string]: unknown;
}

/**
 * A graph item: the decoded message, and the bytes it was read from while it is unchanged (the whole
 * field, tag included; pieces, some of them ranges of the file). Edits make new items without `raw`;
 * writers copy `raw` and encode the rest.
 */
export interface Item<T> {
  readonly proto: T;
  readonly raw?: readonly Piece[];
}
export type GraphNode = Item<NodeProto>;
export type ValueInfo = Item<ValueInfoProto>;
/**
 * An initializer. A large one read from a file keeps its TensorProto's fields as read, its raw_data a
 * range of the file (`tensorFields`); its `proto.raw_data` reads that range only if something asks.
 */
export interface Initializer extends Item<TensorProto> {
  readonly tensorFields?: readonly LazyField[];
}

/**
 * The main graph of a model, in the spirit of onnx-graphsurgeon: nodes connected by tensor names,
 * graph inputs and outputs, initializers (constants). Edits are pure functions returning a new Graph.
 */
export interface Graph {
  readonly name: string;
  readonly nodes: readonly GraphNode[];
  readonly inputs: readonly ValueInfo[];
  readonly outputs: readonly ValueInfo[];
  readonly valueInfo: readonly ValueInfo[];
  readonly initializers: readonly Initializer[];
  /**
   * The graph's fields as read, for their order and for the fields no edit touches. The list fields
   * (nodes, initializers, inputs, outputs, value_info) are only placeholders here: their items are in the lists.
   */
  readonly fields: readonly WireField[];
}

/** A tensor's declared type: element type and dims (numbers, symbolic names, or unknown). */
export interface TensorType {
  readonly elemType: number;
  readonly shape?: readonly (number | string | undefined)[];
}

export function tensorTypeOf(info: ValueInfoProto): TensorType | undefined {
  const tensor = info.type?.tensor_type;
  if (tensor?.elem_type === undefined) return undefined;
  const dims = tensor.shape?.dim?.map((d) => d.dim_value ?? d.dim_param ?? undefined);
  return dims === undefined ? { elemType: tensor.elem_type } : { elemType: tensor.elem_type, shape: dims };
}

/** The type of any value a graph output can be: a tensor, or a sequence or optional of one. */
export type ValueType = TensorType | { readonly sequenceOf: ValueType } | { readonly optionalOf: ValueType };

export function isTensorValueType(type: ValueType): type is TensorType {
  return 'elemType' in type;
}

/** `float32 [batch, 3]`, `sequence of float32 [3, 4]`, `optional float32 [?]`. */
export function describeValueType(type: ValueType): string {
  if ('sequenceOf' in type) return `sequence of ${describeValueType(type.sequenceOf)}`;
  if ('optionalOf' in type) return `optional ${describeValueType(type.optionalOf)}`;
  if (type.shape === undefined) return `${elemTypeInfo(type.elemType).name} (shape unknown)`;
  return `${elemTypeInfo(type.elemType).name} [${type.shape.map((d) => d ?? '?').join(', ')}]`;
}

export function typeProto(type: ValueType): TypeProto {
  if ('sequenceOf' in type) return { sequence_type: { elem_type: typeProto(type.sequenceOf) } };
  if ('optionalOf' in type) return { optional_type: { elem_type: typeProto(type.optionalOf) } };
  const dims = type.shape?.map((d): DimensionProto => (typeof d === 'number' ? { dim_value: d } : typeof d === 'string' ? { dim_param: d } : {}));
  return { tensor_type: { elem_type: type.elemType, ...(dims ? { shape: { dim: dims } } : {}) } };
}

export function valueInfoProto(name: string, type: ValueType): ValueInfoProto {
  return { name, type: typeProto(type) };
}

/** The node that produces each tensor. */
export function producers(graph: Graph): Map<string, GraphNode> {
  const map = new Map<string, GraphNode>();
  for (const node of graph.nodes) for (const output of node.proto.output ?? []) if (output !== '') map.set(output, node);
  return map;
}

/** The nodes that read each tensor. */
export function consumers(graph: Graph): Map<string, GraphNode[]> {
  const map = new Map<string, GraphNode[]>();
  for (const node of graph.nodes) {
    for (const input of node.proto.input ?? []) {
      if (input === '') continue;
      const list = map.get(input) ?? [];
      list.push(node);
      map.set(input, list);
    }
  }
  return map;
}

export function attribute(node: NodeProto, name: string): AttributeProto | undefined {
  return node.attribute?.find((a) => a.name === name);
}

export function metadataValue(node: NodeProto, key: string): string | undefined {
  return node.metadata_props?.find((p) => p.key === key)?.value;
}

/**
 * Where a tensor that is not in the main graph is made inside a subgraph: the node (If, Loop, Scan) and
 * the branch or body holding it, the outermost first.
 */
export function subgraphHolding(graph: Graph, tensor: string): { node: string; op: string; attribute: string } | undefined {
  const holds = (g: { node?: NodeProto[]; initializer?: TensorProto[]; input?: ValueInfoProto[] }): boolean =>
    (g.node ?? []).some((n) => (n.output ?? []).includes(tensor) || (n.attribute ?? []).some((a) => subgraphsOf(a).some(holds))) ||
    (g.initializer ?? []).some((i) => i.name === tensor) ||
    (g.input ?? []).some((i) => i.name === tensor);
  for (const { proto } of graph.nodes) {
    for (const a of proto.attribute ?? []) {
      if (subgraphsOf(a).some(holds)) return { node: proto.name || proto.op_type || '?', op: proto.op_type ?? '?', attribute: a.name ?? '?' };
    }
  }
  return undefined;
}

type SubgraphObject = { node?: NodeProto[]; initializer?: TensorProto[]; input?: ValueInfoProto[] };

function subgraphsOf(a: AttributeProto): SubgraphObject[] {
  return [a.g, ...((a.graphs as SubgraphObject[] | undefined) ?? [])].filter((g): g is SubgraphObject => g !== undefined && g !== null);
}

/** Every tensor name in use: graph inputs, initializers, node outputs. */
export function tensorNames(graph: Graph): Set<string> {
  const names = new Set<string>();
  for (const i of graph.inputs) if (i.proto.name) names.add(i.proto.name);
  for (const i of graph.initializers) if (i.proto.name) names.add(i.proto.name);
  for (const node of graph.nodes) {
    for (const o of node.proto.output ?? []) names.add(o);
    if (node.proto.name) names.add(node.proto.name);
  }
  return names;
}

/** A name not yet used in the graph, made from `base` (`base`, `base_1`, `base_2`, …). */
export function uniqueName(used: Set<string>, base: string): string {
  let name = base;
  for (let i = 1; used.has(name); i++) name = `${base}_${i}`;
  used.add(name);
  return name;
}

/**
 * Removes what no graph output needs: nodes whose outputs nobody reads (transitively), then initializers
 * and value_info entries nothing refers to. Graph inputs are kept (removing them changes the interface).
 */
export function cleanup(graph: Graph): Graph {
  const producedBy = producers(graph);
  const needed = new Set<string>(graph.outputs.map((o) => o.proto.name ?? ''));
  const keep = new Set<GraphNode>();
  const stack = [...needed];
  while (stack.length > 0) {
    const tensor = stack.pop()!;
    const node = producedBy.get(tensor);
    if (!node || keep.has(node)) continue;
    keep.add(node);
    for (const input of node.proto.input ?? []) {
      if (input !== '' && !needed.has(input)) {
        needed.add(input);
        stack.push(input);
      }
    }
    for (const input of subgraphInputs(node.proto)) if (!needed.has(input)) (needed.add(input), stack.push(input));
  }
  const nodes = graph.nodes.filter((n) => keep.has(n));
  const used = new Set<string>([...needed]);
  return {
    ...graph,
    nodes,
    initializers: graph.initializers.filter((i) => used.has(i.proto.name ?? '')),
    valueInfo: graph.valueInfo.filter((v) => used.has(v.proto.name ?? '')),
  };
}

/** Names a node's subgraphs (If/Loop bodies) read from the outer scope. */
function subgraphInputs(node: NodeProto): string[] {
  const names: string[] = [];
  const visit = (value: unknown): void => {
    if (Array.isArray(value)) value.forEach(visit);
    else if (value && typeof value === 'object') {
      const record = value as Record<string, unknown>;
      if (Array.isArray(record.input) && typeof record.op_type === 'string') names.push(...(record.input as string[]));
      for (const v of Object.values(record)) if (v && typeof v === 'object' && !(v instanceof Uint8Array)) visit(v);
    }
  };
  for (const a of node.attribute ?? []) if (a.type === 5 || a.type === 10) visit(a);
  return names.filter((n) => n !== '');
}

/** Orders nodes so each comes after the producers of its inputs (stable for already-sorted graphs). */
export function toposort(graph: Graph): Graph {
  const producedBy = producers(graph);
  const done = new Set<GraphNode>();
  const visiting = new Set<GraphNode>();
  const order: GraphNode[] = [];
  // depth first with an explicit stack: a chain of 20,000 nodes is deeper than the call stack allows
  const stack: { node: GraphNode; inputs: readonly string[]; next: number }[] = [];
  const enter = (node: GraphNode): void => {
    if (done.has(node)) return;
    if (visiting.has(node)) throw new Error(`the graph has a cycle through node ${node.proto.name ?? node.proto.op_type}`);
    visiting.add(node);
    stack.push({ node, inputs: [...(node.proto.input ?? []), ...subgraphInputs(node.proto)], next: 0 });
  };
  for (const root of graph.nodes) {
    enter(root);
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      if (top.next < top.inputs.length) {
        const producer = producedBy.get(top.inputs[top.next++]!);
        if (producer) enter(producer);
        continue;
      }
      stack.pop();
      visiting.delete(top.node);
      done.add(top.node);
      order.push(top.node);
    }
  }
  return { ...graph, nodes: order };
}
