import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { contiguousBytes, elementPieces, type Tensor } from '../../src/checkpoint/tensor.js';

/** Element by element, as the definition says: the reference the gather is judged by. */
function reference(tensor: Tensor, storage: Uint8Array): Uint8Array {
  const size = 2;
  const numel = tensor.shape.reduce((a, b) => a * b, 1);
  const out = new Uint8Array(numel * size);
  const index = new Array<number>(tensor.shape.length).fill(0);
  for (let n = 0; n < numel; n++) {
    let element = tensor.storageOffset;
    for (let d = 0; d < index.length; d++) element += index[d]! * tensor.stride[d]!;
    out.set(storage.subarray(element * size, element * size + size), n * size);
    for (let d = index.length - 1; d >= 0; d--) {
      if (++index[d]! < tensor.shape[d]!) break;
      index[d] = 0;
    }
  }
  return out;
}

describe('views gathered from their storage', () => {
  it('strided, expanded and transposed views, in any chunk size, give the elements in row-major order', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ dim: fc.integer({ min: 0, max: 5 }), stride: fc.integer({ min: 0, max: 6 }) }), { maxLength: 4 }),
        fc.integer({ min: 0, max: 5 }),
        fc.integer({ min: 1, max: 9 }),
        (dims, offset, chunk) => {
          const shape = dims.map((d) => d.dim);
          const stride = dims.map((d) => d.stride);
          const reach = offset + shape.reduce((at, dim, i) => at + Math.max(0, dim - 1) * stride[i]!, 0) + 1;
          const storage = Uint8Array.from({ length: reach * 2 }, (_, i) => (i * 37 + 11) & 0xff);
          const tensor: Tensor = {
            dtype: 'float16',
            shape,
            stride,
            storageOffset: offset,
            storage: { key: '0', dtype: 'float16', numel: reach, location: 'cpu', data: { kind: 'bytes', bytes: storage } },
            requiresGrad: false,
            parameter: false,
          };
          const expected = Buffer.from(reference(tensor, storage));
          expect(Buffer.from(contiguousBytes(tensor))).toEqual(expected);
          // each piece is valid until the next is taken: copied as it comes
          const pieces: Buffer[] = [];
          for (const piece of elementPieces(tensor, chunk)) pieces.push(Buffer.from(piece));
          expect(Buffer.concat(pieces)).toEqual(expected);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('a 2^28-element expanded view of one element streams in chunks without holding the view', () => {
    const one = Buffer.from([0x00, 0x3c]); // float16 1.0
    const tensor: Tensor = {
      dtype: 'float16',
      shape: [2 ** 28],
      stride: [0],
      storageOffset: 0,
      storage: { key: '0', dtype: 'float16', numel: 1, location: 'cpu', data: { kind: 'bytes', bytes: one } },
      requiresGrad: false,
      parameter: false,
    };
    let total = 0;
    let pieces = 0;
    for (const piece of elementPieces(tensor, 1 << 22)) {
      if (pieces === 0) expect(Buffer.from(piece.subarray(0, 8))).toEqual(Buffer.from([0, 0x3c, 0, 0x3c, 0, 0x3c, 0, 0x3c]));
      total += piece.length;
      pieces++;
    }
    expect(total).toBe(2 ** 29);
    expect(pieces).toBe(64);
  });
});
