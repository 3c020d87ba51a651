import { describe, expect, it } from 'vitest';
import { bfloat16ToNumber, decode, halfToNumber, numberToBfloat16, numberToHalf } from '../../src/checkpoint/numeric.js';

describe('float16 and bfloat16 conversion', () => {
  it('maps every float16 value back to its own bits', () => {
    for (let bits = 0; bits < 0x10000; bits++) {
      if (Number.isNaN(halfToNumber(bits))) continue;
      expect(numberToHalf(halfToNumber(bits))).toBe(bits);
    }
  });

  it('maps every bfloat16 value back to its own bits', () => {
    for (let bits = 0; bits < 0x10000; bits++) {
      if (Number.isNaN(bfloat16ToNumber(bits))) continue;
      expect(numberToBfloat16(bfloat16ToNumber(bits))).toBe(bits);
    }
  });

  it('rounds to nearest, ties to even, like torch', () => {
    // 1 + 2^-11 is halfway between 1 and the next half (1 + 2^-10): ties go to the even mantissa (1)
    expect(numberToHalf(1 + 2 ** -11)).toBe(0x3c00);
    expect(numberToHalf(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(numberToHalf(65520)).toBe(0x7c00); // rounds up to infinity
    expect(numberToHalf(65519)).toBe(0x7bff);
    expect(numberToHalf(2 ** -25)).toBe(0); // halfway to the smallest subnormal: ties to even (0)
    expect(numberToHalf(-0)).toBe(0x8000);
    expect(numberToHalf(NaN)).toBe(0x7e00);
    expect(numberToBfloat16(1 + 2 ** -8)).toBe(0x3f80);
    expect(numberToBfloat16(1 + 3 * 2 ** -8)).toBe(0x3f82);
  });

  it('decodes float8 formats by their own rules', () => {
    expect([...decode('float8_e4m3fn', Uint8Array.from([0x38, 0x7e, 0x7f, 0x01]))]).toEqual([1, 448, NaN, 2 ** -9]);
    expect([...decode('float8_e5m2', Uint8Array.from([0x3c, 0x7c, 0x7b]))]).toEqual([1, Infinity, 57344]);
    expect([...decode('float8_e4m3fnuz', Uint8Array.from([0x40, 0x80]))]).toEqual([1, NaN]);
    expect([...decode('int64', new Uint8Array(new BigInt64Array([-5n]).buffer))]).toEqual([-5]);
  });
});
