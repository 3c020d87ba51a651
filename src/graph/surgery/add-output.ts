import { ModsurgError } from '../../cli/errors.js';
import { producers, tensorNames, uniqueName, valueInfoProto, type Graph, type GraphNode, type TensorType, type ValueInfo } from '../graph.js';

/** A tensor to expose as a graph output, optionally under another name. */
export interface OutputRequest {
  readonly tensor: string;
  readonly as?: string;
}

/**
 * Exposes intermediate tensors as extra graph outputs, after the original ones (which stay first and
 * unchanged). `--as` renames through an Identity node, so the tensor keeps its name for its consumers.
 * The new outputs have no type yet: the caller fills them in with `typeOutputs` once inferred.
 */
export function addOutputs(graph: Graph, requests: readonly OutputRequest[]): { graph: Graph; added: string[] } {
  const producedBy = producers(graph);
  const known = new Set([...graph.inputs.map((i) => i.proto.name), ...graph.initializers.map((i) => i.proto.name)]);
  const existing = new Set(graph.outputs.map((o) => o.proto.name));
  const used = tensorNames(graph);
  const nodes: GraphNode[] = [...graph.nodes];
  const outputs: ValueInfo[] = [...graph.outputs];
  const added: string[] = [];
  for (const request of requests) {
    if (!producedBy.has(request.tensor) && !known.has(request.tensor)) {
      throw new ModsurgError(`no tensor named '${request.tensor}' in the graph`);
    }
    let name = request.tensor;
    if (request.as !== undefined && request.as !== request.tensor) {
      if (used.has(request.as)) throw new ModsurgError(`the name '${request.as}' is already used in the graph`);
      used.add(request.as);
      nodes.push({ proto: { name: uniqueName(used, `modsurg_output_${request.as}`), op_type: 'Identity', input: [request.tensor], output: [request.as] } });
      name = request.as;
    }
    if (existing.has(name)) throw new ModsurgError(`'${name}' is already a graph output`);
    existing.add(name);
    outputs.push({ proto: { name } });
    added.push(name);
  }
  return { graph: { ...graph, nodes, outputs }, added };
}

/** Gives outputs their inferred types; an output whose type could not be inferred is an error. */
export function typeOutputs(graph: Graph, names: readonly string[], types: ReadonlyMap<string, TensorType>): Graph {
  const wanted = new Set(names);
  return {
    ...graph,
    outputs: graph.outputs.map((output) => {
      const name = output.proto.name ?? '';
      if (!wanted.has(name)) return output;
      const type = types.get(name);
      if (!type) throw new ModsurgError(`could not infer the type of output '${name}'`);
      return { proto: valueInfoProto(name, type) };
    }),
  };
}
