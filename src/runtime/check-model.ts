import type { InferenceSession } from 'onnxruntime-node';
import { ModsurgError } from '../cli/errors.js';
import { elemTypeByName, INT64 } from '../graph/elem-type.js';
import { isTensorValueType, tensorNames, uniqueName, type Graph, type TensorType, type ValueType } from '../graph/graph.js';
import { unreachableFromStdin } from '../graph/external-data.js';
import { readTensorFields } from '../graph/initializers.js';
import { encodeOnnxModel, type OnnxModel } from '../graph/model.js';
import { addOutputs } from '../graph/surgery/add-output.js';
import { loadOrt } from './session.js';

/** onnxruntime refused a model. */
export class ModelLoadError extends ModsurgError {
  override name = 'ModelLoadError';
}

/**
 * Loads a model in onnxruntime without running it: the proof that an edited model is one onnxruntime
 * accepts (types and shapes checked through its whole graph), and onnxruntime's shape inference for
 * its outputs, symbolic dims by name. External data is read from the folder of the model it came from.
 */
export async function onnxruntimeOutputTypes(model: OnnxModel): Promise<Map<string, ValueType>> {
  // from bytes, onnxruntime would look for the data in the working folder, where it may find another file
  if (model.folder === undefined) {
    const external = model.graph.initializers.map(readTensorFields).find((t) => t.data.kind === 'external');
    if (external?.data.kind === 'external') {
      throw unreachableFromStdin(external.name, external.data.ref.location);
    }
  }
  const ort = await loadOrt();
  let session: InferenceSession;
  try {
    // basic optimisations (constant folding) as any session has them: with none, onnxruntime cannot even
    // type some valid float16 graphs (its InsertedPrecisionFreeCast nodes)
    const options: InferenceSession.SessionOptions = { executionProviders: ['cpu'], graphOptimizationLevel: 'basic', logSeverityLevel: 4 };
    // external data lies next to the model file, not next to this in-memory copy
    if (model.folder !== undefined) (options as { extra?: unknown }).extra = { session: { model_external_initializers_file_folder_path: model.folder } };
    session = await ort.InferenceSession.create(Buffer.concat(encodeOnnxModel(model)), options);
  } catch (error) {
    throw new ModelLoadError(`onnxruntime cannot load the model: ${(error as Error).message.split('\n')[0]}`);
  }
  const types = new Map<string, ValueType>();
  const containers: string[] = [];
  try {
    for (const meta of session.outputMetadata) {
      if (!meta.isTensor) {
        containers.push(meta.name);
        continue;
      }
      const elem = elemTypeByName(String(meta.type));
      if (!elem) continue;
      const shape = meta.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : typeof d === 'string' && d !== '' ? d : undefined));
      types.set(meta.name, { elemType: elem.code, shape });
    }
  } finally {
    await session.release();
  }
  for (const name of containers) {
    const type = await containerType(model, name);
    if (type) types.set(name, type);
  }
  // onnxruntime-node gives [] both for a scalar and for a shape it does not know
  for (const [name, type] of types) {
    if (isTensorValueType(type) && type.shape?.length === 0) types.set(name, await scalarOrUnknown(model, name, type));
  }
  return types;
}

/** A tensor onnxruntime reported with dims []: a scalar when its Shape has 0 elements, else of unknown shape. */
async function scalarOrUnknown(model: OnnxModel, name: string, type: TensorType): Promise<TensorType> {
  const used = tensorNames(model.graph);
  const shape = uniqueName(used, `${name}_shape`);
  const graph: Graph = {
    ...model.graph,
    nodes: [...model.graph.nodes, { proto: { op_type: 'Shape', input: [name], output: [shape], name: uniqueName(used, `${name}_shape_probe`) } }],
    outputs: [{ proto: { name: shape } }],
  };
  try {
    const probed = (await onnxruntimeOutputTypes({ ...model, graph })).get(shape);
    if (probed && isTensorValueType(probed) && probed.shape?.length === 1) {
      const rank = probed.shape[0];
      if (rank === 0) return type;
      if (typeof rank === 'number') return { elemType: type.elemType, shape: new Array<undefined>(rank).fill(undefined) };
    }
  } catch (error) {
    if (!(error instanceof ModelLoadError)) throw error;
  }
  return { elemType: type.elemType };
}

/**
 * What a sequence or an optional output holds: onnxruntime-node says only that it is no tensor, so a copy
 * of the model reads one element of it (SequenceAt, OptionalGetElement) as its only output, whose type
 * onnxruntime then infers.
 */
async function containerType(model: OnnxModel, name: string): Promise<ValueType | undefined> {
  const probes: [op: string, wrap: (inner: ValueType) => ValueType][] = [
    ['SequenceAt', (inner) => ({ sequenceOf: inner })],
    ['OptionalGetElement', (inner) => ({ optionalOf: inner })],
  ];
  for (const [op, wrap] of probes) {
    const used = tensorNames(model.graph);
    const element = uniqueName(used, `${name}_element`);
    const index = uniqueName(used, `${name}_element_index`);
    const graph: Graph = {
      ...model.graph,
      nodes: [...model.graph.nodes, { proto: { op_type: op, input: op === 'SequenceAt' ? [name, index] : [name], output: [element], name: uniqueName(used, `${name}_probe`) } }],
      initializers: [...model.graph.initializers, { proto: { name: index, dims: [], data_type: INT64, raw_data: new Uint8Array(8) } }],
      outputs: [{ proto: { name: element } }],
    };
    try {
      const inner = (await onnxruntimeOutputTypes({ ...model, graph })).get(element);
      if (inner) return wrap(inner);
    } catch (error) {
      if (!(error instanceof ModelLoadError)) throw error;
    }
  }
  return undefined;
}

/** A tensor's type as onnxruntime infers it, through an in-memory copy that has it as an output. */
export async function onnxruntimeTypeOf(model: OnnxModel, tensor: string): Promise<TensorType> {
  const probe = model.graph.outputs.some((o) => o.proto.name === tensor) ? model.graph : addOutputs(model.graph, [{ tensor }]).graph;
  const type = (await onnxruntimeOutputTypes({ ...model, graph: probe })).get(tensor);
  if (!type || !isTensorValueType(type)) throw new ModsurgError(`onnxruntime cannot tell the type of '${tensor}'${type ? ' (it is not a tensor)' : ''}`);
  return type;
}
