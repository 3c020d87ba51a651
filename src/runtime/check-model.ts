import * as ort from 'onnxruntime-node';
import { ModsurgError } from '../cli/errors.js';
import { elemTypeByName } from '../graph/elem-type.js';
import type { TensorType } from '../graph/graph.js';
import { unreachableFromStdin } from '../graph/external-data.js';
import { readTensorFields } from '../graph/initializers.js';
import { encodeOnnxModel, type OnnxModel } from '../graph/model.js';
import { addOutputs } from '../graph/surgery/add-output.js';

/** onnxruntime refused a model. */
export class ModelLoadError extends ModsurgError {
  override name = 'ModelLoadError';
}

/**
 * Loads a model in onnxruntime without running it: the proof that an edited model is one onnxruntime
 * accepts (types and shapes checked through its whole graph), and onnxruntime's shape inference for
 * its outputs, symbolic dims by name. External data is read from the folder of the model it came from.
 */
export async function onnxruntimeOutputTypes(model: OnnxModel): Promise<Map<string, TensorType>> {
  // from bytes, onnxruntime would look for the data in the working folder, where it may find another file
  if (model.folder === undefined) {
    const external = model.graph.initializers.map(readTensorFields).find((t) => t.data.kind === 'external');
    if (external?.data.kind === 'external') {
      throw unreachableFromStdin(external.name, external.data.ref.location);
    }
  }
  let session: ort.InferenceSession;
  try {
    const options: ort.InferenceSession.SessionOptions = { executionProviders: ['cpu'], graphOptimizationLevel: 'disabled' };
    // external data lies next to the model file, not next to this in-memory copy
    if (model.folder !== undefined) (options as { extra?: unknown }).extra = { session: { model_external_initializers_file_folder_path: model.folder } };
    session = await ort.InferenceSession.create(Buffer.concat(encodeOnnxModel(model)), options);
  } catch (error) {
    throw new ModelLoadError(`onnxruntime cannot load the model: ${(error as Error).message.split('\n')[0]}`);
  }
  const types = new Map<string, TensorType>();
  try {
    for (const meta of session.outputMetadata) {
      if (!meta.isTensor) continue;
      const elem = elemTypeByName(String(meta.type));
      if (!elem) continue;
      const shape = meta.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : typeof d === 'string' && d !== '' ? d : undefined));
      types.set(meta.name, { elemType: elem.code, shape });
    }
  } finally {
    await session.release();
  }
  return types;
}

/** A tensor's type as onnxruntime infers it, through an in-memory copy that has it as an output. */
export async function onnxruntimeTypeOf(model: OnnxModel, tensor: string): Promise<TensorType> {
  const probe = model.graph.outputs.some((o) => o.proto.name === tensor) ? model.graph : addOutputs(model.graph, [{ tensor }]).graph;
  const type = (await onnxruntimeOutputTypes({ ...model, graph: probe })).get(tensor);
  if (!type) throw new ModsurgError(`onnxruntime cannot tell the type of '${tensor}'`);
  return type;
}
