import type { Tensor } from 'onnxruntime-node';
import { ModsurgError } from '../errors.js';
import { ELEMENT_INFO, isElementType, isStringTensor, makeTensor, type HostTensor } from './dtypes.js';

/** Conversions between modsurg's host tensors and onnxruntime's. */

export type OrtModule = typeof import('onnxruntime-node');

export function toOrtTensor(ort: OrtModule, tensor: HostTensor): Tensor {
  if (isStringTensor(tensor)) return new ort.Tensor('string', [...tensor.data], [...tensor.shape]);
  return new ort.Tensor(tensor.dtype, tensor.data, [...tensor.shape]);
}

/** Copies an output out of onnxruntime's buffer, so it outlives the session. */
export function fromOrtTensor(name: string, tensor: Tensor): HostTensor {
  const dtype = tensor.type;
  if (tensor.location !== 'cpu' && tensor.location !== 'cpu-pinned') throw new ModsurgError(`output '${name}' stayed on the device (${tensor.location})`);
  const shape = tensor.dims.map(Number);
  const data = tensor.data;
  if (dtype === 'string') return { dtype: 'string', shape, data: [...(data as readonly string[])] };
  if (!isElementType(dtype)) throw new ModsurgError(`output '${name}' is ${dtype}, which modsurg cannot read (numeric, bool and string outputs only)`);
  if (typeof data === 'string' || Array.isArray(data)) throw new ModsurgError(`output '${name}' holds strings, not ${dtype}`);
  // A fresh buffer of the right element type; float16 may arrive as a Float16Array where the global
  // exists (Node >= 24), and its bits are kept as a Uint16Array either way.
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
  return makeTensor(dtype, shape, ELEMENT_INFO[dtype].view(bytes.buffer, 0, data.length));
}
