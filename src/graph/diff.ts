import { diffCheckpoints, differenceSummary, type Difference } from '../checkpoint/diff.js';
import { onnxTypes } from './onnx-schema.js';
import { describeValueType, tensorTypeOf, type Graph, type GraphNode, type ValueInfo } from './graph.js';
import { initializerTensors, type ReadInitializerOptions } from './initializers.js';
import { py, type PyDict } from '../checkpoint/pickle/value.js';
import { graphModules } from './module-scopes.js';
import { opName } from './summary.js';

/** What happened to a thing between the first model and the second. */
export type Change = 'added' | 'removed' | 'changed' | 'same';

/** A node of either graph: both indexes when it was matched, one when it was added or removed. */
export interface NodeChange {
  readonly change: Change;
  /** Index in the first graph's nodes. */
  readonly a?: number;
  /** Index in the second graph's nodes. */
  readonly b?: number;
  /** What differs about a changed node (`op Gemm → MatMul`, `reads fc.weight, which changed`). */
  readonly why: readonly string[];
}

/** A graph input or output, by name, with its declared type on each side. */
export interface ValueChange {
  readonly name: string;
  readonly change: Change;
  readonly a?: string;
  readonly b?: string;
}

export interface GraphDiff {
  readonly nodes: readonly NodeChange[];
  readonly inputs: readonly ValueChange[];
  readonly outputs: readonly ValueChange[];
  /** The initializers compared as two state dicts (by name; dtype, shape, values). */
  readonly initializers: readonly Difference[];
}

export interface GraphDiffOptions {
  /** How each side's external data is opened. */
  readonly a?: ReadInitializerOptions;
  readonly b?: ReadInitializerOptions;
}

/**
 * Compares two graphs — typically a model before and after a surgery. Nodes are matched, in turn, by
 * their module and their place among the module's nodes of their op (what a re-export keeps when it
 * renumbers names), by name, then by op and the tensors they write — never across modules; a matched node is changed when its
 * op, attributes, inputs (the matched producers feeding them) or the initializers it reads differ.
 */
export function diffGraphs(a: Graph, b: Graph, options: GraphDiffOptions = {}): GraphDiff {
  const weights = (graph: Graph, read: ReadInitializerOptions | undefined): PyDict =>
    py.dict(initializerTensors(graph.initializers, read).map(([name, tensor]) => [py.str(name), { kind: 'tensor', tensor }]));
  const initializers = diffCheckpoints(weights(a, options.a), weights(b, options.b)).differences;
  const changedInitializers = new Set(initializers.map((d) => d.key));
  const match = matchNodes(a, b);
  const nodes: NodeChange[] = [];
  const producerA = producerIndex(a);
  const producerB = producerIndex(b);
  const initializersA = new Set(a.initializers.map((i) => i.proto.name ?? ''));
  const initializersB = new Set(b.initializers.map((i) => i.proto.name ?? ''));
  // where a node input comes from, in terms comparable across the graphs: a matched node's output, an initializer, a graph input
  const sourceA = (tensor: string): string => source(tensor, producerA, initializersA, (i) => match.aToB.get(i));
  const sourceB = (tensor: string): string => source(tensor, producerB, initializersB, (i) => i);
  b.nodes.forEach((nodeB, ib) => {
    const ia = match.bToA.get(ib);
    if (ia === undefined) {
      nodes.push({ change: 'added', b: ib, why: [] });
      return;
    }
    const why = nodeDifferences(a.nodes[ia]!, nodeB, sourceA, sourceB, changedInitializers);
    nodes.push({ change: why.length > 0 ? 'changed' : 'same', a: ia, b: ib, why });
  });
  a.nodes.forEach((_, ia) => {
    if (!match.aToB.has(ia)) nodes.push({ change: 'removed', a: ia, why: [] });
  });
  return { nodes, inputs: valueChanges(a.inputs, b.inputs, initializersA, initializersB), outputs: valueChanges(a.outputs, b.outputs, new Set(), new Set()), initializers };
}

