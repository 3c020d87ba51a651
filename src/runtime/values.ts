import { halfToNumber, numberToHalfDirect } from '../checkpoint/numeric.js';
import { numelOf } from '../checkpoint/tensor.js';
import type { SeededRandom } from '../io/random.js';
import { ELEMENT_INFO, makeTensor, type ElementType, type NumericTensor } from './dtypes.js';

/** Moving between tensors of any element type and plain numbers: for statistics, comparison and filling. */

/** Every element as a double: float16 decoded, 64-bit integers rounded past 2^53, bools as 0/1. */
export function toFloat64(tensor: NumericTensor): Float64Array {
  switch (tensor.dtype) {
    case 'float64':
      return tensor.data;
    case 'float16': {
      const out = new Float64Array(tensor.data.length);
      for (let i = 0; i < out.length; i++) out[i] = halfToNumber(tensor.data[i]!);
      return out;
    }
    case 'int64':
    case 'uint64': {
      const out = new Float64Array(tensor.data.length);
      for (let i = 0; i < out.length; i++) out[i] = Number(tensor.data[i]!);
      return out;
    }
    default:
      return Float64Array.from(tensor.data);
  }
}

/**
 * Builds a tensor of `dtype` from numbers, converting as NumPy's astype would for in-range values.
 * `at` names the element for messages when a value does not fit (an integer type given 1.5).
 */
export function fromNumbers(dtype: ElementType, shape: readonly number[], values: ArrayLike<number>, describe: (index: number) => string): NumericTensor {
  const info = ELEMENT_INFO[dtype];
  const count = numelOf(shape);
  if (values.length !== count) throw new RangeError(`expected ${count} values, got ${values.length}`);
  const check = (i: number): number => {
    const v = values[i]!;
    if (info.kind === 'float') return v;
    if (!Number.isInteger(v)) throw new RangeError(`${describe(i)} is ${v}, not a whole number as ${dtype} needs`);
    const [low, high] = info.range!;
    if (v < low || v > high) throw new RangeError(`${describe(i)} is ${v}, outside ${dtype}'s range ${low}..${high}`);
    return v;
  };
  switch (dtype) {
    case 'float16': {
      const data = new Uint16Array(count);
      for (let i = 0; i < count; i++) data[i] = numberToHalfDirect(values[i]!);
      return makeTensor('float16', shape, data);
    }
    case 'int64': {
      const data = new BigInt64Array(count);
      for (let i = 0; i < count; i++) data[i] = BigInt(check(i));
      return makeTensor('int64', shape, data);
    }
    case 'uint64': {
      const data = new BigUint64Array(count);
      for (let i = 0; i < count; i++) data[i] = BigInt(check(i));
      return makeTensor('uint64', shape, data);
    }
    default: {
      const data = info.alloc(count) as Exclude<NumericTensor['data'], BigInt64Array | BigUint64Array>;
      for (let i = 0; i < count; i++) data[i] = check(i);
      return makeTensor(dtype, shape, data);
    }
  }
}

export type FillKind = 'random' | 'zeros' | 'ones';

/** A value range for random inputs: `[low, high)`, integers drawn whole. */
export interface ValueRange {
  readonly low: number;
  readonly high: number;
}

/** Defaults for random values: floats in [-1, 1), integers in [0, 10), bools 0/1. */
export function defaultRange(dtype: ElementType): ValueRange {
  const kind = ELEMENT_INFO[dtype].kind;
  if (kind === 'float') return { low: -1, high: 1 };
  if (kind === 'bool') return { low: 0, high: 2 };
  return { low: 0, high: 10 };
}

/** A tensor of zeros, ones or seeded random values. Random integers are drawn from [low, high). */
export function filledTensor(dtype: ElementType, shape: readonly number[], fill: FillKind, rng: SeededRandom, range: ValueRange): NumericTensor {
  const count = numelOf(shape);
  const values = new Float64Array(count);
  if (fill === 'ones') values.fill(1);
  if (fill === 'random') {
    const integral = ELEMENT_INFO[dtype].kind !== 'float';
    for (let i = 0; i < count; i++) {
      values[i] = integral ? rng.integer(range.low, range.high) : rng.uniform(range.low, range.high);
    }
  }
  return fromNumbers(dtype, shape, values, (i) => `element ${i}`);
}

/** Checks a random range against a type: integer bounds for integer types, within the type's range. */
export function rangeProblem(dtype: ElementType, range: ValueRange): string | undefined {
  const info = ELEMENT_INFO[dtype];
  if (!(range.low < range.high)) return `the range ${range.low}:${range.high} is empty (it is [low, high))`;
  if (info.kind === 'float') return undefined;
  if (!Number.isInteger(range.low) || !Number.isInteger(range.high)) return `${dtype} needs whole-number bounds, got ${range.low}:${range.high}`;
  const [low, high] = info.range!;
  if (range.low < low || range.high - 1 > high) return `${range.low}:${range.high} does not fit ${dtype} (${low}..${high})`;
  return undefined;
}
