import { ModsurgError } from '../../errors.js';
import type { DType } from '../../checkpoint/dtype.js';
import type { ResolvedHead } from '../../head/layers.js';
import type { HeadParameter } from '../../head/params.js';
import { headNodes } from './head-nodes.js';
import { producers, subgraphHolding, tensorNames, uniqueName, valueInfoProto, type Graph, type GraphNode, type ValueInfo, type ValueType } from '../graph.js';

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
    if (!producedBy.has(request.tensor) && !known.has(request.tensor)) throw missingTensor(graph, request.tensor);
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

export interface HeadOutputRequest {
  /** T: the tensor the head reads. */
  readonly tensor: string;
  /** The new graph output: head(T). */
  readonly as: string;
  readonly head: ResolvedHead;
  readonly parameters: readonly HeadParameter[];
  readonly dtype: DType;
  readonly opset: number;
}

/**
 * A new graph output computed by a head on T, after the original outputs, which stay as they are: the
 * tutorial's `x10 = output(fc1(dropout(relu(x1000))))` returned beside `x1000`. The head's parameters are
 * named like its state-dict keys at the top level (`fc1.weight`). Untyped until `typeOutputs`.
 */
export function addHeadOutput(graph: Graph, request: HeadOutputRequest): { graph: Graph; added: string[] } {
  const producedBy = producers(graph);
  if (!producedBy.has(request.tensor) && !graph.inputs.some((i) => i.proto.name === request.tensor)) throw missingTensor(graph, request.tensor);
  const used = tensorNames(graph);
  if (used.has(request.as)) throw new ModsurgError(`the name '${request.as}' is already used in the graph; choose another with --as`);
  used.add(request.as);
  const built = headNodes(request.head, request.parameters, { input: request.tensor, output: request.as, at: '', opset: request.opset, dtype: request.dtype, used });
  return {
    graph: {
      ...graph,
      nodes: [...graph.nodes, ...built.nodes],
      initializers: [...graph.initializers, ...built.initializers],
      outputs: [...graph.outputs, { proto: { name: request.as } }],
    },
    added: [request.as],
  };
}

/** A tensor the main graph does not have: inside a node's branch or body, or nowhere. */
export function missingTensor(graph: Graph, tensor: string): ModsurgError {
  const holder = subgraphHolding(graph, tensor);
  if (holder) {
    return new ModsurgError(
      `'${tensor}' is inside the ${holder.attribute} of node ${holder.node} (${holder.op}); only tensors of the main graph can be its outputs`,
    );
  }
  return new ModsurgError(`no tensor named '${tensor}' in the graph`);
}

/** Gives outputs their inferred types; an output whose type could not be inferred is an error. */
export function typeOutputs(graph: Graph, names: readonly string[], types: ReadonlyMap<string, ValueType>): Graph {
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
