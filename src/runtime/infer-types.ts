import * as ort from 'onnxruntime-node';
import { ModsurgError } from '../cli/errors.js';
import { elemTypeByName } from '../graph/elem-type.js';
import type { TensorType } from '../graph/graph.js';

/**
 * The element types and shapes of graph outputs, as onnxruntime's shape inference sees them: the
 * model is loaded (never run) with the outputs declared untyped, and the session reports what they
 * are, symbolic dims by name. This is what keeps `add-output` from writing outputs without a type.
 */
export async function inferOutputTypes(modelBytes: Uint8Array, names: readonly string[], folder?: string): Promise<Map<string, TensorType>> {
  let session: ort.InferenceSession;
  try {
    const options: ort.InferenceSession.SessionOptions = { executionProviders: ['cpu'], graphOptimizationLevel: 'disabled' };
    // external data lies next to the model file, not next to this in-memory copy
    if (folder !== undefined) (options as { extra?: unknown }).extra = { session: { model_external_initializers_file_folder_path: folder } };
    session = await ort.InferenceSession.create(modelBytes, options);
  } catch (error) {
    throw new ModsurgError(`onnxruntime cannot load the edited model: ${(error as Error).message.split('\n')[0]}`);
  }
  const types = new Map<string, TensorType>();
  try {
    for (const meta of session.outputMetadata) {
      if (!names.includes(meta.name) || !meta.isTensor) continue;
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
