import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { halfToNumber, numberToHalf, numberToHalfDirect } from '../../src/checkpoint/numeric.js';
import { ELEMENT_INFO, ELEMENT_TYPES, makeTensor, numericTensor, type ElementType, type HostTensor, type NumericTensor } from '../../src/runtime/dtypes.js';
import { encodeNpy, parseNpy } from '../../src/runtime/npy.js';
import { readNpzFile, writeNpzFile } from '../../src/runtime/tensor-files.js';
import { toFloat64 } from '../../src/runtime/values.js';
import { npyData, scratch } from './helpers.js';

interface Expected {
  [dtype: string]: { shape: number[]; values: number[] };
}
const expected = JSON.parse(readFileSync(npyData('expected.json'), 'utf8')) as Expected & {
  float16_from_float64: { inputs: number[]; bits: number[] };
};

const read = (name: string): NumericTensor => numericTensor(parseNpy(readFileSync(npyData(name))), name);

describe('reading what NumPy writes', () => {
  it.each(ELEMENT_TYPES)('%s', (dtype) => {
    const tensor = read(`${dtype}.npy`);
    expect(tensor.dtype).toBe(dtype);
    expect(tensor.shape).toEqual(expected[dtype]!.shape);
    expect([...toFloat64(tensor)]).toEqual(expected[dtype]!.values);
  });

  it('writes the same bytes as np.save', () => {
    for (const dtype of ELEMENT_TYPES) {
      const bytes = readFileSync(npyData(`${dtype}.npy`));
      expect(Buffer.compare(encodeNpy(parseNpy(bytes)), bytes), dtype).toBe(0);
    }
    for (const name of ['scalar.npy', 'empty.npy']) {
      const bytes = readFileSync(npyData(name));
      expect(Buffer.compare(encodeNpy(parseNpy(bytes)), bytes), name).toBe(0);
    }
  });

  it('reads 0-d and empty arrays', () => {
    expect(read('scalar.npy')).toMatchObject({ dtype: 'float32', shape: [] });
    expect([...read('scalar.npy').data]).toEqual([2.5]);
    expect(read('empty.npy')).toMatchObject({ dtype: 'float32', shape: [0, 3] });
  });

  it('byte-swaps big-endian arrays', () => {
    expect([...read('big_endian.npy').data]).toEqual([1.5, -2, 3.25]);
    expect([...read('big_endian_i64.npy').data]).toEqual([1n, -2n, 2n ** 40n]);
  });

  it('reads format versions 2.0 and 3.0', () => {
    for (const name of ['v2.npy', 'v3.npy']) {
      const tensor = read(name);
      expect(tensor).toMatchObject({ dtype: 'int32', shape: [2, 3] });
      expect([...tensor.data]).toEqual([0, 1, 2, 3, 4, 5]);
    }
  });

  it.each([
    ['fortran.npy', /Fortran-order/],
    ['object.npy', /object arrays/],
    ['structured.npy', /structured/],
    ['complex.npy', /complex/],
  ])('rejects %s clearly', (name, message) => {
    expect(() => read(name)).toThrow(message);
  });

  it('reads unicode (either byte order) and bytes arrays as strings, and writes them as unicode', () => {
    expect(parseNpy(readFileSync(npyData('unicode.npy')))).toEqual({ dtype: 'string', shape: [2], data: ['ab', 'c'] });
    const big = parseNpy(readFileSync(npyData('unicode_big_endian.npy')));
    expect(big).toEqual({ dtype: 'string', shape: [2, 2], data: ['héllo', '😀', '', 'x'] });
    expect(parseNpy(readFileSync(npyData('bytes.npy')))).toEqual({ dtype: 'string', shape: [2], data: ['café', ''] });
    expect(parseNpy(encodeNpy(big))).toEqual(big);
    expect(encodeNpy(big).toString('latin1')).toContain("'descr': '<U5'");
  });

  it('rejects files that are not .npy or are cut short', () => {
    expect(() => parseNpy(Buffer.from('PK\x03\x04 not numpy'))).toThrow(/not a \.npy file/);
    const bytes = readFileSync(npyData('float64.npy'));
    expect(() => parseNpy(bytes.subarray(0, bytes.length - 3))).toThrow(/truncated/);
  });
});

