import dagre from '@dagrejs/dagre';
import type { Change } from '../graph/diff.js';
import type { Drawing, DrawingBox, DrawingEdge } from './drawing.js';

/**
 * A box where the layout put it: a drawing's box, or a collapsed module standing for the boxes inside it
 * (its `name`, the search text, then holds the names of every box inside; its `module`, the parent module).
 */
export interface PlacedBox extends Omit<DrawingBox, 'kind'> {
  readonly kind: DrawingBox['kind'] | 'module';
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

export interface PlacedEdge {
  readonly tensor: string;
  readonly label: string;
  readonly change?: Change;
  readonly points: readonly { readonly x: number; readonly y: number }[];
}

/** An expanded module's box around its boxes. */
export interface PlacedModule {
  readonly path: string;
  readonly kind?: string;
  readonly change?: Change;
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

export interface GraphView {
  readonly boxes: readonly PlacedBox[];
  readonly edges: readonly PlacedEdge[];
  readonly modules: readonly PlacedModule[];
  readonly diff: boolean;
  readonly width: number;
  readonly height: number;
}

const BOX_HEIGHT = 28;
const CHAR_WIDTH = 7.2;

/** The text a box shows: its label, with a badge counting the initializers it reads. */
export function boxText(box: Pick<PlacedBox, 'label' | 'weights'>): string {
  return box.weights.length > 0 ? `${box.label}  ◆${box.weights.length}` : box.label;
}

/** Is `module` the module `path` or one inside it? */
function within(module: string, path: string): boolean {
  return module === path || module.startsWith(`${path}.`);
}

type Point = { readonly x: number; readonly y: number };

/** A module's own layout, in its own coordinates: what it holds, and the routes of the edges inside it. */
interface Block {
  readonly width: number;
  readonly height: number;
  /** Its own boxes and collapsed submodules, by id, at their top-left corners. */
  readonly items: Map<string, Point>;
  /** Its expanded submodules, at their top-left corners. */
  readonly blocks: Map<string, Point>;
  /** Routes at this level, by route key (see `routeKey`). */
  readonly routes: Map<string, Point[]>;
}

/** Height of a module box's title band. */
const TITLE = 16;
const PAD = 8;

/**
 * Lays a drawing out top to bottom with dagre (on the command line for the page and the SVG, and in the
 * page when a module is collapsed or expanded). Each expanded module is laid out on its own, innermost
 * first, as a flat graph of its boxes and its submodules' blocks, with a port at its top for every
 * tensor coming in and at its bottom for every tensor going out; an edge's route is its pieces at each
 * level, joined. (dagre's own compound layout grows with the depth of the nesting: half a minute for a
 * 1,000-node transformer; this is a second.) A collapsed module is one box in place of everything inside it.
 */
export function layoutDrawing(drawing: Drawing, collapsed: readonly string[]): GraphView {
  const known = new Map(drawing.modules.map((m) => [m.path, m]));
  const parentOf = new Map<string, string>();
  for (const path of known.keys()) {
    let parent = path;
    do parent = parent.includes('.') ? parent.slice(0, parent.lastIndexOf('.')) : '';
    while (parent !== '' && !known.has(parent));
    parentOf.set(path, parent);
  }
  const moduleOf = (box: DrawingBox): string => {
    let path = box.module;
    while (path !== '' && !known.has(path)) path = path.includes('.') ? path.slice(0, path.lastIndexOf('.')) : '';
    return path;
  };
  // a module inside a collapsed one is not drawn at all
  const folded = new Set(collapsed.filter((path) => known.has(path) && !collapsed.some((outer) => outer !== path && within(path, outer))));
  const hidden = (path: string): boolean => [...folded].some((outer) => within(path, outer));
  const children = new Map<string, string[]>([['', []]]);
  for (const path of known.keys()) if (!hidden(path) || folded.has(path)) (children.get(parentOf.get(path)!) ?? children.set(parentOf.get(path)!, []).get(parentOf.get(path)!)!).push(path);
  const boxModule = new Map(drawing.boxes.map((box) => [box.id, moduleOf(box)]));
  /** The item of level `level` holding a box: the box, a collapsed submodule's box, or a submodule's block. */
  const itemOf = (level: string, id: string): string | undefined => {
    const module = boxModule.get(id)!;
    if (!within(module, level) && level !== '') return undefined;
    if (module === level) return id;
    let child = module;
    while (parentOf.get(child) !== level) child = parentOf.get(child)!;
    return folded.has(child) ? `m:${child}` : `g:${child}`;
  };

  // the boxes drawn: those outside every collapsed module, and one box for each collapsed module
  const sized = new Map<string, Omit<PlacedBox, 'x' | 'y'>>();
  const insideCollapsed = new Map<string, DrawingBox[]>();
  for (const box of drawing.boxes) {
    const module = boxModule.get(box.id)!;
    const outer = [...folded].find((path) => within(module, path));
    if (outer === undefined) sized.set(box.id, { ...box, width: Math.max(56, Math.ceil(boxText(box).length * CHAR_WIDTH) + 20), height: BOX_HEIGHT });
    else (insideCollapsed.get(outer) ?? insideCollapsed.set(outer, []).get(outer)!).push(box);
  }
  for (const path of folded) {
    const inside = insideCollapsed.get(path) ?? [];
    const module = known.get(path)!;
    const label = `${path}${module.kind ? `: ${module.kind}` : ''} ▸ ${inside.length} node${inside.length === 1 ? '' : 's'}`;
    sized.set(`m:${path}`, {
      id: `m:${path}`,
      kind: 'module',
      label,
      name: [path, ...inside.map((box) => box.name)].join(' '),
      module: parentOf.get(path)!,
      weights: [],
      ...(module.change ? { change: module.change } : {}),
      width: Math.ceil(label.length * CHAR_WIDTH) + 24,
      height: BOX_HEIGHT + 6,
    });
  }
  const representative = (id: string): string => {
    const module = boxModule.get(id)!;
    const outer = [...folded].find((path) => within(module, path));
    return outer === undefined ? id : `m:${outer}`;
  };

  // the edges drawn: several tensors between the same two drawn boxes (into a collapsed module) once
  const drawn: { edge: DrawingEdge; from: string; to: string }[] = [];
  const seen = new Set<string>();
  for (const edge of drawing.edges) {
    const from = representative(edge.from);
    const to = representative(edge.to);
    const key = `${from} ${to} ${edge.tensor} ${edge.change ?? ''}`;
    if (from === to || seen.has(key)) continue;
    seen.add(key);
    drawn.push({ edge, from, to });
  }
  // a representative's box id for itemOf: a collapsed module's box stands where any box inside it would
  const anyBoxOf = new Map<string, string>();
  for (const [path, inside] of insideCollapsed) anyBoxOf.set(`m:${path}`, inside[0]!.id);
  const item = (level: string, id: string): string | undefined => itemOf(level, anyBoxOf.get(id) ?? id);

  const blocks = new Map<string, Block>();
  /**
   * One level laid out. A tensor coming in to an item on the level's top row, or going out from one on
   * its bottom row, needs no port (its route runs straight to the item); the others are laid out again
   * with ports, so their routes go around what is in the way (a residual connection into a block's Add).
   */
  const layOut = (level: string): Block => {
    for (const child of children.get(level) ?? []) if (!folded.has(child)) layOut(child);
    const crossing: { port: string; item: string; key: string; entering: boolean }[] = [];
    const build = (ports: ReadonlySet<string>): InstanceType<typeof dagre.graphlib.Graph> => {
      const graph = new dagre.graphlib.Graph({ multigraph: true });
      graph.setGraph({ rankdir: 'TB', nodesep: 24, ranksep: 36, edgesep: 12, marginx: level === '' ? 16 : PAD, marginy: level === '' ? 16 : PAD });
      graph.setDefaultEdgeLabel(() => ({}));
      for (const box of sized.values()) if ((box.kind === 'module' ? box.module : boxModule.get(box.id)) === level) graph.setNode(box.id, { width: box.width, height: box.height });
      for (const child of children.get(level) ?? []) {
        if (folded.has(child)) continue;
        const block = blocks.get(child)!;
        graph.setNode(`g:${child}`, { width: block.width, height: block.height + TITLE });
      }
      crossing.length = 0;
      for (const { edge, from, to } of drawn) {
        const a = item(level, from);
        const b = item(level, to);
        if (a === b || (a === undefined && b === undefined)) continue;
        const ends: [string, string] = a !== undefined && b !== undefined ? [a, b] : a !== undefined ? [a, `p:out:${edge.tensor}`] : [`p:in:${edge.tensor}`, b!];
        const key = routeKey(ends[0], ends[1], edge.tensor);
        const port = ends.find((end) => end.startsWith('p:'));
        if (port !== undefined) {
          crossing.push({ port, item: a ?? b!, key, entering: a === undefined });
          if (!ports.has(port)) continue;
          if (!graph.hasNode(port)) graph.setNode(port, { width: 1, height: 1 });
        }
        if (!graph.hasEdge(ends[0], ends[1], key)) graph.setEdge(ends[0], ends[1], {}, key);
      }
      dagre.layout(graph);
      return graph;
    };
    let graph = build(new Set());
    const top = (id: string): number => graph.node(id).y - graph.node(id).height / 2;
    const bottom = (id: string): number => graph.node(id).y + graph.node(id).height / 2;
    const itemIds = graph.nodes();
    if (level !== '' && itemIds.length > 1) {
      const highest = Math.min(...itemIds.map(top));
      const lowest = Math.max(...itemIds.map(bottom));
      const needed = new Set(crossing.filter((c) => (c.entering ? top(c.item) > highest + 1 : bottom(c.item) < lowest - 1)).map((c) => c.port));
      if (needed.size > 0) graph = build(needed);
    }
    const corner = (id: string): Point => {
      const at = graph.node(id);
      return { x: at.x - at.width / 2, y: at.y - at.height / 2 };
    };
    const items = new Map<string, Point>();
    const childBlocks = new Map<string, Point>();
    for (const id of graph.nodes()) {
      if (id.startsWith('g:')) childBlocks.set(id.slice(2), corner(id));
      else if (!id.startsWith('p:')) items.set(id, corner(id));
    }
    const routes = new Map<string, Point[]>();
    for (const e of graph.edges()) routes.set(e.name!, ((graph.edge(e) as { points?: Point[] }).points ?? []).map((p) => ({ x: p.x, y: p.y })));
    // without a port, a tensor's route at this level is the middle of the item's top or bottom side
    for (const c of crossing) {
      if (routes.has(c.key)) continue;
      const at = graph.node(c.item);
      routes.set(c.key, [{ x: at.x, y: c.entering ? at.y - at.height / 2 : at.y + at.height / 2 }]);
    }
    const size = graph.graph();
    const block: Block = { width: Math.ceil(size.width ?? 0), height: Math.ceil(size.height ?? 0), items, blocks: childBlocks, routes };
    blocks.set(level, block);
    return block;
  };
  const root = layOut('');

  // every level's positions made absolute
  const origin = new Map<string, Point>([['', { x: 0, y: 0 }]]);
  const boxes: PlacedBox[] = [];
  const modules: PlacedModule[] = [];
  const routes = new Map<string, Point[]>();
  const place = (level: string): void => {
    const block = blocks.get(level)!;
    const at = origin.get(level)!;
    for (const [id, corner] of block.items) boxes.push({ ...sized.get(id)!, x: at.x + corner.x, y: at.y + corner.y });
    for (const [key, points] of block.routes) routes.set(`${level}|${key}`, points.map((p) => ({ x: at.x + p.x, y: at.y + p.y })));
    for (const [child, corner] of block.blocks) {
      const inner = blocks.get(child)!;
      const m = known.get(child)!;
      modules.push({ ...m, x: at.x + corner.x, y: at.y + corner.y, width: inner.width, height: inner.height + TITLE });
      origin.set(child, { x: at.x + corner.x, y: at.y + corner.y + TITLE });
      place(child);
    }
  };
  place('');

  // an edge's route: up through the modules around its source, across where both ends are, down to its reader
  const levelsAround = (id: string): string[] => {
    const module = id.startsWith('m:') ? parentOf.get(id.slice(2))! : boxModule.get(id)!;
    const chain: string[] = [];
    for (let path = module; ; path = parentOf.get(path)!) {
      chain.push(path);
      if (path === '') return chain;
    }
  };
  const edges: PlacedEdge[] = drawn.map(({ edge, from, to }) => {
    const up = levelsAround(from);
    const down = levelsAround(to);
    const common = up.find((level) => down.includes(level))!;
    const points: Point[] = [];
    for (const level of up.slice(0, up.indexOf(common))) points.push(...(routes.get(`${level}|${routeKey(item(level, from)!, `p:out:${edge.tensor}`, edge.tensor)}`) ?? []));
    points.push(...(routes.get(`${common}|${routeKey(item(common, from)!, item(common, to)!, edge.tensor)}`) ?? []));
    for (const level of down.slice(0, down.indexOf(common)).reverse()) points.push(...(routes.get(`${level}|${routeKey(`p:in:${edge.tensor}`, item(level, to)!, edge.tensor)}`) ?? []));
    return { tensor: edge.tensor, label: edge.label, ...(edge.change ? { change: edge.change } : {}), points };
  });
  return { boxes, edges, modules, diff: drawing.diff, width: root.width, height: root.height };
}

/** A route of one level's layout: between two of its items (or a port) for one tensor. */
function routeKey(from: string, to: string, tensor: string): string {
  return `${from} → ${to} : ${tensor}`;
}
