import { dtypeInfo } from '../checkpoint/dtype.js';
import { numelOf } from '../checkpoint/tensor.js';
import { dtypeOfElemType, elemTypeInfo } from './elem-type.js';
import { attribute, tensorTypeOf, type Graph, type GraphNode, type NodeProto, type TensorProto, type ValueInfo } from './graph.js';
import { readTensorFields } from './initializers.js';
import type { OnnxModel } from './model.js';
import { commonAncestor, graphModules, type ScopeSource } from './module-scopes.js';
import { checkLocation } from './external-data.js';

/** A graph input or output: its element type and dims (numbers, symbolic names, null when unknown). */
export interface ValueSummary {
  readonly name: string;
  readonly dtype: string | null;
  readonly shape: (number | string | null)[] | null;
}

export interface InitializerSummary {
  readonly name: string;
  readonly dtype: string;
  readonly shape: readonly number[];
  readonly bytes: number;
  /** The data file, for initializers stored as external data. */
  readonly external?: string;
}

/** A module of the graph: what its own nodes compute, and the parameters they read. */
export interface OnnxModuleNode {
  readonly name: string;
  readonly path: string;
  /** The module's class (`BasicBlock`), where the exporter recorded it. */
  readonly kind?: string;
  /** Node count by op type, of this module's own nodes (not its submodules'). */
  readonly ops: Record<string, number>;
  /** Nodes of this module and its submodules. */
  readonly nodes: number;
  /** Elements of the initializers this module and its submodules read. */
  readonly params: number;
  /** Initializers read only within this module (and not within one submodule). */
  readonly initializers: { name: string; dtype: string; shape: readonly number[] }[];
  readonly children: OnnxModuleNode[];
}

export interface OnnxSummary {
  readonly format: 'onnx';
  readonly irVersion: number;
  readonly opsets: readonly { domain: string; version: number }[];
  readonly producer: { name: string; version: string };
  readonly graphName: string;
  readonly inputs: ValueSummary[];
  readonly outputs: ValueSummary[];
  readonly nodes: number;
  /** Node count by op type (`domain.Op` outside the default domain), most frequent first. */
  readonly ops: Record<string, number>;
  readonly tensors: InitializerSummary[];
  readonly totals: { tensors: number; params: number; bytes: number; dtypes: Record<string, number> };
  /** Floating-point tensors held in Constant nodes and in subgraphs (If/Loop branches): weights too, where an
   *  exporter put them there (Silero VAD keeps all of its in an If's branches). */
  readonly constants: { tensors: number; params: number; bytes: number; inSubgraphs: number };
  /** Data files and what they hold. */
  readonly externalData: { location: string; tensors: number; bytes: number }[];
  /** The module tree recovered from the exporter's scopes; null when the graph carries none. */
  readonly modules: OnnxModuleNode | null;
  /** How many nodes got their module from each kind of evidence. */
  readonly scopeSources: Partial<Record<ScopeSource, number>>;
}

/** Everything `inspect` says about an ONNX model, computed without reading any initializer's values. */
export function summarizeOnnx(model: OnnxModel): OnnxSummary {
  const { graph, header } = model;
  const initializerNames = new Set(graph.initializers.map((i) => i.proto.name ?? ''));
  const tensors = graph.initializers.map((item): InitializerSummary => {
    const fields = readTensorFields(item);
    const dtype = elemTypeInfo(fields.elemType).name;
    const base = { name: fields.name, dtype, shape: fields.dims, bytes: byteSize(fields.elemType, numelOf(fields.dims)) };
    if (fields.data.kind !== 'external') return base;
    // a hostile location (absolute, `..`, a device) is refused here too, though inspect reads no data
    checkLocation(fields.data.ref.location, `initializer '${fields.name}'`);
    return { ...base, external: fields.data.ref.location };
  });
  const dtypes: Record<string, number> = {};
  for (const t of tensors) dtypes[t.dtype] = (dtypes[t.dtype] ?? 0) + 1;
  const files = new Map<string, { location: string; tensors: number; bytes: number }>();
  for (const t of tensors) {
    if (t.external === undefined) continue;
    const file = files.get(t.external) ?? { location: t.external, tensors: 0, bytes: 0 };
    file.tensors++;
    file.bytes += t.bytes;
    files.set(t.external, file);
  }
  const sources: Partial<Record<ScopeSource, number>> = {};
  for (const source of graphModules(graph).sourceOf.values()) sources[source] = (sources[source] ?? 0) + 1;
  return {
    format: 'onnx',
    irVersion: header.irVersion,
    opsets: header.opsets,
    producer: { name: header.producerName, version: header.producerVersion },
    graphName: graph.name,
    // inputs that name an initializer are defaults a caller may override (IR < 4 lists every weight there)
    inputs: graph.inputs.filter((i) => !initializerNames.has(i.proto.name ?? '')).map(valueSummary),
    outputs: graph.outputs.map(valueSummary),
    nodes: graph.nodes.length,
    ops: countOps(graph.nodes),
    tensors,
    totals: {
      tensors: tensors.length,
      params: tensors.reduce((n, t) => n + numelOf(t.shape), 0),
      bytes: tensors.reduce((n, t) => n + t.bytes, 0),
      dtypes,
    },
    constants: heldConstants(graph.nodes.map((n) => n.proto)),
    externalData: [...files.values()],
    modules: moduleTree(graph, tensors),
    scopeSources: sources,
  };
}