/** The counts and names a reader wants first: `+5 nodes, −1 node, output output [batch, 1000] → [batch, 10]`. */
export function graphDiffSummary(diff: GraphDiff): string[] {
  const count = (change: Change): number => diff.nodes.filter((n) => n.change === change).length;
  const nodes = (n: number): string => `${n} node${n === 1 ? '' : 's'}`;
  const parts: string[] = [];
  if (count('added') > 0) parts.push(`+${nodes(count('added'))}`);
  if (count('removed') > 0) parts.push(`−${nodes(count('removed'))}`);
  if (count('changed') > 0) parts.push(`${nodes(count('changed'))} changed`);
  for (const [what, values] of [['input', diff.inputs], ['output', diff.outputs]] as const) {
    for (const value of values) {
      if (value.change === 'added') parts.push(`${what} ${value.name} ${value.b} added`);
      else if (value.change === 'removed') parts.push(`${what} ${value.name} removed`);
      else if (value.change === 'changed') parts.push(`${what} ${value.name} ${typeChange(value.a!, value.b!)}`);
    }
  }
  const lines = parts.length > 0 ? [parts.join(', ')] : ['the graphs are the same'];
  const weights = differenceSummary(diff.initializers);
  if (weights !== undefined) lines.push(weights);
  return lines;
}

/** `[batch, 1000] → [batch, 10]`: the dtype said once when only the shape changed. */
function typeChange(a: string, b: string): string {
  const [dtypeA, ...shapeA] = a.split(' ');
  const [dtypeB, ...shapeB] = b.split(' ');
  return dtypeA === dtypeB ? `${shapeA.join(' ')} → ${shapeB.join(' ')}` : `${a} → ${b}`;
}

interface NodeMatch {
  readonly aToB: Map<number, number>;
  readonly bToA: Map<number, number>;
}

function matchNodes(a: Graph, b: Graph): NodeMatch {
  const aToB = new Map<number, number>();
  const bToA = new Map<number, number>();
  const modulesA = graphModules(a).moduleOf;
  const modulesB = graphModules(b).moduleOf;
  // a node of one module is never another module's node, whatever its name or outputs (an old fc's Gemm is not the new fc.fc2's)
  const sameModule = (ia: number, ib: number): boolean => {
    const [ma, mb] = [modulesA.get(a.nodes[ia]!), modulesB.get(b.nodes[ib]!)];
    return ma === undefined || mb === undefined || ma === mb;
  };
  const pair = (keysOf: (graph: Graph) => Map<number, string>): void => {
    const keysA = uniqueKeys(keysOf(a), aToB);
    const keysB = uniqueKeys(keysOf(b), bToA);
    const byKey = new Map([...keysB].map(([i, key]) => [key, i]));
    for (const [ia, key] of keysA) {
      const ib = byKey.get(key);
      if (ib !== undefined && opName(a.nodes[ia]!) === opName(b.nodes[ib]!) && sameModule(ia, ib)) {
        aToB.set(ia, ib);
        bToA.set(ib, ia);
      }
    }
  };
  pair(moduleKeys);
  pair((graph) => new Map(graph.nodes.map((node, i) => [i, `name ${node.proto.name ?? ''}`] as const).filter(([, key]) => key !== 'name ')));
  pair((graph) => new Map(graph.nodes.map((node, i) => [i, `${opName(node)} → ${(node.proto.output ?? []).join(', ')}`])));
  return { aToB, bToA };
}

/** `layer1.0.conv1 Conv #0`: a node's module, op and place among that module's nodes of the op. */
function moduleKeys(graph: Graph): Map<number, string> {
  const { moduleOf } = graphModules(graph);
  const seen = new Map<string, number>();
  const keys = new Map<number, string>();
  graph.nodes.forEach((node, i) => {
    const module = moduleOf.get(node);
    if (module === undefined || module === '') return;
    const base = `module ${module} ${opName(node)}`;
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    keys.set(i, `${base} #${n}`);
  });
  return keys;
}

