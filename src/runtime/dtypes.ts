import { dtypeInfo } from '../checkpoint/dtype.js';
import { ModsurgError } from '../errors.js';

/**
 * The element types onnxruntime-node can feed and fetch, with the typed array that holds each one (their
 * sizes are the dtype table's, checkpoint/dtype.ts).
 * A tensor is a discriminated union on `dtype`, so its `data` is always the matching array.
 */

export const ELEMENT_TYPES = [
  'float32',
  'float64',
  'float16',
  'int8',
  'int16',
  'int32',
  'int64',
  'uint8',
  'uint16',
  'uint32',
  'uint64',
  'bool',
] as const;

export type ElementType = (typeof ELEMENT_TYPES)[number];

/** The array each element type lives in. float16 is kept as its raw bits (onnxruntime-node on Node 20 does the same). */
export interface ArrayFor {
  float32: Float32Array;
  float64: Float64Array;
  float16: Uint16Array;
  int8: Int8Array;
  int16: Int16Array;
  int32: Int32Array;
  int64: BigInt64Array;
  uint8: Uint8Array;
  uint16: Uint16Array;
  uint32: Uint32Array;
  uint64: BigUint64Array;
  bool: Uint8Array;
}

export type TensorArray = ArrayFor[ElementType];

/** A tensor of numbers or bools in host memory: C-order data and its shape. */
export type NumericTensor = {
  [D in ElementType]: { readonly dtype: D; readonly shape: readonly number[]; readonly data: ArrayFor[D] };
}[ElementType];

/** A tensor of strings (ONNX's `string`: bytes, held here as their UTF-8 text), C-order. */
export interface StringTensor {
  readonly dtype: 'string';
  readonly shape: readonly number[];
  readonly data: readonly string[];
}

/** A tensor in host memory: what is fed to a model and what comes back. */
export type HostTensor = NumericTensor | StringTensor;

/** Every type a host tensor can have. */
export type HostDtype = ElementType | 'string';

export function isHostDtype(name: string): name is HostDtype {
  return name === 'string' || isElementType(name);
}

export function isStringTensor(tensor: HostTensor): tensor is StringTensor {
  return tensor.dtype === 'string';
}

/** The tensor as numbers, where only numbers make sense (`what` names it in the error). */
export function numericTensor(tensor: HostTensor, what: string): NumericTensor {
  if (isStringTensor(tensor)) throw new ModsurgError(`${what} holds strings, not numbers`);
  return tensor;
}

/** How values of a type are drawn and compared: floats, integers as numbers, 64-bit integers as bigints, bools. */
export type ElementKind = 'float' | 'int' | 'bigint' | 'bool';

export interface ElementInfo<D extends ElementType> {
  readonly bytes: number;
  readonly kind: ElementKind;
  /** NumPy's type character (`f`, `i`, `u`, `b`) for the `descr` of a .npy header. */
  readonly npyChar: 'f' | 'i' | 'u' | 'b';
  /** Smallest and largest value (integers only). */
  readonly range?: readonly [number, number];
  /** A zero-filled array of `length` elements. */
  alloc(length: number): ArrayFor[D];
  /** A view of `length` elements over an aligned buffer. */
  view(buffer: ArrayBufferLike, byteOffset: number, length: number): ArrayFor[D];
}

function info<D extends ElementType>(
  dtype: D,
  kind: ElementKind,
  npyChar: ElementInfo<D>['npyChar'],
  make: { new (length: number): ArrayFor[D]; new (buffer: ArrayBufferLike, byteOffset: number, length: number): ArrayFor[D] },
  range?: readonly [number, number],
): ElementInfo<D> {
  return {
    bytes: dtypeInfo(dtype).size,
    kind,
    npyChar,
    ...(range ? { range } : {}),
    alloc: (length) => new make(length),
    view: (buffer, byteOffset, length) => new make(buffer, byteOffset, length),
  };
}

export const ELEMENT_INFO: { readonly [D in ElementType]: ElementInfo<D> } = {
  float32: info('float32', 'float', 'f', Float32Array),
  float64: info('float64', 'float', 'f', Float64Array),
  float16: info('float16', 'float', 'f', Uint16Array),
  int8: info('int8', 'int', 'i', Int8Array, [-128, 127]),
  int16: info('int16', 'int', 'i', Int16Array, [-32768, 32767]),
  int32: info('int32', 'int', 'i', Int32Array, [-2147483648, 2147483647]),
  int64: info('int64', 'bigint', 'i', BigInt64Array, [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER]),
  uint8: info('uint8', 'int', 'u', Uint8Array, [0, 255]),
  uint16: info('uint16', 'int', 'u', Uint16Array, [0, 65535]),
  uint32: info('uint32', 'int', 'u', Uint32Array, [0, 4294967295]),
  uint64: info('uint64', 'bigint', 'u', BigUint64Array, [0, Number.MAX_SAFE_INTEGER]),
  bool: info('bool', 'bool', 'b', Uint8Array, [0, 1]),
};

export function isElementType(name: string): name is ElementType {
  return (ELEMENT_TYPES as readonly string[]).includes(name);
}

/**
 * Pairs a dtype with its array. The caller guarantees the array type matches (`ELEMENT_INFO[dtype]`
 * made it); the cast is the one place the union is assembled from parts.
 */
export function makeTensor<D extends ElementType>(dtype: D, shape: readonly number[], data: ArrayFor[D]): NumericTensor {
  return { dtype, shape: [...shape], data } as NumericTensor;
}

/** The tensor's bytes, little-endian as in memory (every platform Node supports here is little-endian). */
export function tensorBytes(tensor: NumericTensor): Uint8Array {
  return new Uint8Array(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength);
}

/** `float32 [1,3,16,16]` */
export function describeTensor(dtype: string, shape: readonly (number | string)[]): string {
  return `${dtype} [${shape.join(',')}]`;
}
