import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compareTensors, compareValues, unravelIndex } from '../../src/runtime/compare.js';
import { makeTensor } from '../../src/runtime/dtypes.js';
import { latencySummary, percentile, rowArgmax, tensorStats } from '../../src/runtime/stats.js';

const tol = { atol: 1e-5, rtol: 1e-3 };

describe('compareValues (numpy.allclose semantics)', () => {
  it('passes identical arrays with zero error', () => {
    const c = compareValues([1, -2, 3], [1, -2, 3], tol);
    expect(c).toMatchObject({ pass: true, mismatches: 0, maxAbsErr: 0, maxRelErr: 0, cosine: 1, requiredAtol: 0 });
  });

  it('uses |a-b| <= atol + rtol*|b|, relative to the expected side', () => {
    // b = 1000: allowed 1e-5 + 1 = 1.00001
    expect(compareValues([1001], [1000], tol).pass).toBe(true);
    expect(compareValues([1001.1], [1000], tol).pass).toBe(false);
    // swapping sides changes the allowance: b = 1001 allows 1.00101
    expect(compareValues([1000], [1001], tol).pass).toBe(true);
    expect(compareValues([0.00002], [0], tol)).toMatchObject({ pass: false, mismatches: 1 });
  });

  it('reports max abs and rel error, their place, and the mismatch count', () => {
    const c = compareValues([1, 2.5, 3, 4.001], [1, 2, 3, 4], tol);
    expect(c.maxAbsErr).toBeCloseTo(0.5);
    expect(c.maxAbsErrIndex).toBe(1);
    expect(c.maxRelErr).toBeCloseTo(0.25);
    expect(c.mismatches).toBe(1); // 4.001 vs 4: 0.001 <= 0.00401
    expect(c.count).toBe(4);
  });

  it('gives the smallest atol that would pass for the given rtol', () => {
    const c = compareValues([1.5, 10.2], [1, 10], { atol: 0, rtol: 0.01 });
    // 1.5 vs 1: 0.5 - 0.01 = 0.49; 10.2 vs 10: 0.2 - 0.1 = 0.1
    expect(c.requiredAtol).toBeCloseTo(0.49);
    expect(compareValues([1.5, 10.2], [1, 10], { atol: c.requiredAtol!, rtol: 0.01 }).pass).toBe(true);
  });

  it('matches NaN with NaN and an infinity with the same infinity, and counts them', () => {
    const same = compareValues([NaN, Infinity, -Infinity, 1], [NaN, Infinity, -Infinity, 1], tol);
    expect(same).toMatchObject({ pass: true, nan: { actual: 1, expected: 1 }, inf: { actual: 2, expected: 2 }, nonFiniteMismatches: 0 });
    const different = compareValues([NaN, Infinity, 1], [1, -Infinity, Infinity], tol);
    expect(different).toMatchObject({ pass: false, mismatches: 3, nonFiniteMismatches: 3, requiredAtol: null });
  });

  it('computes cosine similarity', () => {
    expect(compareValues([1, 0], [0, 1], tol).cosine).toBeCloseTo(0);
    expect(compareValues([1, 1], [-1, -1], tol).cosine).toBeCloseTo(-1);
    expect(compareValues([2, 4], [1, 2], tol).cosine).toBeCloseTo(1);
    expect(compareValues([0, 0], [0, 0], tol).cosine).toBe(1);
    expect(compareValues([0, 0], [1, 0], tol).cosine).toBe(0);
    // squares of these underflow (or overflow) without scaling
    expect(compareValues([-5.4e-162], [-2.6e-71], tol).cosine).toBe(1);
    expect(compareValues([1e200, 1e200], [1e200, 1e200], tol).cosine).toBeCloseTo(1, 12);
  });

  it('refuses arrays of different lengths', () => {
    expect(() => compareValues([1], [1, 2], tol)).toThrow(RangeError);
  });

  it('properties: a copy passes, the required atol always passes, errors are symmetric in |a-b|', () => {
    const finite = fc.double({ min: -1e300, max: 1e300, noNaN: true });
    fc.assert(
      fc.property(fc.array(fc.tuple(finite, finite), { minLength: 1, maxLength: 50 }), fc.double({ min: 0, max: 0.1, noNaN: true }), (pairs, rtol) => {
        const a = pairs.map(([x]) => x);
        const b = pairs.map(([, y]) => y);
        expect(compareValues(b, b, { atol: 0, rtol: 0 }).pass).toBe(true);
        const c = compareValues(a, b, { atol: 0, rtol });
        expect(c.requiredAtol).not.toBeNull();
        // a tiny margin for the rounding of atol + rtol*|b|
        expect(compareValues(a, b, { atol: c.requiredAtol! * (1 + 1e-12) + 1e-300, rtol }).pass).toBe(true);
        expect(compareValues(b, a, { atol: 0, rtol }).maxAbsErr).toBe(c.maxAbsErr);
        expect(Math.abs(c.cosine)).toBeLessThanOrEqual(1);
      }),
      { numRuns: 200 },
    );
  });
});

describe('compareTensors', () => {
  it('compares across dtypes as doubles', () => {
    const actual = makeTensor('float32', [2], Float32Array.from([1, 2]));
    const expected = makeTensor('int64', [2], BigInt64Array.from([1n, 2n]));
    expect(compareTensors('y', actual, expected, tol)).toMatchObject({ kind: 'compared', pass: true, dtype: 'float32', expectedDtype: 'int64' });
  });

  it('fails on a shape difference without comparing values', () => {
    const actual = makeTensor('float32', [1, 2], Float32Array.from([1, 2]));
    const expected = makeTensor('float32', [2], Float32Array.from([1, 2]));
    expect(compareTensors('y', actual, expected, tol)).toEqual({ kind: 'shape-mismatch', name: 'y', shape: [1, 2], expectedShape: [2], pass: false });
  });

  it('unravels flat indices in C order', () => {
    expect(unravelIndex(5, [2, 3])).toEqual([1, 2]);
    expect(unravelIndex(0, [])).toEqual([]);
    expect(unravelIndex(13, [2, 3, 4])).toEqual([1, 0, 1]);
  });
});

describe('stats', () => {
  it('summarizes finite values and counts NaN and infinities apart', () => {
    const s = tensorStats([1, 2, NaN, Infinity, 3], [5]);
    expect(s).toMatchObject({ count: 5, min: 1, max: 3, mean: 2, nanCount: 1, infCount: 1 });
    expect(s.std).toBeCloseTo(Math.sqrt(2 / 3));
    expect(s.argmax).toBeUndefined();
  });

  it('gives the argmax of each row of 2-D scores', () => {
    expect(tensorStats([0, 5, 1, 9, 2, 3], [2, 3]).argmax).toEqual([1, 0]);
    expect(rowArgmax([NaN, 1, 1], 1, 3)).toEqual([1]);
  });

  it('has no min/max/mean without finite values', () => {
    expect(tensorStats([NaN], [1])).toMatchObject({ min: null, max: null, mean: null, std: null });
  });

  it('computes percentiles like NumPy (linear)', () => {
    expect(percentile([1, 2, 3, 4], 50)).toBe(2.5);
    expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 90)).toBeCloseTo(9.1);
    expect(latencySummary([3, 1, 2])).toMatchObject({ runs: 3, p50: 2, min: 1, max: 3, mean: 2 });
    expect(latencySummary([])).toBeUndefined();
  });
});
