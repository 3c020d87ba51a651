import type { Change, GraphDiff } from '../graph/diff.js';
import { describeValueType, type Graph } from '../graph/graph.js';
import { inferTypes } from '../graph/shapes.js';
import { graphModules } from '../graph/module-scopes.js';
import { opName } from '../graph/summary.js';

/**
 * What a drawing shows, before any layout: boxes (operators, graph inputs and outputs), the tensors
 * between them, the modules grouping them, and, for a comparison, what changed. Plain data (it is
 * also the page's JSON, laid out again in the browser when a module is collapsed or expanded).
 */
export interface Drawing {
  readonly boxes: readonly DrawingBox[];
  readonly edges: readonly DrawingEdge[];
  readonly modules: readonly DrawingModule[];
  /** Whether the drawing compares two models (unchanged parts are then greyed). */
  readonly diff: boolean;
}

export interface DrawingBox {
  readonly id: string;
  readonly kind: 'op' | 'input' | 'output';
  /** What the box says: the op type, or the input's or output's name. */
  readonly label: string;
  /** The node's or value's name, for search and tooltips. */
  readonly name: string;
  /** The module it belongs to (`layer1.0.conv1`), `''` for the model itself. */
  readonly module: string;
  /** Initializers it reads, shown as a badge. */
  readonly weights: readonly string[];
  readonly change?: Change;
  /** What differs about a changed box. */
  readonly why?: readonly string[];
}

/** A tensor from its producer to one reader, labelled with its type (declared, or inferred). */
export interface DrawingEdge {
  readonly from: string;
  readonly to: string;
  readonly tensor: string;
  readonly label: string;
  readonly change?: Change;
}

export interface DrawingModule {
  readonly path: string;
  /** Its class (`BasicBlock`), where the exporter recorded it. */
  readonly kind?: string;
  readonly change?: Change;
}

/** Parts of one graph, with ids given by `idOf` (a node's index → its id) so two graphs can share them. */
interface GraphParts {
  boxes: DrawingBox[];
  edges: DrawingEdge[];
  modules: DrawingModule[];
}

/** The graph as a drawing: every node, graph input and output a box, every tensor an edge from its producer to each reader. */
export function graphDrawing(graph: Graph): Drawing {
  return { ...graphParts(graph, (i) => `n${i}`), diff: false };
}

function graphParts(graph: Graph, idOf: (node: number) => string): GraphParts {
  const { moduleOf, classes, paths } = graphModules(graph);
  const initializers = new Set(graph.initializers.map((i) => i.proto.name ?? ''));
  // every tensor's type: declared, or worked out as onnx's shape inference would
  const types = new Map([...inferTypes(graph)].map(([name, type]) => [name, describeValueType(type)]));
  const boxes: DrawingBox[] = [];
  const producer = new Map<string, string>();
  for (const input of graph.inputs) {
    const name = input.proto.name ?? '';
    if (initializers.has(name)) continue;
    boxes.push({ id: `in:${name}`, kind: 'input', label: name, name, module: '', weights: [] });
    producer.set(name, `in:${name}`);
  }
  graph.nodes.forEach((node, i) => {
    const reads = (node.proto.input ?? []).filter((t) => initializers.has(t));
    boxes.push({ id: idOf(i), kind: 'op', label: opName(node), name: node.proto.name ?? '', module: moduleOf.get(node) ?? '', weights: reads });
    for (const output of node.proto.output ?? []) if (output !== '') producer.set(output, idOf(i));
  });
  for (const output of graph.outputs) {
    const name = output.proto.name ?? '';
    boxes.push({ id: `out:${name}`, kind: 'output', label: name, name, module: '', weights: [] });
  }
  const edges: DrawingEdge[] = [];
  const connect = (tensor: string, to: string): void => {
    const from = producer.get(tensor);
    if (from !== undefined) edges.push({ from, to, tensor, label: types.get(tensor) ?? '' });
  };
  graph.nodes.forEach((node, i) => {
    for (const input of node.proto.input ?? []) if (input !== '' && !initializers.has(input)) connect(input, idOf(i));
  });
  for (const output of graph.outputs) connect(output.proto.name ?? '', `out:${output.proto.name ?? ''}`);
  const modules: DrawingModule[] = paths.filter((p) => p !== '').map((path) => {
    const kind = classes.get(path)?.split('.').pop();
    return kind ? { path, kind } : { path };
  });
  return separateCalls({ boxes, edges, modules });
}

/**
 * A module called more than once (the one `relu` of a ResNet block, applied three times) holds nodes at
 * three places of the graph; drawn as one box, its edges would cross the block back and forth. Each call
 * of a module without submodules (each group of its nodes connected among themselves) is drawn as a box
 * of its own: the first keeps the module's path, the others are `path@2`, `path@3`.
 */
