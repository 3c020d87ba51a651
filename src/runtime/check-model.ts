import type { InferenceSession } from 'onnxruntime-node';
import { ModsurgError } from '../errors.js';
import { elemTypeByName, INT64 } from '../graph/elem-type.js';
import { readStorage } from '../checkpoint/tensor.js';
import { isTensorValueType, tensorNames, uniqueName, type Graph, type Initializer, type TensorType, type ValueInfo, type ValueType } from '../graph/graph.js';
import { ExternalDataFiles } from '../graph/external-data.js';
import { initializerBytes, initializerWithRawData, readTensorFields } from '../graph/initializers.js';
import { encodeOnnxModel, type OnnxModel } from '../graph/model.js';
import { materialize, pieceLength } from '../io/pieces.js';
import { addOutputs } from '../graph/surgery/add-output.js';
import { firstLine } from './providers.js';
import { loadOrt } from './session.js';

/** onnxruntime refused a model. */
export class ModelLoadError extends ModsurgError {
  override name = 'ModelLoadError';
}

/** Initializers this large are weights: the weightless copy onnxruntime checks declares them as inputs. */
const WEIGHT_BYTES = 64 << 10;

/**
 * Loads a model in onnxruntime without running it: the proof that an edited model is one onnxruntime
 * accepts (types and shapes checked through its whole graph), and onnxruntime's shape inference for
 * its outputs, symbolic dims by name. It loads a weightless copy (`weightless`), so a model of any size
 * is checked in the memory and time its graph takes.
 */
export async function onnxruntimeOutputTypes(model: OnnxModel): Promise<Map<string, ValueType>> {
  const ort = await loadOrt();
  const shadow = weightless(model);
  let session: InferenceSession;
  try {
    // basic optimisations (constant folding) as any session has them: with none, onnxruntime cannot even
    // type some valid float16 graphs (its InsertedPrecisionFreeCast nodes)
    const options: InferenceSession.SessionOptions = { executionProviders: ['cpu'], graphOptimizationLevel: 'basic', logSeverityLevel: 4 };
    session = await ort.InferenceSession.create(materialize(encodeOnnxModel(shadow)), options);
  } catch (error) {
    throw new ModelLoadError(`onnxruntime cannot load the model: ${firstLine((error as Error).message)}`);
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

/**
 * The model as onnxruntime types it, without its weights: each initializer of 64 KiB or more, and each
 * kept in external data that cannot be read, becomes a graph input of its element type and shape (types
 * and shapes come out the same); smaller ones (shapes, axes, scales, whose values inference may use) stay,
 * external ones read in. Nothing of the weights is read or copied.
 */
function weightless(model: OnnxModel): OnnxModel {
  const { graph } = model;
  const declared = new Set(graph.inputs.map((i) => i.proto.name ?? ''));
  const inputs: ValueInfo[] = [...graph.inputs];
  const initializers: Initializer[] = [];
  const external = new ExternalDataFiles(model.folder, 'model');
  try {
    for (const item of graph.initializers) {
      const fields = readTensorFields(item);
      const length = fields.data.kind === 'raw' ? pieceLength(fields.data.bytes) : fields.data.kind === 'external' ? (fields.data.ref.length ?? Infinity) : 0;
      if (length < WEIGHT_BYTES && fields.data.kind !== 'external') {
        initializers.push(item);
        continue;
      }
      if (length < WEIGHT_BYTES && model.folder !== undefined) {
        try {
          const bytes = initializerBytes(fields, { external: external.opener });
          initializers.push(initializerWithRawData(item, readStorage({ key: '', dtype: 'uint8', numel: bytes.length, location: 'cpu', data: bytes.data })));
          continue;
        } catch {
          // unreadable here: typed as an input, as the large ones are
        }
      }
      if (declared.has(fields.name)) continue;
      inputs.push({ proto: { name: fields.name, type: { tensor_type: { elem_type: fields.elemType, shape: { dim: fields.dims.map((d) => ({ dim_value: d })) } } } } });
    }
  } finally {
    external.close();
  }
  return { ...model, graph: { ...graph, inputs, initializers } };
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
