import { isStringTensor, type HostTensor } from './dtypes.js';
import { toFloat64 } from './values.js';

/**
 * Comparing an output with its reference, element by element, in numpy.allclose's sense:
 * an element passes when |actual - expected| <= atol + rtol * |expected|. NaN passes only against NaN
 * (NumPy's equal_nan=True), infinities only against the same infinity. Pure functions.
 */

export interface Tolerance {
  readonly atol: number;
  readonly rtol: number;
}

export const DEFAULT_TOLERANCE: Tolerance = { atol: 1e-5, rtol: 1e-3 };

export interface ValueComparison {
  readonly count: number;
  /** Elements outside the tolerance (non-finite disagreements included). */
  readonly mismatches: number;
  /** Over elements finite on both sides; 0 when there are none. */
  readonly maxAbsErr: number;
  /** Flat (C-order) index of the largest absolute error; -1 when there is none. */
  readonly maxAbsErrIndex: number;
  /** max |a - b| / |b| over elements finite on both sides with b != 0. */
  readonly maxRelErr: number;
  /** Cosine similarity over elements finite on both sides; 1 when both are all zeros. */
  readonly cosine: number;
  /** The smallest atol that would have passed with the given rtol; null when no atol can (NaN or infinity disagree). */
  readonly requiredAtol: number | null;
  readonly nan: { readonly actual: number; readonly expected: number };
  readonly inf: { readonly actual: number; readonly expected: number };
  /** Elements where NaN or an infinity on one side is not matched on the other. */
  readonly nonFiniteMismatches: number;
  readonly pass: boolean;
}

export function compareValues(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: Tolerance): ValueComparison {
  if (actual.length !== expected.length) throw new RangeError(`cannot compare ${actual.length} values with ${expected.length}`);
  const { atol, rtol } = tolerance;
  let mismatches = 0;
  let maxAbsErr = 0;
  let maxAbsErrIndex = -1;
  let maxRelErr = 0;
  let requiredAtol = 0;
  let nonFiniteMismatches = 0;
  const nan = { actual: 0, expected: 0 };
  const inf = { actual: 0, expected: 0 };
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!;
    const b = expected[i]!;
    const aFinite = Number.isFinite(a);
    const bFinite = Number.isFinite(b);
    if (Number.isNaN(a)) nan.actual++;
    else if (!aFinite) inf.actual++;
    if (Number.isNaN(b)) nan.expected++;
    else if (!bFinite) inf.expected++;
    if (!aFinite || !bFinite) {
      const agree = (Number.isNaN(a) && Number.isNaN(b)) || a === b;
      if (!agree) {
        mismatches++;
        nonFiniteMismatches++;
      }
      continue;
    }
    const diff = Math.abs(a - b);
    const scale = rtol * Math.abs(b);
    if (diff > atol + scale) mismatches++;
    if (diff > maxAbsErr || maxAbsErrIndex < 0) {
      maxAbsErr = diff;
      maxAbsErrIndex = i;
    }
    if (b !== 0) maxRelErr = Math.max(maxRelErr, diff / Math.abs(b));
    requiredAtol = Math.max(requiredAtol, diff - scale);
  }
  return {
    count: actual.length,
    mismatches,
    maxAbsErr,
    maxAbsErrIndex,
    maxRelErr,
    cosine: cosineSimilarity(actual, expected),
    requiredAtol: nonFiniteMismatches > 0 ? null : requiredAtol,
    nan,
    inf,
    nonFiniteMismatches,
    pass: mismatches === 0,
  };
}

/**
 * Cosine similarity over the elements finite on both sides. Each side is scaled by its largest
 * magnitude first, so squares of tiny (or huge) values neither underflow nor overflow; the result is
 * clamped to [-1, 1] against the last rounding.
 */
export function cosineSimilarity(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let maxA = 0;
  let maxB = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!;
    const b = expected[i]!;
    if (!Number.isFinite(a) || !Number.isFinite(b)) continue;
    maxA = Math.max(maxA, Math.abs(a));
    maxB = Math.max(maxB, Math.abs(b));
  }
  if (maxA === 0 && maxB === 0) return 1;
  if (maxA === 0 || maxB === 0) return 0;
  let dot = 0;
  let normA = 0;
  let normB = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!;
    const b = expected[i]!;
    if (!Number.isFinite(a) || !Number.isFinite(b)) continue;
    const x = a / maxA;
    const y = b / maxB;
    dot += x * y;
    normA += x * x;
    normB += y * y;
  }
  return Math.max(-1, Math.min(1, dot / (Math.sqrt(normA) * Math.sqrt(normB))));
}

/** The outcome for one output: compared as numbers, as strings (equal or not), or not comparable. */
export type OutputComparison =
  | ({ readonly kind: 'compared'; readonly name: string; readonly dtype: string; readonly expectedDtype: string; readonly shape: readonly number[] } & ValueComparison)
  | {
      readonly kind: 'strings';
      readonly name: string;
      readonly shape: readonly number[];
      readonly count: number;
      readonly mismatches: number;
      /** Flat index of the first string that differs; -1 when none does. */
      readonly firstMismatch: number;
      readonly pass: boolean;
    }
  | { readonly kind: 'type-mismatch'; readonly name: string; readonly dtype: string; readonly expectedDtype: string; readonly pass: false }
  | {
      readonly kind: 'shape-mismatch';
      readonly name: string;
      readonly shape: readonly number[];
      readonly expectedShape: readonly number[];
      readonly pass: false;
    };

/** Compares tensors of any numeric types (as doubles), or of strings (exactly); shapes must be equal. */
export function compareTensors(name: string, actual: HostTensor, expected: HostTensor, tolerance: Tolerance): OutputComparison {
  const sameShape = actual.shape.length === expected.shape.length && actual.shape.every((d, i) => d === expected.shape[i]);
  if (!sameShape) return { kind: 'shape-mismatch', name, shape: actual.shape, expectedShape: expected.shape, pass: false };
  if (isStringTensor(actual) || isStringTensor(expected)) {
    if (!isStringTensor(actual) || !isStringTensor(expected)) return { kind: 'type-mismatch', name, dtype: actual.dtype, expectedDtype: expected.dtype, pass: false };
    let mismatches = 0;
    let firstMismatch = -1;
    actual.data.forEach((text, i) => {
      if (text === expected.data[i]) return;
      mismatches++;
      if (firstMismatch < 0) firstMismatch = i;
    });
    return { kind: 'strings', name, shape: actual.shape, count: actual.data.length, mismatches, firstMismatch, pass: mismatches === 0 };
  }
  return {
    kind: 'compared',
    name,
    dtype: actual.dtype,
    expectedDtype: expected.dtype,
    shape: actual.shape,
    ...compareValues(toFloat64(actual), toFloat64(expected), tolerance),
  };
}

/** C-order index → coordinates, for reporting where the largest error is. */
export function unravelIndex(index: number, shape: readonly number[]): number[] {
  const coords = new Array<number>(shape.length).fill(0);
  let rest = index;
  for (let axis = shape.length - 1; axis >= 0; axis--) {
    const size = shape[axis]!;
    coords[axis] = size > 0 ? rest % size : 0;
    rest = size > 0 ? Math.floor(rest / size) : 0;
  }
  return coords;
}
