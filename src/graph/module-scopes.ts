import { ModsurgError } from '../errors.js';
import { consumers, metadataValue, subgraphHolding, type Graph, type GraphNode, type NodeProto } from './graph.js';

/**
 * The PyTorch module each node of an exported graph came from, recovered from what the exporters leave:
 *
 * - the dynamo exporter (torch.onnx.export(dynamo=True)) writes node metadata
 *   `pkg.torch.onnx.name_scopes` = "['', 'layer1', 'layer1.0', 'layer1.0.bn1', '<fx node>']": the module
 *   stack as full paths from the root (''), then the FX node; `pkg.torch.onnx.class_hierarchy` gives the
 *   class of each entry (the last is the aten op);
 * - the classic exporter names nodes `/layer1/layer1.0/conv1/Conv`: one segment per module called, each
 *   the module's path from the last non-numeric atom on (`layer1.0`, `double_conv.5`), then the op. A
 *   module called again gets `_N` on its last segment (`/layer1.0/relu_1/Relu` is `relu`'s second call);
 * - otherwise the initializers a node reads, when they are named like state-dict keys (`fc.weight` → `fc`).
 *
 * Nodes the exporter left without a scope that only compute constants (the classic exporter's
 * `Constant_86` feeding `/up1/Unsqueeze`) belong to the module that reads them.
 *
 * Module paths are state-dict style: `''` is the model itself, `layer2.0.downsample.0` a submodule.
 */

/** How a node's module was found. */
export type ScopeSource = 'name_scopes' | 'node_name' | 'initializer' | 'constant';

export interface GraphModules {
  /** The module of each node with one. */
  readonly moduleOf: ReadonlyMap<GraphNode, string>;
  readonly sourceOf: ReadonlyMap<GraphNode, ScopeSource>;
  /** Module classes by path (`models.BasicBlock`), where the exporter recorded them. */
  readonly classes: ReadonlyMap<string, string>;
  /** Every module with a node, and its ancestors, in graph order (`''` first); empty when no node has one. */
  readonly paths: readonly string[];
}

const NAME_SCOPES = 'pkg.torch.onnx.name_scopes';
const CLASS_HIERARCHY = 'pkg.torch.onnx.class_hierarchy';

/** Graphs are never mutated (edits make new ones), so a graph's modules are worked out once. */
const cache = new WeakMap<Graph, GraphModules>();

export function graphModules(graph: Graph): GraphModules {
  let modules = cache.get(graph);
  if (!modules) cache.set(graph, (modules = findModules(graph)));
  return modules;
}

/** The module a node belongs to (`''`: the model itself), or undefined when the graph does not say. */
export function moduleOfNode(node: GraphNode, graph: Graph): string | undefined {
  return graphModules(graph).moduleOf.get(node);
}

/** The nodes of a module and of its submodules, in graph order; `''` gives every node with a module. */
export function nodesOfModule(graph: Graph, modulePath: string): GraphNode[] {
  const { moduleOf } = graphModules(graph);
  return graph.nodes.filter((node) => {
    const path = moduleOf.get(node);
    return path !== undefined && isWithin(path, modulePath);
  });
}

/** True when `path` is `module` or one of its submodules. */
export function isWithin(path: string, module: string): boolean {
  return module === '' || path === module || path.startsWith(`${module}.`);
}

/**
 * What flows into and out of a module: the tensors its nodes read that are made outside it (graph inputs
 * and other modules' outputs), and the tensors it makes that are read outside it or are graph outputs.
 * Both in graph order. Constants are not part of it: initializers, and what nodes compute from constants
 * alone (the Identity aliases an exporter adds when it shares equal initializers between modules).
 */