function separateCalls(parts: GraphParts): GraphParts {
  const parents = new Set(parts.modules.flatMap((m) => (m.path.includes('.') ? [m.path.slice(0, m.path.lastIndexOf('.'))] : [])));
  const byModule = new Map<string, DrawingBox[]>();
  for (const box of parts.boxes) if (box.module !== '' && !parents.has(box.module)) (byModule.get(box.module) ?? byModule.set(box.module, []).get(box.module)!).push(box);
  // union-find over the edges between boxes of one module
  const group = new Map<string, string>();
  const find = (id: string): string => {
    let root = id;
    while (group.get(root) !== root) root = group.get(root)!;
    group.set(id, root);
    return root;
  };
  for (const boxes of byModule.values()) for (const box of boxes) group.set(box.id, box.id);
  const moduleOf = new Map(parts.boxes.map((box) => [box.id, box.module]));
  for (const edge of parts.edges) {
    if (group.has(edge.from) && group.has(edge.to) && moduleOf.get(edge.from) === moduleOf.get(edge.to)) group.set(find(edge.from), find(edge.to));
  }
  const renamed = new Map<string, string>();
  const extra: DrawingModule[] = [];
  for (const [path, boxes] of byModule) {
    const calls = [...new Set(boxes.map((box) => find(box.id)))];
    if (calls.length < 2) continue;
    const module = parts.modules.find((m) => m.path === path);
    calls.slice(1).forEach((call, i) => {
      const instance = `${path}@${i + 2}`;
      extra.push({ ...module, path: instance });
      for (const box of boxes) if (find(box.id) === call) renamed.set(box.id, instance);
    });
  }
  if (renamed.size === 0) return parts;
  const modules = parts.modules.flatMap((m) => [m, ...extra.filter((e) => e.path.startsWith(`${m.path}@`))]);
  return { ...parts, boxes: parts.boxes.map((box) => (renamed.has(box.id) ? { ...box, module: renamed.get(box.id)! } : box)), modules };
}

/**
 * Two graphs as one drawing: the second graph, with what the first had and the second has not drawn
 * where it was, each box, edge and module marked with what happened to it.
 */
export function diffDrawing(a: Graph, b: Graph, diff: GraphDiff): Drawing {
  const aToB = new Map<number, number>();
  const nodeChange = new Map<string, { change: Change; why: readonly string[] }>();
  for (const n of diff.nodes) {
    if (n.a !== undefined && n.b !== undefined) aToB.set(n.a, n.b);
    nodeChange.set(n.b !== undefined ? `n${n.b}` : `a${n.a}`, { change: n.change, why: n.why });
  }
  const partsB = graphParts(b, (i) => `n${i}`);
  const partsA = graphParts(a, (i) => (aToB.has(i) ? `n${aToB.get(i)}` : `a${i}`));
  const valueChange = new Map<string, Change>();
  for (const v of diff.inputs) valueChange.set(`in:${v.name}`, v.change);
  for (const v of diff.outputs) valueChange.set(`out:${v.name}`, v.change);
  const idsB = new Set(partsB.boxes.map((box) => box.id));
  const boxes: DrawingBox[] = [...partsB.boxes, ...partsA.boxes.filter((box) => !idsB.has(box.id))].map((box) => {
    const known = nodeChange.get(box.id);
    if (known) return { ...box, change: known.change, ...(known.why.length > 0 ? { why: known.why } : {}) };
    return { ...box, change: valueChange.get(box.id) ?? (idsB.has(box.id) ? 'same' : 'removed') };
  });
  const edgeKey = (edge: DrawingEdge): string => `${edge.from} → ${edge.to}`;
  const keysA = new Set(partsA.edges.map(edgeKey));
  const keysB = new Set(partsB.edges.map(edgeKey));
  const edges: DrawingEdge[] = [
    ...partsB.edges.map((edge) => ({ ...edge, change: keysA.has(edgeKey(edge)) ? ('same' as const) : ('added' as const) })),
    ...partsA.edges.filter((edge) => !keysB.has(edgeKey(edge))).map((edge) => ({ ...edge, change: 'removed' as const })),
  ];
  const kinds = new Map<string, DrawingModule>([...partsA.modules, ...partsB.modules].map((m) => [m.path, m]));
  const modules = [...kinds.values()].map((m) => ({ ...m, change: moduleChange(m.path, boxes) }));
  return { boxes, edges, modules, diff: true };
}

/** A module is added or removed when all of its boxes were, the same when all are, else changed. */
function moduleChange(path: string, boxes: readonly DrawingBox[]): Change {
  const inside = new Set(boxes.filter((box) => box.module === path || box.module.startsWith(`${path}.`)).map((box) => box.change ?? 'same'));
  return inside.size === 1 ? [...inside][0]! : 'changed';
}

/** Boxes drawn at most, before modules start collapsed: a graph of this size still lays out in about a second. */
export const EXPANDED_BOXES = 300;

/**
 * The modules drawn collapsed at first. A comparison collapses every outermost module in which nothing
 * changed; a big graph collapses the modules of the deepest level that leaves at most EXPANDED_BOXES
 * boxes to draw (the top-level modules at least); a small one shows everything.
 */
export function defaultCollapsed(drawing: Drawing): string[] {
  const paths = drawing.modules.map((m) => m.path);
  if (drawing.diff) {
    const same = drawing.modules.filter((m) => m.change === 'same').map((m) => m.path);
    return same.filter((path) => !same.some((p) => path.startsWith(`${p}.`)));
  }
  if (drawing.boxes.length <= EXPANDED_BOXES) return [];
  const depth = (path: string): number => path.split('.').length;
  const deepest = Math.max(...paths.map(depth));
  for (let d = deepest; d >= 1; d--) {
    const chosen = paths.filter((path) => depth(path) === d);
    const visible = drawing.boxes.filter((box) => !chosen.some((p) => box.module === p || box.module.startsWith(`${p}.`))).length + chosen.length;
    if (visible <= EXPANDED_BOXES || d === 1) return chosen;
  }
  return [];
}