describe('npz', () => {
  const dir = scratch();

  it.each(['pair.npz', 'pair_compressed.npz'])('reads np.savez / np.savez_compressed output (%s)', (name) => {
    const arrays = readNpzFile(npyData(name));
    expect([...arrays.keys()]).toEqual(['x', 'y']);
    expect([...arrays.get('x')!.data]).toEqual([0, 1, 2, 3]);
    expect(arrays.get('y')).toMatchObject({ dtype: 'int64', shape: [1, 2] });
  });

  it('writes an archive it reads back', async () => {
    const path = join(dir, 'out.npz');
    const tensors = new Map<string, HostTensor>([
      ['a', makeTensor('float32', [2], Float32Array.from([1, 2]))],
      ['b/c:0', makeTensor('bool', [1], Uint8Array.from([1]))],
    ]);
    await writeNpzFile(path, tensors);
    const back = readNpzFile(path);
    expect([...back.keys()]).toEqual(['a', 'b/c:0']);
    expect(back.get('b/c:0')).toEqual(tensors.get('b/c:0'));
  });
});

/** Arbitrary tensors of one dtype: any shape up to rank 4, any values of the type (NaN payloads included). */
function arbitraryTensor(dtype: ElementType): fc.Arbitrary<NumericTensor> {
  const info = ELEMENT_INFO[dtype];
  return fc
    .array(fc.integer({ min: 0, max: 4 }), { maxLength: 4 })
    .chain((shape) => {
      const count = shape.reduce((n, d) => n * d, 1);
      return fc.uint8Array({ minLength: count * info.bytes, maxLength: count * info.bytes }).map((bytes) => {
        const copy = new Uint8Array(bytes);
        if (dtype === 'bool') copy.forEach((b, i) => (copy[i] = b & 1));
        return makeTensor(dtype, shape, info.view(copy.buffer, 0, count));
      });
    });
}

describe('npy round trip (property)', () => {
  it.each(ELEMENT_TYPES)('%s: parse(encode(t)) keeps dtype, shape and every byte', (dtype) => {
    fc.assert(
      fc.property(arbitraryTensor(dtype), (tensor) => {
        const encoded = encodeNpy(tensor);
        expect(encoded.length % 64).toBe(tensor.data.byteLength % 64);
        const back = numericTensor(parseNpy(encoded), 'back');
        expect(back.dtype).toBe(tensor.dtype);
        expect(back.shape).toEqual(tensor.shape);
        expect(Buffer.from(back.data.buffer, back.data.byteOffset, back.data.byteLength)).toEqual(
          Buffer.from(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength),
        );
      }),
      { numRuns: 60 },
    );
  });
});

describe('float16', () => {
  it('rounds doubles to half exactly as NumPy does', () => {
    const { inputs, bits } = expected.float16_from_float64;
    expect(inputs.map(numberToHalfDirect)).toEqual(bits);
  });

  it('rounds once from the double, where torch rounds through float32 first', () => {
    // just above the tie between 1 and the next half; float32 rounding drops the 2^-40 and leaves the tie
    const value = 1 + 2 ** -11 + 2 ** -40;
    expect(numberToHalfDirect(value)).toBe(0x3c01);
    expect(numberToHalf(value)).toBe(0x3c00);
  });

  it('decodes and re-encodes every non-NaN half to the same bits', () => {
    for (let bits = 0; bits < 0x10000; bits++) {
      const value = halfToNumber(bits);
      if (Number.isNaN(value)) continue;
      expect(numberToHalfDirect(value)).toBe(bits);
    }
  });
});
