import { isFloating } from './dtype.js';
import { decode, encodeFloats, type CastTarget } from './numeric.js';
import { mapValues, type PyValue } from './pickle/value.js';
import { storageChunks } from './storage-io.js';
import type { Storage, Tensor } from './tensor.js';

/**
 * Casts every floating-point tensor to `target` (round to nearest even). Storages are cast whole, so views
 * keep their offsets and strides and keep sharing; the new bytes are computed only when written, a piece
 * at a time.
 */
export function castFloatingTensors(root: PyValue, target: CastTarget): { root: PyValue; cast: number } {
  const storages = new Map<Storage, Storage>();
  let cast = 0;
  const castStorage = (storage: Storage): Storage => {
    let result = storages.get(storage);
    if (!result) {
      // piece by piece: pieces of a storage hold whole elements, so each casts on its own
      const chunks = function* (): Generator<Uint8Array> {
        for (const chunk of storageChunks(storage)) yield encodeFloats(target, decode(storage.dtype, chunk));
      };
      result = { ...storage, dtype: target, data: { kind: 'computed', chunks, from: storage } };
      storages.set(storage, result);
    }
    return result;
  };
  const result = mapValues(root, (value) => {
    if (value.kind !== 'tensor' || !isFloating(value.tensor.dtype) || value.tensor.dtype === target) return undefined;
    cast++;
    const tensor: Tensor = { ...value.tensor, dtype: target, storage: castStorage(value.tensor.storage) };
    return { kind: 'tensor', tensor };
  });
  return { root: result, cast };
}
