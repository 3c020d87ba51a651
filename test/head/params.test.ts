import { describe, expect, it } from 'vitest';
import type { DType } from '../../src/checkpoint/dtype.js';
import { decode, encodeFloats, type CastTarget } from '../../src/checkpoint/numeric.js';
import { contiguousBytes, contiguousStride, numelOf, type Tensor } from '../../src/checkpoint/tensor.js';
import type { LayerKind, ResolvedHead } from '../../src/head/layers.js';
import { MODULE_VERSIONS, headParameters, parameterSlots, type HeadParameter } from '../../src/head/params.js';
import { SeededRandom } from '../../src/io/random.js';
import { resolveHead } from '../../src/head/resolve.js';
import { classesHead, parseHeadSpec } from '../../src/head/spec.js';
import { pythonFloat } from '../../src/head/values.js';
import { weightsRelativeTo } from '../../src/head/weights.js';
import { ORACLE_PYTHON, ORACLE_SKIP, python } from '../helpers/oracle.js';

const head = (spec: string, inFeatures: number): ResolvedHead => resolveHead(parseHeadSpec(spec), inFeatures);
const values = (parameter: HeadParameter): number[] => [...decode(parameter.dtype, parameter.bytes)];
const byName = (parameters: HeadParameter[]): Map<string, HeadParameter> => new Map(parameters.map((p) => [p.name, p]));

function tensor(dtype: DType, shape: number[], bytes: Uint8Array): Tensor {
  return {
    dtype,
    shape,
    stride: contiguousStride(shape),
    storageOffset: 0,
    storage: { key: 'w', dtype, numel: numelOf(shape), location: 'cpu', data: { kind: 'bytes', bytes } },
    requiresGrad: false,
    parameter: false,
  };
}
const floats = (dtype: CastTarget, shape: number[], fill: (i: number) => number): Tensor =>
  tensor(dtype, shape, encodeFloats(dtype, Float64Array.from({ length: numelOf(shape) }, (_, i) => fill(i))));

describe('parameterSlots: what torch registers, in state_dict() order', () => {
  it('Linear: weight [out, in], bias [out]; BatchNorm1d: weight, bias, running stats, num_batches_tracked; LayerNorm: weight, bias', () => {
    const slots = parameterSlots(head('fc1=Linear(8,16),bn=BatchNorm1d(16),act=GELU(),fc2=Linear(16,12,bias=False),ln=LayerNorm(12),out=LogSoftmax(dim=1)', 8));
    expect(slots.map((s) => [s.name, s.shape, s.type])).toEqual([
      ['fc1.weight', [16, 8], 'float'],
      ['fc1.bias', [16], 'float'],
      ['bn.weight', [16], 'float'],
      ['bn.bias', [16], 'float'],
      ['bn.running_mean', [16], 'float'],
      ['bn.running_var', [16], 'float'],
      ['bn.num_batches_tracked', [], 'int64'],
      ['fc2.weight', [12, 16], 'float'],
      ['ln.weight', [12], 'float'],
      ['ln.bias', [12], 'float'],
    ]);
  });

  it('leaves out what affine=False, bias=False and track_running_stats=False leave out (as torch 2.13 does)', () => {
    const names = (spec: string): string[] => parameterSlots(head(spec, 4)).map((s) => s.name);
    expect(names('b=BatchNorm1d(4,bias=False)')).toEqual(['b.weight', 'b.running_mean', 'b.running_var', 'b.num_batches_tracked']);
    expect(names('b=BatchNorm1d(4,affine=False,bias=True)')).toEqual(['b.running_mean', 'b.running_var', 'b.num_batches_tracked']);
    expect(names('b=BatchNorm1d(4,track_running_stats=False)')).toEqual(['b.weight', 'b.bias']);
    expect(names('l=LayerNorm(4,elementwise_affine=False,bias=True)')).toEqual([]);
    expect(names('l=LayerNorm(4,bias=False)')).toEqual(['l.weight']);
    expect(names('ReLU(),Dropout(),Softmax(dim=1),Flatten(),Identity(),Sigmoid(),Tanh(),SiLU(),LeakyReLU()')).toEqual([]);
  });

  it('names a --classes Linear by the module itself: weight and bias', () => {
    expect(parameterSlots(resolveHead(classesHead(5), 8)).map((s) => [s.name, s.shape])).toEqual([
      ['weight', [5, 8]],
      ['bias', [5]],
    ]);
  });
});

