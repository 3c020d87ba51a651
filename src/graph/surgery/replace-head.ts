import type { ResolvedHead } from '../../head/layers.js';
import type { HeadParameter } from '../../head/params.js';
import { consumers, tensorNames, tensorTypeOf, valueInfoProto, type Graph, type GraphNode, type Initializer } from '../graph.js';
import { constantTensors } from '../module-scopes.js';
import { elemTypeByName } from '../elem-type.js';
import { headNodes } from './head-nodes.js';
import type { HeadSite } from './head-site.js';

/**
 * Replaces a module's nodes by a head's: the head reads what the module read and writes the tensor the
 * module wrote, so the graph output keeps its name (its declared shape becomes [batch, out_features]).
 * The module's own initializers go once nothing else reads them; the rest of the graph is untouched.
 */
export function replaceHead(graph: Graph, site: HeadSite, head: ResolvedHead, parameters: readonly HeadParameter[], opset: number): Graph {
  const removed = removableNodes(graph, site.nodes);
  const used = tensorNames(graph);
  const built = headNodes(head, parameters, { input: site.input, output: site.output, at: site.at, opset, dtype: site.dtype, used });
  // the head's nodes go where the module's first node was
  const firstIndex = graph.nodes.findIndex((n) => removed.has(n));
  const kept = graph.nodes.filter((n) => !removed.has(n));
  const nodes = [...kept.slice(0, firstIndex), ...built.nodes, ...kept.slice(firstIndex)];
  const elemType = elemTypeByName(site.dtype)!.code;
  const outputs = graph.outputs.map((output) => {
    if (output.proto.name !== site.output) return output;
    const batch = tensorTypeOf(output.proto)?.shape?.[0] ?? 'batch';
    return { proto: { ...valueInfoProto(site.output, { elemType, shape: [batch, head.outFeatures] }), ...(output.proto.doc_string ? { doc_string: output.proto.doc_string } : {}) } };
  });
  return {
    ...graph,
    nodes,
    outputs,
    initializers: [...withoutOrphans(graph, removed, nodes), ...built.initializers],
    // declared types of the module's tensors (the replaced output included) no longer hold
    valueInfo: graph.valueInfo.filter((v) => v.proto.name !== site.output && !producedBy(removed).has(v.proto.name ?? '')),
  };
}

/**
 * The module's nodes less those whose outputs the rest of the graph still reads: the constants an exporter
 * shares between modules (the classic exporter's Identity aliases of equal initializers).
 */
function removableNodes(graph: Graph, moduleNodes: readonly GraphNode[]): Set<GraphNode> {
  const removed = new Set(moduleNodes);
  const readers = consumers(graph);
  const outputs = new Set(graph.outputs.map((o) => o.proto.name ?? ''));
  const constant = constantTensors(graph);
  let changed = true;
  while (changed) {
    changed = false;
    for (const node of removed) {
      const stillRead = (node.proto.output ?? []).some(
        (o) => constant.has(o) && !outputs.has(o) && (readers.get(o) ?? []).some((reader) => !removed.has(reader)),
      );
      if (stillRead) {
        removed.delete(node);
        changed = true;
      }
    }
  }
  return removed;
}

function producedBy(nodes: ReadonlySet<GraphNode>): Set<string> {
  return new Set([...nodes].flatMap((n) => n.proto.output ?? []));
}

/** The initializers minus those only the removed nodes read: nothing else of the graph is dropped. */
function withoutOrphans(graph: Graph, removed: ReadonlySet<GraphNode>, remaining: readonly GraphNode[]): Initializer[] {
  const readByRemoved = new Set([...removed].flatMap((n) => n.proto.input ?? []));
  const stillRead = new Set(remaining.flatMap((n) => n.proto.input ?? []));
  const outputs = new Set(graph.outputs.map((o) => o.proto.name ?? ''));
  return graph.initializers.filter((i) => {
    const name = i.proto.name ?? '';
    return !readByRemoved.has(name) || stillRead.has(name) || outputs.has(name);
  });
}
