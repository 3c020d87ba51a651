import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SeededRandom } from '../../src/io/random.js';
import { makeTensor } from '../../src/runtime/dtypes.js';
import { tensorFromJson } from '../../src/runtime/json-tensor.js';
import { encodeNpy } from '../../src/runtime/npy.js';
import { parseDims, parseInputSpec, parseShapes, parseRanges, resolveInputs, type InputOptions } from '../../src/runtime/inputs.js';
import type { DeclaredTensor } from '../../src/runtime/signature.js';
import { scratch } from './helpers.js';

describe('parsing --input, --dim, --range', () => {
  it('reads each --input form', () => {
    expect(parseInputSpec('x=a.npy')).toEqual({ kind: 'file', name: 'x', path: 'a.npy', format: 'npy' });
    expect(parseInputSpec('x=dir/a.json')).toEqual({ kind: 'file', name: 'x', path: 'dir/a.json', format: 'json' });
    expect(parseInputSpec('a.npy')).toEqual({ kind: 'file', name: undefined, path: 'a.npy', format: 'npy' });
    expect(parseInputSpec('all.npz')).toEqual({ kind: 'archive', path: 'all.npz' });
    expect(parseInputSpec('ids=random')).toEqual({ kind: 'fill', name: 'ids', fill: 'random' });
    expect(parseInputSpec('onnx::in:0=zeros')).toEqual({ kind: 'fill', name: 'onnx::in:0', fill: 'zeros' });
  });

  it('rejects forms it does not know', () => {
    expect(() => parseInputSpec('x=a.txt')).toThrow(/not random, zeros, ones/);
    expect(() => parseInputSpec('x=all.npz')).toThrow(/give it alone/);
    expect(() => parseInputSpec('=a.npy')).toThrow(/no input name/);
    expect(() => parseInputSpec('a.bin')).toThrow(/expected NAME=FILE.npy/);
  });

  it('reads --dim and --range', () => {
    expect(parseDims(['batch=4', 'seq=128'])).toEqual(new Map([['batch', 4], ['seq', 128]]));
    expect(() => parseDims(['batch=-1'])).toThrow(/NAME=SIZE/);
    const ranges = parseRanges(['ids=0:30522', '-0.5:1e2']);
    expect(ranges.byName.get('ids')).toEqual({ low: 0, high: 30522 });
    expect(ranges.all).toEqual({ low: -0.5, high: 100 });
    expect(() => parseRanges(['ids=0-5'])).toThrow(/LOW:HIGH/);
  });
});

describe('JSON tensors', () => {
  it('takes the shape from the nesting and the dtype from the model', () => {
    const t = tensorFromJson('[[1, 2, 3], [4, 5, 6]]', 'int64');
    expect(t).toMatchObject({ dtype: 'int64', shape: [2, 3] });
    expect([...t.data]).toEqual([1n, 2n, 3n, 4n, 5n, 6n]);
    expect(tensorFromJson('2.5', 'float32')).toMatchObject({ shape: [] });
    expect([...tensorFromJson('[true, false]', 'bool').data]).toEqual([1, 0]);
    expect([...tensorFromJson('["nan", "-inf"]', 'float64').data]).toEqual([NaN, -Infinity]);
  });

  it('rejects ragged arrays, non-numbers and values the dtype cannot hold', () => {
    expect(() => tensorFromJson('[[1, 2], [3]]', 'float32')).toThrow(/ragged/);
    expect(() => tensorFromJson('[1, "a"]', 'float32')).toThrow(/not a number/);
    expect(() => tensorFromJson('[1.5]', 'int32')).toThrow(/whole number/);
    expect(() => tensorFromJson('[300]', 'uint8')).toThrow(/outside uint8/);
    expect(() => tensorFromJson('[1,', 'float32')).toThrow(/not valid JSON/);
  });
});

