import { dtypeInfo, type DType } from './dtype.js';

/**
 * Element values as numbers, for the few operations that must look at them (diff, dtype casts).
 * Complex numbers are their (real, imaginary) pairs; 64-bit integers beyond 2^53 lose precision.
 */
export function decode(dtype: DType, bytes: Uint8Array): Float64Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const info = dtypeInfo(dtype);
  const parts = info.kind === 'complex' ? 2 : 1;
  const count = (bytes.byteLength / info.size) * parts;
  const out = new Float64Array(count);
  const step = info.size / parts;
  const read = reader(dtype, view);
  for (let i = 0; i < count; i++) out[i] = read(i * step);
  return out;
}

function reader(dtype: DType, view: DataView): (at: number) => number {
  switch (dtype) {
    case 'float64':
    case 'complex128':
      return (at) => view.getFloat64(at, true);
    case 'float32':
    case 'complex64':
      return (at) => view.getFloat32(at, true);
    case 'float16':
    case 'complex32':
      return (at) => halfToNumber(view.getUint16(at, true));
    case 'bfloat16':
      return (at) => bfloat16ToNumber(view.getUint16(at, true));
    case 'int64':
      return (at) => Number(view.getBigInt64(at, true));
    case 'uint64':
      return (at) => Number(view.getBigUint64(at, true));
    case 'int32':
      return (at) => view.getInt32(at, true);
    case 'uint32':
      return (at) => view.getUint32(at, true);
    case 'int16':
      return (at) => view.getInt16(at, true);
    case 'uint16':
    case 'bits16':
      return (at) => view.getUint16(at, true);
    case 'int8':
      return (at) => view.getInt8(at);
    case 'uint8':
    case 'bool':
    case 'bits8':
    case 'bits1x8':
    case 'bits2x4':
    case 'bits4x2':
      return (at) => view.getUint8(at);
    case 'float8_e4m3fn':
      return (at) => float8ToNumber(view.getUint8(at), 4, 7, 'fn');
    case 'float8_e4m3fnuz':
      return (at) => float8ToNumber(view.getUint8(at), 4, 8, 'fnuz');
    case 'float8_e5m2':
      return (at) => float8ToNumber(view.getUint8(at), 5, 15, 'ieee');
    case 'float8_e5m2fnuz':
      return (at) => float8ToNumber(view.getUint8(at), 5, 16, 'fnuz');
    case 'float8_e8m0fnu':
      return (at) => (view.getUint8(at) === 0xff ? NaN : 2 ** (view.getUint8(at) - 127));
    case 'float4_e2m1fn_x2':
      // two 4-bit values a byte; shown as the low nibble's value
      return (at) => fp4ToNumber(view.getUint8(at) & 0x0f);
  }
}

export function halfToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 0x1f) return fraction ? NaN : sign * Infinity;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function bfloat16ToNumber(bits: number): number {
  u32[0] = bits << 16;
  return f32[0]!;
}

function float8ToNumber(byte: number, exponentBits: number, bias: number, style: 'fn' | 'fnuz' | 'ieee'): number {
  const mantissaBits = 7 - exponentBits;
  const sign = byte & 0x80 ? -1 : 1;
  const exponent = (byte >> mantissaBits) & ((1 << exponentBits) - 1);
  const mantissa = byte & ((1 << mantissaBits) - 1);
  if (style === 'fnuz' && byte === 0x80) return NaN;
  if (style === 'fn' && (byte & 0x7f) === 0x7f) return NaN;
  if (style === 'ieee' && exponent === (1 << exponentBits) - 1) return mantissa ? NaN : sign * Infinity;
  if (exponent === 0) return sign * mantissa * 2 ** (1 - bias - mantissaBits);
  return sign * (1 + mantissa / (1 << mantissaBits)) * 2 ** (exponent - bias);
}

function fp4ToNumber(nibble: number): number {
  const values = [0, 0.5, 1, 1.5, 2, 3, 4, 6];
  return (nibble & 0x8 ? -1 : 1) * values[nibble & 0x7]!;
}

/** float32 → float16 bits, round to nearest even, as torch's `.half()` (c10::Half from float) — on the
 *  float32 bit pattern, since casting millions of values one Math.log2 at a time is slow. */
export function numberToHalf(value: number): number {
  f32[0] = value;
  const bits = u32[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  let mantissa = bits & 0x7fffff;
  if (exponent === 0xff) return sign | (mantissa !== 0 ? 0x7e00 : 0x7c00);
  const e = exponent - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    // subnormal half (or zero): shift the full significand, then round the bits shifted out
    if (e < -10) return sign;
    mantissa |= 0x800000;
    const shift = 14 - e;
    let half = mantissa >>> shift;
    const rest = mantissa & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rest > halfway || (rest === halfway && (half & 1) === 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  // a carry out of the mantissa moves into the exponent, up to infinity, as it should
  if (rest > 0x1000 || (rest === 0x1000 && (half & 1) === 1)) half++;
  return sign | half;
}

/**
 * double → float16 bits, round to nearest even straight from the double, as NumPy's `astype(float16)`
 * does. numberToHalf rounds through float32 first, as torch does, and can round the other way where
 * that first rounding lands a value on a tie: each is kept for the library its output must match.
 */
export function numberToHalfDirect(value: number): number {
  if (Number.isNaN(value)) return 0x7e00;
  const sign = value < 0 || Object.is(value, -0) ? 0x8000 : 0;
  const magnitude = Math.abs(value);
  // 65520 is halfway between the largest half (65504) and the next step (65536): it rounds to infinity.
  if (magnitude >= 65520) return sign | 0x7c00;
  if (magnitude < 2 ** -14) return sign | roundHalfEven(magnitude * 2 ** 24);
  let exponent = Math.floor(Math.log2(magnitude));
  if (2 ** exponent > magnitude) exponent -= 1;
  if (2 ** (exponent + 1) <= magnitude) exponent += 1;
  let mantissa = roundHalfEven((magnitude / 2 ** exponent - 1) * 1024);
  if (mantissa === 1024) {
    mantissa = 0;
    exponent += 1;
  }
  if (exponent + 15 >= 0x1f) return sign | 0x7c00;
  return sign | ((exponent + 15) << 10) | mantissa;
}

/** Rounds to the nearest integer, ties to even. Scaling by powers of two is exact, so the fraction compared is exact too. */
function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const fraction = x - floor;
  if (fraction > 0.5) return floor + 1;
  if (fraction < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

/** float32 → bfloat16 bits, round to nearest even, as c10::BFloat16 does. */
export function numberToBfloat16(value: number): number {
  f32[0] = value;
  if (Number.isNaN(f32[0])) return 0x7fc0;
  const bits = u32[0]!;
  return ((bits + (((bits >>> 16) & 1) + 0x7fff)) >>> 16) & 0xffff;
}

export type CastTarget = 'float16' | 'bfloat16' | 'float32' | 'float64';

/** Converts floating values to another floating dtype's bytes, as torch's `.to(dtype)` rounds. */
export function encodeFloats(target: CastTarget, values: Float64Array): Uint8Array {
  const size = dtypeInfo(target).size;
  const out = new Uint8Array(values.length * size);
  const view = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    switch (target) {
      case 'float16':
        view.setUint16(i * 2, numberToHalf(v), true);
        break;
      case 'bfloat16':
        view.setUint16(i * 2, numberToBfloat16(v), true);
        break;
      case 'float32':
        view.setFloat32(i * 4, v, true);
        break;
      case 'float64':
        view.setFloat64(i * 8, v, true);
        break;
    }
  }
  return out;
}
