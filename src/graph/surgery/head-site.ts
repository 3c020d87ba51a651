import { ModsurgError } from '../../errors.js';
import type { DType } from '../../checkpoint/dtype.js';
import { dtypeFromTorchName } from '../../checkpoint/dtype.js';
import { elemTypeInfo } from '../elem-type.js';
import { attribute, producers, type Graph, type GraphNode } from '../graph.js';
import { constantTensors, graphModules, moduleBoundary, moduleOfNode, nodesOfModule } from '../module-scopes.js';

/** Where a head goes in a graph: the module it replaces and the tensors around it. */
export interface HeadSite {
  /** The module path (`fc`, `classifier.3`). */
  readonly at: string;
  readonly nodes: readonly GraphNode[];
  /** The one tensor the module reads from the rest of the graph. */
  readonly input: string;
  /** The one tensor it gives the rest of the graph (usually the graph output). */
  readonly output: string;
  /** Features the module's weight takes, when it has a Linear-like weight. */
  readonly inFeatures: number | undefined;
  /** The dtype of that weight: the new head's parameters take it. */
  readonly dtype: DType;
}

const linearOps = new Set(['Gemm', 'MatMul']);

/**
 * Finds the module to replace: `--at MODULE`, or by default the module of the last Gemm/MatMul that a
 * graph output depends on (the classifier of most models: fc, classifier, head).
 */
export function findHeadSite(graph: Graph, at: string | undefined): HeadSite {
  const module = at ?? defaultHeadModule(graph);
  const nodes = nodesOfModule(graph, module);
  if (nodes.length === 0) {
    const known = graphModules(graph).paths.filter((p) => p !== '' && !p.includes('.'));
    throw new ModsurgError(`no nodes of module '${module}' in the graph${known.length > 0 ? ` (top-level modules: ${known.join(', ')})` : ''}`);
  }
  const { inputs, outputs } = moduleBoundary(graph, module);
  if (inputs.length !== 1) throw new ModsurgError(`module '${module}' reads ${inputs.length} tensors from the rest of the graph (${inputs.join(', ')}); a head takes one`);
  if (outputs.length !== 1) throw new ModsurgError(`module '${module}' gives ${outputs.length} tensors to the rest of the graph (${outputs.join(', ')}); a head gives one`);
  const initializers = new Map(graph.initializers.map((i) => [i.proto.name ?? '', i]));
  let inFeatures: number | undefined;
  let dtype: DType = 'float32';
  const linear = nodes.find((n) => linearOps.has(n.proto.op_type ?? ''));
  if (linear) {
    const weight = initializers.get(linear.proto.input?.[1] ?? '');
    const dims = weight?.proto.dims ?? [];
    if (weight && dims.length === 2) {
      const transposed = linear.proto.op_type === 'Gemm' && (attribute(linear.proto, 'transB')?.i ?? 0) === 1;
      inFeatures = transposed ? dims[1] : dims[0];
      dtype = dtypeFromTorchName(elemTypeInfo(weight.proto.data_type ?? 1).name) ?? 'float32';
    }
  }
  // the new head receives what the old weight layer received: reshapes the exporter put inside the module's
  // scope (the dynamo exporter puts a flatten's Reshape into timm's classifier) stay
  const reshapes = linear ? reshapesBefore(graph, nodes, linear.proto.input?.[0] ?? '', inputs[0]!) : [];
  const input = reshapes.length > 0 ? linear!.proto.input![0]! : inputs[0]!;
  return { at: module, nodes: nodes.filter((n) => !reshapes.includes(n)), input, output: outputs[0]!, inFeatures, dtype };
}

const shapeOps = new Set(['Reshape', 'Flatten', 'Squeeze', 'Unsqueeze', 'Identity']);

/**
 * The module's nodes between its input and `tensor` when they only change its shape (each reads the
 * chain's tensor and constants); empty when something else computes `tensor`.
 */
function reshapesBefore(graph: Graph, moduleNodes: readonly GraphNode[], tensor: string, moduleInput: string): GraphNode[] {
  const producedBy = producers(graph);
  const inside = new Set(moduleNodes);
  const constant = constantTensors(graph);
  const chain: GraphNode[] = [];
  let current = tensor;
  while (current !== moduleInput) {
    const node = producedBy.get(current);
    if (!node || !inside.has(node) || !shapeOps.has(node.proto.op_type ?? '')) return [];
    const [data, ...rest] = node.proto.input ?? [];
    if (data === undefined || !rest.every((i) => i === '' || constant.has(i))) return [];
    chain.push(node);
    current = data;
  }
  return chain;
}

function defaultHeadModule(graph: Graph): string {
  const producedBy = producers(graph);
  // walk back from the first graph output to the nearest Gemm/MatMul
  const seen = new Set<string>();
  const queue = graph.outputs.slice(0, 1).map((o) => o.proto.name ?? '');
  while (queue.length > 0) {
    const tensor = queue.shift()!;
    if (seen.has(tensor)) continue;
    seen.add(tensor);
    const node = producedBy.get(tensor);
    if (!node) continue;
    if (linearOps.has(node.proto.op_type ?? '')) {
      const module = moduleOfNode(node, graph);
      if (module === undefined || module === '') throw new ModsurgError(`the last Linear-like node (${node.proto.name ?? node.proto.op_type}) belongs to no module; name one with --at`);
      return module;
    }
    queue.push(...(node.proto.input ?? []));
  }
  throw new ModsurgError('found no Gemm or MatMul before the graph output to replace; name the module with --at');
}