const FLOATING_TYPES = new Set([1, 10, 11, 16, 17, 18, 19, 20, 23, 24]);

interface GraphProtoObject {
  node?: NodeProto[];
  initializer?: TensorProto[];
}

/** The floating-point tensors of Constant nodes, and of the initializers and Constants of subgraphs, anywhere. */
function heldConstants(nodes: readonly NodeProto[]): OnnxSummary['constants'] {
  const totals = { tensors: 0, params: 0, bytes: 0, inSubgraphs: 0 };
  const count = (tensor: TensorProto | undefined, inSubgraph: boolean): void => {
    if (!tensor || !FLOATING_TYPES.has(tensor.data_type ?? 0)) return;
    const numel = numelOf(tensor.dims ?? []);
    totals.tensors++;
    totals.params += numel;
    totals.bytes += byteSize(tensor.data_type!, numel);
    if (inSubgraph) totals.inSubgraphs++;
  };
  const walk = (list: readonly NodeProto[], inSubgraph: boolean): void => {
    for (const node of list) {
      if (node.op_type === 'Constant') count(attribute(node, 'value')?.t, inSubgraph);
      for (const a of node.attribute ?? []) {
        const graphs = [a.g, ...((a.graphs as unknown[] | undefined) ?? [])].filter((g): g is GraphProtoObject => g !== undefined && g !== null);
        for (const g of graphs) {
          for (const init of g.initializer ?? []) count(init, true);
          walk(g.node ?? [], true);
        }
      }
    }
  };
  walk(nodes, false);
  return totals;
}

function valueSummary(info: ValueInfo): ValueSummary {
  const type = tensorTypeOf(info.proto);
  return {
    name: info.proto.name ?? '',
    dtype: type ? elemTypeInfo(type.elemType).name : null,
    shape: type?.shape ? type.shape.map((d) => d ?? null) : null,
  };
}

/** uint4, int4, float4e2m1; uint2, int2. */
const VALUES_PER_BYTE: Record<number, number> = { 21: 2, 22: 2, 23: 2, 25: 4, 26: 4 };

/** Bytes of `numel` elements; sub-byte types are packed (two 4-bit or four 2-bit values a byte). */
function byteSize(elemType: number, numel: number): number {
  const dtype = dtypeOfElemType(elemType);
  if (dtype) return numel * dtypeInfo(dtype).size;
  const perByte = VALUES_PER_BYTE[elemType];
  return perByte === undefined ? numel * elemTypeInfo(elemType).size : Math.ceil(numel / perByte);
}

export function opName(node: GraphNode): string {
  const domain = node.proto.domain ?? '';
  const op = node.proto.op_type ?? '?';
  return domain === '' || domain === 'ai.onnx' ? op : `${domain}.${op}`;
}

/** Node counts by op, most frequent first (ties in first-seen order). */
export function countOps(nodes: readonly GraphNode[]): Record<string, number> {
  const counts = new Map<string, number>();
  for (const node of nodes) counts.set(opName(node), (counts.get(opName(node)) ?? 0) + 1);
  return Object.fromEntries([...counts].sort((a, b) => b[1] - a[1]));
}

interface Draft {
  name: string;
  path: string;
  kind?: string;
  own: GraphNode[];
  initializers: InitializerSummary[];
  children: Draft[];
}

/**
 * The module tree: every module with nodes, each with its own nodes' ops and the initializers it reads.
 * An initializer read in several modules belongs to the innermost module holding all of its readers.
 */
function moduleTree(graph: Graph, tensors: readonly InitializerSummary[]): OnnxModuleNode | null {
  const { moduleOf, classes, paths } = graphModules(graph);
  if (paths.length === 0) return null;
  const drafts = new Map<string, Draft>();
  for (const path of paths) {
    const className = classes.get(path);
    const draft: Draft = { name: path.split('.').pop()!, path, own: [], initializers: [], children: [] };
    if (className !== undefined) draft.kind = className.split('.').pop()!;
    drafts.set(path, draft);
    if (path !== '') drafts.get(path.includes('.') ? path.slice(0, path.lastIndexOf('.')) : '')!.children.push(draft);
  }
  const readersOf = new Map<string, string[]>();
  for (const node of graph.nodes) {
    const path = moduleOf.get(node);
    if (path === undefined) continue;
    drafts.get(path)!.own.push(node);
    for (const input of node.proto.input ?? []) {
      const list = readersOf.get(input) ?? [];
      list.push(path);
      readersOf.set(input, list);
    }
  }
  for (const tensor of tensors) drafts.get(commonAncestor(readersOf.get(tensor.name) ?? ['']))!.initializers.push(tensor);
  const finish = (draft: Draft): OnnxModuleNode => {
    const children = draft.children.map(finish);
    return {
      name: draft.name,
      path: draft.path,
      ...(draft.kind !== undefined ? { kind: draft.kind } : {}),
      ops: countOps(draft.own),
      nodes: draft.own.length + children.reduce((n, c) => n + c.nodes, 0),
      params: draft.initializers.reduce((n, t) => n + numelOf(t.shape), 0) + children.reduce((n, c) => n + c.params, 0),
      initializers: draft.initializers.map(({ name, dtype, shape }) => ({ name, dtype, shape })),
      children,
    };
  };
  return finish(drafts.get('')!);
}