export function moduleBoundary(graph: Graph, modulePath: string): { inputs: string[]; outputs: string[] } {
  const inside = new Set(nodesOfModule(graph, modulePath));
  const produced = new Set([...inside].flatMap((n) => n.proto.output ?? []));
  const constant = constantTensors(graph);
  const graphOutputs = new Set(graph.outputs.map((o) => o.proto.name ?? ''));
  const readers = consumers(graph);
  const inputs = new Set<string>();
  const outputs = new Set<string>();
  for (const node of inside) {
    for (const input of node.proto.input ?? []) if (input !== '' && !produced.has(input) && !constant.has(input)) inputs.add(input);
    for (const output of node.proto.output ?? []) {
      if (output === '' || constant.has(output)) continue;
      if (graphOutputs.has(output) || (readers.get(output) ?? []).some((reader) => !inside.has(reader))) outputs.add(output);
    }
  }
  return { inputs: [...inputs], outputs: [...outputs] };
}

/** The one tensor a module gives the rest of the graph (what `forward` returns). */
export function moduleOutput(graph: Graph, modulePath: string): string {
  const { outputs } = moduleBoundary(graph, modulePath);
  if (outputs.length === 1) return outputs[0]!;
  if (outputs.length === 0) {
    if (nodesOfModule(graph, modulePath).length === 0) throw new ModsurgError(`no nodes of module '${modulePath}' in the graph (see modsurg inspect for its modules)`);
    throw new ModsurgError(`module '${modulePath}' gives nothing to the rest of the graph`);
  }
  throw new ModsurgError(`module '${modulePath}' gives ${outputs.length} tensors to the rest of the graph (${outputs.join(', ')}); name one with --tensor`);
}

/** A tensor named as is (a node's output or a graph input), or else the output of the module of that path. */
export function tensorOrModuleOutput(graph: Graph, name: string): string {
  const names = new Set([...graph.nodes.flatMap((n) => n.proto.output ?? []), ...graph.inputs.map((i) => i.proto.name)]);
  if (names.has(name)) return name;
  if (nodesOfModule(graph, name).length === 0) {
    const holder = subgraphHolding(graph, name);
    if (holder) throw new ModsurgError(`'${name}' is inside the ${holder.attribute} of node ${holder.node} (${holder.op}); a surgery reads tensors of the main graph`);
    throw new ModsurgError(`'${name}' is neither a tensor nor a module of the graph (see modsurg inspect)`);
  }
  return moduleOutput(graph, name);
}

/** Tensors whose values are fixed: initializers, and outputs of nodes that read only such tensors. */
export function constantTensors(graph: Graph): Set<string> {
  let known = constantCache.get(graph);
  if (known) return known;
  known = new Set<string>(graph.initializers.map((i) => i.proto.name ?? ''));
  let grew = true;
  while (grew) {
    grew = false;
    for (const node of graph.nodes) {
      const outputs = (node.proto.output ?? []).filter((o) => o !== '');
      if (outputs.every((o) => known.has(o)) || !(node.proto.input ?? []).every((i) => i === '' || known.has(i))) continue;
      // nodes with subgraphs may read outer values their inputs do not list; RandomNormal and friends have no inputs but are not constant
      if (hasSubgraph(node.proto) || /^Random/.test(node.proto.op_type ?? '')) continue;
      for (const o of outputs) known.add(o);
      grew = true;
    }
  }
  constantCache.set(graph, known);
  return known;
}

const constantCache = new WeakMap<Graph, Set<string>>();

function hasSubgraph(node: NodeProto): boolean {
  return (node.attribute ?? []).some((a) => a.type === 5 || a.type === 10);
}

function findModules(graph: Graph): GraphModules {
  const moduleOf = new Map<GraphNode, string>();
  const sourceOf = new Map<GraphNode, ScopeSource>();
  const classes = new Map<string, string>();
  const set = (node: GraphNode, path: string, source: ScopeSource): void => {
    moduleOf.set(node, path);
    sourceOf.set(node, source);
  };
  const stateDictModules = modulesOfInitializerNames(graph);
  const classic = classicScopes(graph, stateDictModules);
  const initializerNames = new Set(graph.initializers.map((i) => i.proto.name ?? ''));
  for (const node of graph.nodes) {
    const dynamo = dynamoScope(node.proto);
    if (dynamo) {
      set(node, dynamo.path, 'name_scopes');
      for (const [path, className] of dynamo.classes) if (!classes.has(path)) classes.set(path, className);
      continue;
    }
    const named = classic.get(node);
    if (named !== undefined) {
      set(node, named, 'node_name');
      continue;
    }
    const weight = (node.proto.input ?? []).find((i) => initializerNames.has(i) && stateDictKey(i));
    if (weight !== undefined) set(node, parentPath(weight), 'initializer');
  }
  adoptConstants(graph, moduleOf, set);
  const paths = new Set<string>();
  for (const node of graph.nodes) {
    const path = moduleOf.get(node);
    if (path === undefined) continue;
    paths.add('');
    const atoms = path === '' ? [] : path.split('.');
    for (let i = 1; i <= atoms.length; i++) paths.add(atoms.slice(0, i).join('.'));
  }
  return { moduleOf, sourceOf, classes, paths: [...paths] };
}