describe('resolveInputs', () => {
  const dir = scratch();
  const image: DeclaredTensor = { name: 'image', dtype: 'float32', shape: ['batch', 3, 4, 4] };
  const ids: DeclaredTensor = { name: 'ids', dtype: 'int64', shape: ['batch', 'seq'] };
  const options: InputOptions = { seed: 0, dims: new Map(), shapes: new Map(), ranges: { all: undefined, byName: new Map() }, strict: false };
  const npy = (name: string, tensor: Parameters<typeof encodeNpy>[0]): string => {
    const path = join(dir, name);
    writeFileSync(path, encodeNpy(tensor));
    return path;
  };

  it('makes random inputs from the declared dtype and shape, symbolic dims 1 by default', () => {
    const r = resolveInputs([image, ids], [], options, 'm.onnx');
    expect(r.inputs.map((i) => [i.name, i.tensor.dtype, i.tensor.shape])).toEqual([
      ['image', 'float32', [1, 3, 4, 4]],
      ['ids', 'int64', [1, 1]],
    ]);
    expect(r.defaultedDims).toEqual(['batch', 'seq']);
    const values = [...r.inputs[0]!.tensor.data] as number[];
    expect(values.every((v) => v >= -1 && v < 1)).toBe(true);
  });

  it('is deterministic per seed and per input name, and integer-aware with --range', () => {
    const settings = { ...options, dims: new Map([['batch', 2], ['seq', 64]]), ranges: { all: undefined, byName: new Map([['ids', { low: 0, high: 30522 }]]) } };
    const a = resolveInputs([image, ids], [], settings, 'm.onnx');
    const b = resolveInputs([ids, image], [], settings, 'm.onnx');
    expect(a.inputs[1]!.tensor).toEqual(b.inputs[0]!.tensor);
    const tokens = [...a.inputs[1]!.tensor.data] as bigint[];
    expect(tokens).toHaveLength(128);
    expect(tokens.every((t) => t >= 0n && t < 30522n)).toBe(true);
    expect(new Set(tokens).size).toBeGreaterThan(100);
    const other = resolveInputs([image, ids], [], { ...settings, seed: 1 }, 'm.onnx');
    expect(other.inputs[0]!.tensor).not.toEqual(a.inputs[0]!.tensor);
  });

  it('--shape gives a made-up input its whole shape, dims without a name too, and binds its symbolic dims', () => {
    const audio: DeclaredTensor = { name: 'input', dtype: 'float32', shape: ['', ''] };
    const made = resolveInputs([audio], [], options, 'm.onnx');
    expect(made.inputs[0]!.tensor.shape).toEqual([1, 1]);
    expect(made.unnamedDefaulted).toEqual(['input']);
    const shaped = resolveInputs([audio], [], { ...options, shapes: parseShapes(['input=1,512']) }, 'm.onnx');
    expect(shaped.inputs[0]!.tensor.shape).toEqual([1, 512]);
    expect(shaped.unnamedDefaulted).toEqual([]);
    const both = resolveInputs([image, ids], [], { ...options, shapes: parseShapes(['image=3,3,4,4']) }, 'm.onnx');
    expect(both.inputs.map((i) => i.tensor.shape)).toEqual([[3, 3, 4, 4], [3, 1]]);
    expect(() => resolveInputs([image], [], { ...options, shapes: parseShapes(['image=1,2,4,4']) }, 'm.onnx')).toThrow(/given --shape image=1,2,4,4 \(dimension 1 is 2, the model fixes it at 3\)/);
    expect(() => resolveInputs([image], [], { ...options, shapes: parseShapes(['image=1,3']) }, 'm.onnx')).toThrow(/rank 2, the model wants 4/);
    expect(() => resolveInputs([image], [], { ...options, shapes: parseShapes(['nope=1']) }, 'm.onnx')).toThrow(/--shape nope=…: the model has no input 'nope'/);
    expect(() => parseShapes(['image=1,x'])).toThrow(/expected NAME=D0,D1,…/);
  });

  it('fills zeros and ones', () => {
    const r = resolveInputs([image], [parseInputSpec('image=ones')], options, 'm.onnx');
    expect([...r.inputs[0]!.tensor.data].every((v) => v === 1)).toBe(true);
  });

  it('lets a given file settle the symbolic dims of the made-up inputs', () => {
    const path = npy('image.npy', makeTensor('float32', [5, 3, 4, 4], new Float32Array(5 * 48)));
    const r = resolveInputs([image, ids], [parseInputSpec(`image=${path}`)], options, 'm.onnx');
    expect(r.inputs[1]!.tensor.shape).toEqual([5, 1]);
    expect(r.inputs[0]!.source).toBe(path);
    expect(r.dims.get('batch')).toBe(5);
  });

  it('names the input, the expected and the given dtype/shape for every mismatch', () => {
    const wrongType = npy('f64.npy', makeTensor('float64', [1, 3, 4, 4], new Float64Array(48)));
    expect(() => resolveInputs([image], [parseInputSpec(`image=${wrongType}`)], options, 'm.onnx')).toThrow(
      "input 'image': expected float32 [batch,3,4,4], given float64 [1,3,4,4] (wrong dtype)",
    );
    const wrongRank = npy('rank.npy', makeTensor('float32', [3, 4, 4], new Float32Array(48)));
    expect(() => resolveInputs([image], [parseInputSpec(`image=${wrongRank}`)], options, 'm.onnx')).toThrow(/expected float32 \[batch,3,4,4\], given float32 \[3,4,4\] \(rank 3/);
    const wrongDim = npy('dim.npy', makeTensor('float32', [1, 2, 4, 4], new Float32Array(32)));
    expect(() => resolveInputs([image], [parseInputSpec(`image=${wrongDim}`)], options, 'm.onnx')).toThrow(/dimension 1 is 2, the model fixes it at 3/);
    const batch2 = npy('b2.npy', makeTensor('float32', [2, 3, 4, 4], new Float32Array(96)));
    expect(() => resolveInputs([image], [parseInputSpec(`image=${batch2}`)], { ...options, dims: new Map([['batch', 4]]) }, 'm.onnx')).toThrow(
      /'batch' is 2, but --dim batch=4 made it 4/,
    );
  });

  it('rejects unknown, repeated and (with --strict) missing inputs', () => {
    expect(() => resolveInputs([image], [parseInputSpec('nope=zeros')], options, 'm.onnx')).toThrow("the model has no input 'nope' (its inputs: image)");
    expect(() => resolveInputs([image], [parseInputSpec('image=zeros'), parseInputSpec('image=ones')], options, 'm.onnx')).toThrow(/more than once/);
    expect(() => resolveInputs([image], [], { ...options, strict: true }, 'm.onnx')).toThrow(/not given, and --strict/);
    expect(() => resolveInputs([image, ids], [parseInputSpec('x.npy')], options, 'm.onnx')).toThrow(/has 2 inputs/);
    expect(() => resolveInputs([image], [], { ...options, ranges: { all: undefined, byName: new Map([['ids', { low: 0, high: 1 }]]) } }, 'm.onnx')).toThrow(/no input 'ids'/);
  });

  it('accepts names that only the other model of a verify has', () => {
    const r = resolveInputs([image], [parseInputSpec('extra=zeros')], { ...options, otherModelInputs: new Set(['extra']) }, 'm.onnx');
    expect(r.inputs.map((i) => i.name)).toEqual(['image']);
  });

  it('checks --range against the dtype', () => {
    const bad = { ...options, ranges: { all: undefined, byName: new Map([['ids', { low: 0.5, high: 3 }]]) } };
    expect(() => resolveInputs([ids], [], bad, 'm.onnx')).toThrow(/whole-number bounds/);
    const empty = { ...options, ranges: { all: { low: 2, high: 2 }, byName: new Map() } };
    expect(() => resolveInputs([image], [], empty, 'm.onnx')).toThrow(/empty/);
  });

  it('needs a file for an input with no declared shape', () => {
    expect(() => resolveInputs([{ name: 'x', dtype: 'float32', shape: undefined }], [], options, 'm.onnx')).toThrow(/declares no shape/);
  });
});

describe('SeededRandom streams', () => {
  it('repeats for the same seed and stream, and stays in range', () => {
    const a = SeededRandom.forStream(7, 'x');
    const b = SeededRandom.forStream(7, 'x');
    const draws = Array.from({ length: 1000 }, () => a.nextFloat());
    expect(draws).toEqual(Array.from({ length: 1000 }, () => b.nextFloat()));
    expect(draws.every((v) => v >= 0 && v < 1)).toBe(true);
    const ints = Array.from({ length: 1000 }, () => a.integer(-3, 3));
    expect(new Set(ints)).toEqual(new Set([-3, -2, -1, 0, 1, 2]));
  });

  it('gives other streams for other names and seeds, negative and large seeds included', () => {
    const first = (seed: number, name: string): number => SeededRandom.forStream(seed, name).nextUint32();
    expect(first(7, 'y')).not.toBe(first(7, 'x'));
    expect(first(8, 'x')).not.toBe(first(7, 'x'));
    expect(() => SeededRandom.forStream(-5, 'x')).not.toThrow();
    expect(() => SeededRandom.forStream(2 ** 40, 'x')).not.toThrow();
  });
});
