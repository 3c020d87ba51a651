import { chunksOf, readRange, type ByteRange } from '../io/byte-source.js';
import { dtypeInfo, type DType } from './dtype.js';

/**
 * A block of raw tensor bytes, as a file stores it: one torch storage record, or one safetensors slice.
 * Tensors point into storages; several tensors (views) may share one. The bytes stay in the input file
 * (`data`) until a writer copies them, or are computed (`bytes`) when an edit made new values.
 */
export interface Storage {
  /** The storage's name in its file: a zip record key (`0`, `94290443540704`) or a legacy key. */
  readonly key: string;
  readonly dtype: DType;
  /** Elements of `dtype` the storage holds. */
  readonly numel: number;
  /** The device string it was saved from (`cpu`, `cuda:1`); informational, always written as `cpu`. */
  readonly location: string;
  readonly data: StorageData;
}

export type StorageData =
  | { readonly kind: 'range'; readonly range: ByteRange }
  | { readonly kind: 'bytes'; readonly bytes: Uint8Array }
  /**
   * Made on demand when written (a dtype cast), in pieces: edits never hold every new tensor at once,
   * nor one large tensor whole. `from`: the storage the bytes are computed from (a cast's original),
   * so a sharded output keeps a cast tensor in the shard its original came from.
   */
  | { readonly kind: 'computed'; readonly chunks: () => Iterable<Uint8Array>; readonly from?: Storage };

/** How torch rebuilt a tensor, kept so a rewrite says the same. */
export interface Tensor {
  readonly dtype: DType;
  readonly shape: readonly number[];
  /** In elements, as torch counts them. */
  readonly stride: readonly number[];
  /** In elements from the start of the storage. */
  readonly storageOffset: number;
  readonly storage: Storage;
  readonly requiresGrad: boolean;
  /** Saved as an `nn.Parameter` (`_rebuild_parameter`). */
  readonly parameter: boolean;
}

export function storageBytes(storage: Storage): number {
  return storage.numel * dtypeInfo(storage.dtype).size;
}

export function numelOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Row-major strides for a shape: what a contiguous tensor has. */
export function contiguousStride(shape: readonly number[]): number[] {
  const stride = new Array<number>(shape.length);
  let step = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    stride[i] = step;
    step *= Math.max(shape[i]!, 1);
  }
  return stride;
}

/** True when the tensor covers its whole storage in row-major order (what safetensors can hold as is). */
export function coversStorageContiguously(tensor: Tensor): boolean {
  const numel = numelOf(tensor.shape);
  if (tensor.storageOffset !== 0 || numel !== tensor.storage.numel) return false;
  return isContiguous(tensor);
}

export function isContiguous(tensor: Pick<Tensor, 'shape' | 'stride'>): boolean {
  const expected = contiguousStride(tensor.shape);
  return tensor.shape.every((dim, i) => dim <= 1 || tensor.stride[i] === expected[i]);
}

/** Bytes of a storage, read whole (only for small storages or when values must be computed on). */
export function readStorage(storage: Storage): Uint8Array {
  switch (storage.data.kind) {
    case 'bytes':
      return storage.data.bytes;
    case 'computed':
      return Buffer.concat([...storage.data.chunks()]);
    case 'range':
      return readRange(storage.data.range);
  }
}

/**
 * The tensor's elements in row-major order, `elements` at a time (the last piece shorter), each piece
 * valid until the next is taken: how a large tensor is compared or converted without holding it whole.
 * A contiguous tensor of a file is read range by range; a strided or expanded view is gathered a chunk at a time.
 */
export function* elementPieces(tensor: Tensor, elements: number): Generator<Uint8Array> {
  const size = dtypeInfo(tensor.dtype).size;
  const length = numelOf(tensor.shape) * size;
  if (tensor.storage.data.kind === 'range' && isContiguous(tensor)) {
    const range = tensor.storage.data.range;
    const start = tensor.storageOffset * size;
    yield* chunksOf(start === 0 && length === range.length ? range : { source: range.source, offset: range.offset + start, length }, elements * size);
    return;
  }
  yield* gathered(tensor, Math.max(1, elements));
}

/**
 * A view's elements in row-major order, gathered from its storage `elements` at a time into one reused
 * buffer: rows of stride 1 are copied whole, rows of stride 0 (an expanded view) filled by doubling, so a
 * 630-byte file holding a 2^28-element expanded view costs one chunk of memory and a few copies per chunk.
 */
function* gathered(tensor: Tensor, elements: number): Generator<Uint8Array> {
  const size = dtypeInfo(tensor.dtype).size;
  const numel = numelOf(tensor.shape);
  if (numel === 0) return;
  const source = readStorage(tensor.storage);
  const dims = tensor.shape.length;
  const rowLength = dims === 0 ? 1 : tensor.shape[dims - 1]!;
  const rowStride = dims === 0 ? 0 : tensor.stride[dims - 1]!;
  const chunk = Buffer.allocUnsafe(Math.min(elements, numel) * size);
  let filled = 0;
  // the index of the current row over the dimensions before the last
  const index = new Array<number>(Math.max(0, dims - 1)).fill(0);
  for (let done = 0; done < numel; done += rowLength) {
    let first = tensor.storageOffset;
    for (let d = 0; d < index.length; d++) first += index[d]! * tensor.stride[d]!;
    // this row, in as many pieces as the chunk's room asks
    for (let at = 0; at < rowLength; ) {
      const take = Math.min(rowLength - at, chunk.length / size - filled);
      const into = filled * size;
      const from = (first + at * rowStride) * size;
      if (rowStride === 1) chunk.set(source.subarray(from, from + take * size), into);
      else if (rowStride === 0) {
        chunk.set(source.subarray(from, from + size), into);
        for (let have = 1; have < take; have *= 2) chunk.copyWithin(into + have * size, into, into + Math.min(have, take - have) * size);
      } else for (let k = 0; k < take; k++) chunk.set(source.subarray(from + k * rowStride * size, from + k * rowStride * size + size), into + k * size);
      filled += take;
      at += take;
      if (filled * size === chunk.length) {
        yield chunk;
        filled = 0;
      }
    }
    for (let d = index.length - 1; d >= 0; d--) {
      if (++index[d]! < tensor.shape[d]!) break;
      index[d] = 0;
    }
  }
  if (filled > 0) yield chunk.subarray(0, filled * size);
}

/**
 * The tensor's elements in row-major order as bytes: a plain slice of the storage when contiguous,
 * gathered for strided and expanded views.
 */
export function contiguousBytes(tensor: Tensor): Uint8Array {
  const size = dtypeInfo(tensor.dtype).size;
  const numel = numelOf(tensor.shape);
  if (isContiguous(tensor)) {
    const start = tensor.storageOffset * size;
    const length = numel * size;
    if (tensor.storage.data.kind !== 'range') return readStorage(tensor.storage).subarray(start, start + length);
    const range = tensor.storage.data.range;
    return start === 0 && length === range.length ? readRange(range) : range.source.read(range.offset + start, length);
  }
  const out = new Uint8Array(numel * size);
  let at = 0;
  for (const piece of gathered(tensor, Math.max(1, numel))) {
    out.set(piece, at);
    at += piece.length;
  }
  return out;
}