/** A dynamo node's module (the last module on its stack) and the classes along the stack. */
function dynamoScope(node: NodeProto): { path: string; classes: [string, string][] } | undefined {
  const scopes = parsePythonStrings(metadataValue(node, NAME_SCOPES));
  // one entry only: the exporter had no module stack for this node
  if (!scopes || scopes.length < 2) return undefined;
  const modules = scopes.slice(0, -1);
  const hierarchy = parsePythonStrings(metadataValue(node, CLASS_HIERARCHY));
  const classes = hierarchy?.length === scopes.length ? modules.map((path, i): [string, string] => [path, hierarchy[i]!]) : [];
  return { path: modules[modules.length - 1]!, classes };
}

/**
 * Module paths of the classic exporter's node names. A last segment `x_N` is a repeated call of `x` when
 * the graph also has the scope `…/x`, unless `…/x_N` has scopes below it (repeated calls name their
 * children after the undecorated parent) or the initializers name a module `x_N`.
 */
function classicScopes(graph: Graph, stateDictModules: ReadonlySet<string>): Map<GraphNode, string> {
  const segmentsOf = new Map<GraphNode, string[]>();
  const scopes = new Set<string>();
  const parents = new Set<string>();
  for (const node of graph.nodes) {
    const name = node.proto.name ?? '';
    if (!name.startsWith('/')) continue;
    const parts = name.slice(1).split('/');
    if (parts.some((p) => p === '')) continue;
    const segments = parts.slice(0, -1);
    segmentsOf.set(node, segments);
    for (let i = 1; i <= segments.length; i++) {
      scopes.add(segments.slice(0, i).join('/'));
      if (i < segments.length) parents.add(segments.slice(0, i).join('/'));
    }
  }
  const result = new Map<GraphNode, string>();
  for (const [node, segments] of segmentsOf) {
    const repeated = /^(.+)_\d+$/.exec(segments[segments.length - 1] ?? '');
    let chosen = segments;
    if (repeated) {
      const base = [...segments.slice(0, -1), repeated[1]!];
      const key = segments.join('/');
      if (scopes.has(base.join('/')) && !parents.has(key) && !stateDictModules.has(pathOfSegments(segments))) chosen = base;
    }
    result.set(node, pathOfSegments(chosen));
  }
  return result;
}

/**
 * A module path from classic scope segments. Each segment is the module's path from its last non-numeric
 * atom on, so it overlaps its parent's path where a container was called (`layer2` then `layer2.0`,
 * `seq.0` then `seq.0.0`) and starts fresh below it (`layer2.0` then `downsample`) or where an uncalled
 * container (a ModuleList) was skipped (`''` then `blocks.0`).
 */
export function pathOfSegments(segments: readonly string[]): string {
  let atoms: string[] = [];
  for (const segment of segments) {
    const own = segment.split('.');
    let overlap = 0;
    for (let j = own.length - 1; j >= 1; j--) {
      if (j <= atoms.length && own.slice(0, j).every((atom, k) => atoms[atoms.length - j + k] === atom)) {
        overlap = j;
        break;
      }
    }
    atoms = [...atoms, ...own.slice(overlap)];
  }
  return atoms.join('.');
}

/** A name that looks like a state-dict key: dotted identifiers (`layer1.0.conv1.weight`). */
function stateDictKey(name: string): boolean {
  return /^[A-Za-z_]\w*(\.\w+)+$/.test(name);
}

function parentPath(key: string): string {
  return key.slice(0, key.lastIndexOf('.'));
}

