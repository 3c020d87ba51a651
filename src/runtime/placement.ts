/**
 * Which execution provider ran each node, read from onnxruntime's profiling trace: every `cat: "Node"`
 * event carries `args.provider` and `args.op_name`. A GPU provider silently leaves the nodes it has no
 * kernel for on the CPU; this is how we find them.
 */

export interface PlacedNode {
  readonly name: string;
  readonly op: string;
  readonly provider: string;
}

export interface Placement {
  readonly nodes: readonly PlacedNode[];
  /** Node count per provider id (`CUDAExecutionProvider`: 40). */
  readonly byProvider: Readonly<Record<string, number>>;
}

interface TraceEvent {
  cat?: unknown;
  name?: unknown;
  args?: { provider?: unknown; op_name?: unknown };
}

export function placementFromProfile(trace: unknown): Placement {
  const events = Array.isArray(trace) ? (trace as TraceEvent[]) : [];
  const seen = new Map<string, PlacedNode>();
  for (const event of events) {
    if (event.cat !== 'Node' || typeof event.name !== 'string') continue;
    const provider = event.args?.provider;
    if (typeof provider !== 'string') continue;
    // Each node has `<name>_kernel_time` (and on some versions `_fence_before`/`_fence_after`) events.
    const name = event.name.replace(/_(kernel_time|fence_before|fence_after)$/, '');
    if (!seen.has(name)) seen.set(name, { name, op: typeof event.args?.op_name === 'string' ? event.args.op_name : '?', provider });
  }
  const nodes = [...seen.values()];
  const byProvider: Record<string, number> = {};
  for (const node of nodes) byProvider[node.provider] = (byProvider[node.provider] ?? 0) + 1;
  return { nodes, byProvider };
}

/** Nodes that ran somewhere other than the provider asked for (for a GPU provider: those left on the CPU). */
export function nodesOffProvider(placement: Placement, providerId: string): PlacedNode[] {
  return placement.nodes.filter((node) => node.provider !== providerId);
}
