import dagre from '@dagrejs/dagre';
import { describeValueType, tensorTypeOf, type Graph } from '../graph/graph.js';
import { graphModules } from '../graph/module-scopes.js';
import { opName } from '../graph/summary.js';

/** A box of the drawing: an operator, a graph input or output, placed by the layout. */
export interface ViewNode {
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
  x: number;
  y: number;
  readonly width: number;
  readonly height: number;
}

/** A tensor from its producer to one reader, labelled with its type where the graph declares it. */
export interface ViewEdge {
  readonly from: string;
  readonly to: string;
  readonly tensor: string;
  readonly label: string;
  points: { x: number; y: number }[];
}

/** A module's box around its nodes' boxes. */
export interface ViewModule {
  readonly path: string;
  readonly kind?: string;
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface GraphView {
  readonly nodes: ViewNode[];
  readonly edges: ViewEdge[];
  readonly modules: ViewModule[];
  readonly width: number;
  readonly height: number;
}

const NODE_HEIGHT = 28;
const CHAR_WIDTH = 7.2;

/**
 * The graph as a drawing: every node, graph input and output a box, every tensor an edge from its
 * producer to each reader, nodes inside compound boxes for the modules the exporter's scopes name,
 * laid out top to bottom by dagre (the layout library; positions are computed here, so the page needs
 * no script to draw). Initializers are not boxes of their own: they are badges on the nodes reading them.
 */
export function graphView(graph: Graph): GraphView {
  const layout = new dagre.graphlib.Graph({ compound: true, multigraph: true });
  layout.setGraph({ rankdir: 'TB', nodesep: 24, ranksep: 36, edgesep: 12, marginx: 16, marginy: 16 });
  layout.setDefaultEdgeLabel(() => ({}));
  const { moduleOf, classes, paths } = graphModules(graph);
  const initializers = new Set(graph.initializers.map((i) => i.proto.name ?? ''));
  const types = new Map<string, string>();
  for (const info of [...graph.inputs, ...graph.outputs, ...graph.valueInfo]) {
    const type = info.proto.type ? tensorTypeOf(info.proto) : undefined;
    if (info.proto.name && type) types.set(info.proto.name, describeValueType(type));
  }
  const nodes: ViewNode[] = [];
  const producer = new Map<string, string>();
  const box = (node: Omit<ViewNode, 'x' | 'y' | 'width' | 'height'>): void => {
    const text = node.weights.length > 0 ? `${node.label}  ◆${node.weights.length}` : node.label;
    const full: ViewNode = { ...node, x: 0, y: 0, width: Math.max(56, Math.ceil(text.length * CHAR_WIDTH) + 20), height: NODE_HEIGHT };
    nodes.push(full);
    layout.setNode(full.id, { width: full.width, height: full.height });
  };
  for (const input of graph.inputs) {
    const name = input.proto.name ?? '';
    if (initializers.has(name)) continue;
    box({ id: `in:${name}`, kind: 'input', label: name, name, module: '', weights: [] });
    producer.set(name, `in:${name}`);
  }
  graph.nodes.forEach((node, i) => {
    const id = `n${i}`;
    const reads = (node.proto.input ?? []).filter((t) => initializers.has(t));
    box({ id, kind: 'op', label: opName(node), name: node.proto.name ?? '', module: moduleOf.get(node) ?? '', weights: reads });
    for (const output of node.proto.output ?? []) if (output !== '') producer.set(output, id);
  });
  for (const output of graph.outputs) {
    const name = output.proto.name ?? '';
    box({ id: `out:${name}`, kind: 'output', label: name, name, module: '', weights: [] });
  }
  // module boxes: compound nodes, each inside its parent module's box
  const modules = paths.filter((p) => p !== '');
  for (const path of modules) layout.setNode(`m:${path}`, {});
  for (const path of modules) {
    const parent = path.includes('.') ? path.slice(0, path.lastIndexOf('.')) : '';
    if (parent !== '' && modules.includes(parent)) layout.setParent(`m:${path}`, `m:${parent}`);
  }
  for (const node of nodes) if (node.module !== '' && modules.includes(node.module)) layout.setParent(node.id, `m:${node.module}`);
  const edges: ViewEdge[] = [];
  const connect = (tensor: string, to: string): void => {
    const from = producer.get(tensor);
    if (from === undefined) return;
    const label = types.get(tensor) ?? '';
    edges.push({ from, to, tensor, label, points: [] });
    layout.setEdge(from, to, {}, String(edges.length - 1));
  };
  graph.nodes.forEach((node, i) => {
    for (const input of node.proto.input ?? []) if (input !== '' && !initializers.has(input)) connect(input, `n${i}`);
  });
  for (const output of graph.outputs) connect(output.proto.name ?? '', `out:${output.proto.name ?? ''}`);
  dagre.layout(layout);
  for (const node of nodes) {
    const placed = layout.node(node.id);
    node.x = placed.x - node.width / 2;
    node.y = placed.y - node.height / 2;
  }
  edges.forEach((edge, i) => {
    const placed = layout.edge({ v: edge.from, w: edge.to, name: String(i) }) as { points?: { x: number; y: number }[] } | undefined;
    edge.points = (placed?.points ?? []).map((p) => ({ x: p.x, y: p.y }));
  });
  const moduleBoxes: ViewModule[] = modules.map((path) => {
    const placed = layout.node(`m:${path}`);
    const kind = classes.get(path)?.split('.').pop();
    return { path, ...(kind ? { kind } : {}), x: placed.x - placed.width / 2, y: placed.y - placed.height / 2, width: placed.width, height: placed.height };
  });
  const size = layout.graph();
  return { nodes, edges, modules: moduleBoxes, width: Math.ceil(size.width ?? 0), height: Math.ceil(size.height ?? 0) };
}