/** The keys held by exactly one node not matched yet (a key two nodes share matches neither). */
function uniqueKeys(keys: Map<number, string>, matched: Map<number, number>): Map<number, string> {
  const count = new Map<string, number>();
  for (const [i, key] of keys) if (!matched.has(i)) count.set(key, (count.get(key) ?? 0) + 1);
  return new Map([...keys].filter(([i, key]) => !matched.has(i) && count.get(key) === 1));
}

/** Tensor name → [node index, output position]. */
function producerIndex(graph: Graph): Map<string, [number, number]> {
  const producers = new Map<string, [number, number]>();
  graph.nodes.forEach((node, i) => (node.proto.output ?? []).forEach((tensor, k) => tensor !== '' && producers.set(tensor, [i, k])));
  return producers;
}

function source(tensor: string, producers: Map<string, [number, number]>, initializers: Set<string>, toB: (i: number) => number | undefined): string {
  if (tensor === '') return 'none';
  const produced = producers.get(tensor);
  if (produced) {
    const ib = toB(produced[0]);
    return ib === undefined ? `unmatched ${tensor}` : `node ${ib} output ${produced[1]}`;
  }
  return initializers.has(tensor) ? `initializer ${tensor}` : `input ${tensor}`;
}

function nodeDifferences(
  nodeA: GraphNode,
  nodeB: GraphNode,
  sourceA: (tensor: string) => string,
  sourceB: (tensor: string) => string,
  changedInitializers: ReadonlySet<string>,
): string[] {
  const why: string[] = [];
  if (opName(nodeA) !== opName(nodeB)) why.push(`op ${opName(nodeA)} → ${opName(nodeB)}`);
  const attributes = (node: GraphNode): Map<string, string> =>
    new Map((node.proto.attribute ?? []).map((attr) => [attr.name ?? '', Buffer.from(onnxTypes.AttributeProto.encode(attr).finish()).toString('base64')]));
  const attrsA = attributes(nodeA);
  const attrsB = attributes(nodeB);
  for (const name of new Set([...attrsA.keys(), ...attrsB.keys()])) {
    if (attrsA.get(name) !== attrsB.get(name)) why.push(`attribute ${name} ${!attrsA.has(name) ? 'added' : !attrsB.has(name) ? 'removed' : 'changed'}`);
  }
  const inputsA = nodeA.proto.input ?? [];
  const inputsB = nodeB.proto.input ?? [];
  for (let k = 0; k < Math.max(inputsA.length, inputsB.length); k++) {
    const fromA = k < inputsA.length ? sourceA(inputsA[k]!) : 'none';
    const fromB = k < inputsB.length ? sourceB(inputsB[k]!) : 'none';
    if (fromA !== fromB) why.push(`input ${k} ${inputsA[k] ?? '(none)'} → ${inputsB[k] ?? '(none)'}`);
    else if (fromB.startsWith('initializer ') && changedInitializers.has(inputsB[k]!)) why.push(`reads ${inputsB[k]}, which changed`);
  }
  return why;
}

function valueChanges(a: readonly ValueInfo[], b: readonly ValueInfo[], initializersA: Set<string>, initializersB: Set<string>): ValueChange[] {
  const typeOf = (info: ValueInfo): string => {
    const type = info.proto.type ? tensorTypeOf(info.proto) : undefined;
    return type ? describeValueType(type) : '(type unknown)';
  };
  // initializers listed as graph inputs (old exporters) are weights, compared as initializers
  const declared = (values: readonly ValueInfo[], initializers: Set<string>): Map<string, string> =>
    new Map(values.filter((v) => !initializers.has(v.proto.name ?? '')).map((v) => [v.proto.name ?? '', typeOf(v)]));
  const typesA = declared(a, initializersA);
  const typesB = declared(b, initializersB);
  const changes: ValueChange[] = [];
  for (const [name, typeB] of typesB) {
    const typeA = typesA.get(name);
    changes.push(typeA === undefined ? { name, change: 'added', b: typeB } : { name, change: typeA === typeB ? 'same' : 'changed', a: typeA, b: typeB });
  }
  for (const [name, typeA] of typesA) if (!typesB.has(name)) changes.push({ name, change: 'removed', a: typeA });
  return changes;
}