/** Modules named by initializers that carry state-dict keys, with their ancestors. */
function modulesOfInitializerNames(graph: Graph): Set<string> {
  const modules = new Set<string>();
  for (const item of graph.initializers) {
    const name = item.proto.name ?? '';
    if (!stateDictKey(name)) continue;
    const atoms = parentPath(name).split('.');
    for (let i = 1; i <= atoms.length; i++) modules.add(atoms.slice(0, i).join('.'));
  }
  return modules;
}

/**
 * Nodes without a module that compute constants only (every input an initializer or another such node's
 * output) join the innermost module holding every node that reads them.
 */
function adoptConstants(
  graph: Graph,
  moduleOf: Map<GraphNode, string>,
  set: (node: GraphNode, path: string, source: ScopeSource) => void,
): void {
  const constant = constantTensors(graph);
  const constantNodes = new Set(graph.nodes.filter((node) => (node.proto.output ?? []).some((o) => o !== '' && constant.has(o))));
  const candidates = graph.nodes.filter((node) => constantNodes.has(node) && !moduleOf.has(node));
  const readers = consumers(graph);
  let adopted = true;
  while (adopted) {
    adopted = false;
    // readers come after what they read, so going backwards settles chains of constants in one pass
    for (const node of [...candidates].reverse()) {
      if (moduleOf.has(node)) continue;
      const readerModules = (node.proto.output ?? []).flatMap((o) => readers.get(o) ?? []).map((r) => moduleOf.get(r));
      if (readerModules.length === 0 || readerModules.some((m) => m === undefined)) continue;
      set(node, commonAncestor(readerModules as string[]), 'constant');
      adopted = true;
    }
  }
}

/** The innermost module holding every one of `paths` (`''` when they only share the model). */
export function commonAncestor(paths: readonly string[]): string {
  const split = paths.map((p) => (p === '' ? [] : p.split('.')));
  const common: string[] = [];
  for (let i = 0; split.every((atoms) => i < atoms.length && atoms[i] === split[0]![i]); i++) common.push(split[0]![i]!);
  return common.join('.');
}

/**
 * A Python `repr` of a list of strings (`['', 'fc', 'linear']`), as the dynamo exporter writes metadata;
 * undefined when the text is anything else.
 */
export function parsePythonStrings(text: string | undefined): string[] | undefined {
  if (text === undefined) return undefined;
  const items: string[] = [];
  let at = 0;
  const skipSpace = (): void => {
    while (at < text.length && /\s/.test(text[at]!)) at++;
  };
  skipSpace();
  if (text[at++] !== '[') return undefined;
  skipSpace();
  if (text[at] === ']') return text.slice(at + 1).trim() === '' ? items : undefined;
  for (;;) {
    skipSpace();
    const quote = text[at];
    if (quote !== "'" && quote !== '"') return undefined;
    at++;
    let value = '';
    for (;;) {
      const ch = text[at++];
      if (ch === undefined) return undefined;
      if (ch === quote) break;
      if (ch !== '\\') {
        value += ch;
        continue;
      }
      const escaped = text[at++];
      const hex = (digits: number): string | undefined => {
        const code = text.slice(at, at + digits);
        if (!new RegExp(`^[0-9a-fA-F]{${digits}}$`).test(code)) return undefined;
        at += digits;
        return String.fromCodePoint(parseInt(code, 16));
      };
      const simple: Record<string, string> = { '\\': '\\', "'": "'", '"': '"', n: '\n', t: '\t', r: '\r', a: '\x07', b: '\b', f: '\f', v: '\v', '0': '\0' };
      let decoded: string | undefined;
      if (escaped === 'x') decoded = hex(2);
      else if (escaped === 'u') decoded = hex(4);
      else if (escaped === 'U') decoded = hex(8);
      else if (escaped !== undefined) decoded = simple[escaped];
      if (decoded === undefined) return undefined;
      value += decoded;
    }
    items.push(value);
    skipSpace();
    const next = text[at++];
    if (next === ']') return text.slice(at).trim() === '' ? items : undefined;
    if (next !== ',') return undefined;
  }
}