describe("headParameters: PyTorch's default initialisation", () => {
  it('draws Linear weight and bias uniformly from ±1/√in_features', () => {
    const parameters = byName(headParameters(head('fc=Linear(64,2048)', 64), { dtype: 'float64', seed: 1 }));
    const bound = 1 / 8;
    const max = (v: number[]): number => v.reduce((a, b) => Math.max(a, b), -Infinity);
    const min = (v: number[]): number => v.reduce((a, b) => Math.min(a, b), Infinity);
    for (const name of ['fc.weight', 'fc.bias']) {
      const v = values(parameters.get(name)!);
      expect(max(v)).toBeLessThan(bound);
      expect(min(v)).toBeGreaterThanOrEqual(-bound);
    }
    const weight = values(parameters.get('fc.weight')!);
    const mean = weight.reduce((a, b) => a + b, 0) / weight.length;
    const variance = weight.reduce((a, b) => a + (b - mean) ** 2, 0) / weight.length;
    // U(-b, b): mean 0, variance b²/3; 131072 samples put both well within these margins
    expect(Math.abs(mean)).toBeLessThan(0.002);
    expect(variance).toBeCloseTo(bound ** 2 / 3, 4);
    expect(max(weight)).toBeGreaterThan(bound * 0.999);
    expect(min(weight)).toBeLessThan(-bound * 0.999);
    // every tenth of the range gets its share
    const bins = new Array<number>(10).fill(0);
    for (const w of weight) bins[Math.min(9, Math.floor(((w + bound) / (2 * bound)) * 10))]!++;
    for (const count of bins) expect(Math.abs(count - weight.length / 10)).toBeLessThan(weight.length / 100);
  });

  it('fills BatchNorm1d and LayerNorm as torch does: ones, zeros, running_var 1, num_batches_tracked 0 (int64, 0-d)', () => {
    const p = byName(headParameters(head('bn=BatchNorm1d(6),ln=LayerNorm(6)', 6), { dtype: 'float32', seed: 3 }));
    expect(values(p.get('bn.weight')!)).toEqual([1, 1, 1, 1, 1, 1]);
    expect(values(p.get('bn.bias')!)).toEqual([0, 0, 0, 0, 0, 0]);
    expect(values(p.get('bn.running_mean')!)).toEqual([0, 0, 0, 0, 0, 0]);
    expect(values(p.get('bn.running_var')!)).toEqual([1, 1, 1, 1, 1, 1]);
    expect(p.get('bn.num_batches_tracked')).toEqual({ name: 'bn.num_batches_tracked', dtype: 'int64', shape: [], bytes: new Uint8Array(8) });
    expect(values(p.get('ln.weight')!)).toEqual([1, 1, 1, 1, 1, 1]);
    expect(values(p.get('ln.bias')!)).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it('is deterministic under a seed, and different seeds give different values', () => {
    const spec = head('fc1=Linear(8,6),relu=ReLU(),fc2=Linear(6,3)', 8);
    const a = headParameters(spec, { dtype: 'float32', seed: 7 });
    expect(headParameters(spec, { dtype: 'float32', seed: 7 })).toEqual(a);
    expect(headParameters(spec, { dtype: 'float32', seed: 8 })[0]!.bytes).not.toEqual(a[0]!.bytes);
    // without a seed, a random one
    expect(headParameters(spec, { dtype: 'float32' })[0]!.bytes).not.toEqual(a[0]!.bytes);
  });

  it('gives the new parameters the dtype asked for, rounded as torch rounds', () => {
    const spec = head('fc=Linear(16,32),bn=BatchNorm1d(32)', 16);
    const reference = byName(headParameters(spec, { dtype: 'float64', seed: 11 }));
    for (const dtype of ['float16', 'bfloat16', 'float32', 'float64'] as const) {
      const parameters = byName(headParameters(spec, { dtype, seed: 11 }));
      const weight = parameters.get('fc.weight')!;
      expect(weight.dtype).toBe(dtype);
      expect(weight.bytes.length).toBe(16 * 32 * (dtype === 'float64' ? 8 : dtype === 'float32' ? 4 : 2));
      // the same draws, rounded to the dtype
      expect(weight.bytes).toEqual(encodeFloats(dtype, decode('float64', reference.get('fc.weight')!.bytes)));
      expect(parameters.get('bn.running_var')!.dtype).toBe(dtype);
      expect(parameters.get('bn.num_batches_tracked')!.dtype).toBe('int64');
    }
  });
});

describe('headParameters: from a weights file', () => {
  const spec = head('fc1=Linear(4,3),bn=BatchNorm1d(3),fc2=Linear(3,2)', 4);
  const complete = (): Map<string, Tensor> =>
    new Map([
      ['fc1.weight', floats('float32', [3, 4], (i) => i / 10)],
      ['fc1.bias', floats('float32', [3], (i) => -i)],
      ['bn.weight', floats('float32', [3], () => 2)],
      ['bn.bias', floats('float32', [3], () => 0.5)],
      ['bn.running_mean', floats('float32', [3], (i) => i)],
      ['bn.running_var', floats('float32', [3], () => 3)],
      ['bn.num_batches_tracked', tensor('int64', [], new Uint8Array([5, 0, 0, 0, 0, 0, 0, 0]))],
      ['fc2.weight', floats('float32', [2, 3], (i) => 1 / 3 + i)],
      ['fc2.bias', floats('float32', [2], () => 0)],
    ]);

  it('copies values of the right dtype bit for bit, in slot order whatever the file order', () => {
    const weights = complete();
    const reversed = new Map([...weights].reverse());
    const parameters = headParameters(spec, { dtype: 'float32', weights: reversed });
    expect(parameters.map((p) => p.name)).toEqual(parameterSlots(spec).map((s) => s.name));
    for (const p of parameters) expect(p.bytes, p.name).toEqual(contiguousBytes(weights.get(p.name)!));
  });

  it("converts floats to the head's dtype, and integer counters to int64", () => {
    const weights = complete();
    weights.set('bn.num_batches_tracked', tensor('int32', [], new Uint8Array([9, 0, 0, 0])));
    const parameters = byName(headParameters(spec, { dtype: 'float16', weights }));
    expect(parameters.get('fc2.weight')!.dtype).toBe('float16');
    expect(parameters.get('fc2.weight')!.bytes).toEqual(encodeFloats('float16', Float64Array.from([0, 1, 2, 3, 4, 5], (i) => Math.fround(1 / 3 + i))));
    expect(parameters.get('bn.num_batches_tracked')).toEqual({ name: 'bn.num_batches_tracked', dtype: 'int64', shape: [], bytes: new Uint8Array([9, 0, 0, 0, 0, 0, 0, 0]) });
  });

  it('names missing and extra keys', () => {
    const weights = complete();
    weights.delete('fc2.bias');
    weights.delete('bn.running_var');
    weights.set('fc3.weight', floats('float32', [1], () => 0));
    expect(() => headParameters(spec, { dtype: 'float32', weights })).toThrow(
      'does not fit the head: missing bn.running_var, fc2.bias; not in the head: fc3.weight (the head has fc1.weight, fc1.bias, bn.weight, bn.bias, bn.running_mean, bn.running_var, bn.num_batches_tracked, fc2.weight, fc2.bias)',
    );
  });

  it('checks every shape and kind of dtype', () => {
    const weights = complete();
    weights.set('fc1.weight', floats('float32', [4, 3], () => 0));
    expect(() => headParameters(spec, { dtype: 'float32', weights })).toThrow('fc1.weight is [4, 3], the head needs [3, 4]');
    const counters = complete();
    counters.set('bn.num_batches_tracked', floats('float32', [], () => 1));
    expect(() => headParameters(spec, { dtype: 'float32', weights: counters })).toThrow('bn.num_batches_tracked is float32, the head needs an integer tensor (int64)');
    const ints = complete();
    ints.set('fc2.bias', tensor('int64', [2], new Uint8Array(16)));
    expect(() => headParameters(spec, { dtype: 'float32', weights: ints })).toThrow('fc2.bias is int64, the head needs a floating-point tensor (float32)');
  });
});

describe('weightsRelativeTo', () => {
  const t = floats('float32', [1], () => 0);
  const names = (keys: string[], at: string, expected: string[]): string[] => [...weightsRelativeTo(keys.map((k) => [k, t] as const), at, expected).keys()];

  it('takes keys relative to the head, under the module path, or under a tail of it', () => {
    expect(names(['fc1.weight', 'fc1.bias'], 'fc', ['fc1.weight', 'fc1.bias'])).toEqual(['fc1.weight', 'fc1.bias']);
    expect(names(['fc.fc1.weight', 'fc.fc1.bias'], 'fc', ['fc1.weight', 'fc1.bias'])).toEqual(['fc1.weight', 'fc1.bias']);
    expect(names(['weight', 'bias'], 'fc', ['weight', 'bias'])).toEqual(['weight', 'bias']);
    expect(names(['fc.weight', 'fc.bias'], 'fc', ['weight', 'bias'])).toEqual(['weight', 'bias']);
    expect(names(['module.fc.weight', 'module.fc.bias'], 'module.fc', ['weight', 'bias'])).toEqual(['weight', 'bias']);
    expect(names(['fc.weight', 'fc.bias'], 'module.fc', ['weight', 'bias'])).toEqual(['weight', 'bias']);
  });

  it('prefers the reading that fits: a head layer may be called like the module', () => {
    expect(names(['fc.weight', 'fc.bias'], 'fc', ['fc.weight', 'fc.bias'])).toEqual(['fc.weight', 'fc.bias']);
    // nothing fits exactly: the reading that fits best, so the error names the real difference
    expect(names(['fc.fc1.weight', 'fc.fc9.bias'], 'fc', ['fc1.weight', 'fc1.bias'])).toEqual(['fc1.weight', 'fc9.bias']);
  });
});

describe('SeededRandom', () => {
  it('gives uniform floats in [0, 1), the same for the same seed', () => {
    const a = new SeededRandom(42);
    const b = new SeededRandom(42);
    const draws = Array.from({ length: 10_000 }, () => a.nextFloat());
    expect(draws).toEqual(Array.from({ length: 10_000 }, () => b.nextFloat()));
    expect(Math.min(...draws)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...draws)).toBeLessThan(1);
    expect(Math.abs(draws.reduce((x, y) => x + y, 0) / draws.length - 0.5)).toBeLessThan(0.01);
    expect(new SeededRandom(43).nextUint32()).not.toBe(new SeededRandom(42).nextUint32());
    expect(new SeededRandom(Number.MAX_SAFE_INTEGER).nextFloat()).toBeLessThan(1);
    expect(() => new SeededRandom(-1)).toThrow(RangeError);
  });
});

describe.skipIf(!ORACLE_PYTHON)(`agrees with torch${ORACLE_SKIP}`, () => {
  it("MODULE_VERSIONS are torch's _version of each class", () => {
    const kinds = Object.keys(MODULE_VERSIONS) as (LayerKind | 'Sequential')[];
    const result = python(`import json, torch.nn as nn; print(json.dumps({k: getattr(nn, k)._version for k in ${JSON.stringify(kinds)}}))`);
    expect(result.status).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual(MODULE_VERSIONS);
  });

  it("floats print as Python's repr", () => {
    const random = new SeededRandom(5);
    const samples = Array.from({ length: 2000 }, (_, i) => {
      const magnitude = 10 ** Math.floor(random.uniform(-30, 30));
      const value = random.uniform(-1, 1) * magnitude;
      return i % 3 === 0 ? Math.fround(value) : i % 3 === 1 ? Number(value.toPrecision(1 + (i % 6))) : value;
    });
    const result = python('import json, sys; print(json.dumps([repr(float(x)) for x in json.loads(sys.argv[1])]))', [JSON.stringify(samples)]);
    expect(result.status).toBe(0);
    expect(samples.map(pythonFloat)).toEqual(JSON.parse(result.stdout));
  });
});
