import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { py, pyFloatRepr, pyRepr } from '../../src/checkpoint/pickle/value.js';
import { ORACLE_PYTHON, ORACLE_SKIP, python } from '../helpers/oracle.js';

describe('pyRepr', () => {
  it("prints plain values as Python's repr does", () => {
    expect(pyRepr(py.tuple([py.int(3), py.int(3)]))).toBe('(3, 3)');
    expect(pyRepr(py.tuple([py.int(1)]))).toBe('(1,)');
    expect(pyRepr(py.tuple([]))).toBe('()');
    expect(pyRepr(py.list([py.str("it's"), py.str('a'), py.bool(true)]))).toBe(`["it's", 'a', True]`);
    expect(pyRepr(py.dict([[py.str('k'), py.float(1e-5)]]))).toBe("{'k': 1e-05}");
    expect(pyRepr(py.global('torch', 'float16'))).toBe('torch.float16');
  });

  it('abbreviates long and deep values when asked', () => {
    expect(pyRepr(py.list(Array.from({ length: 9 }, (_, i) => py.int(i))), { maxItems: 8 })).toBe('[…]');
    expect(pyRepr(py.list([py.list([py.list([py.int(1)])])]), { maxDepth: 2 })).toBe('[[[…]]]');
  });
});

describe.skipIf(!ORACLE_PYTHON)(`pyFloatRepr against Python's repr${ORACLE_SKIP}`, () => {
  it('agrees on 2,000 doubles: integers, tiny and huge exponents, negative zero, inf, nan', () => {
    const values = [0, -0, 1, -1, 0.1, 1e-4, 1e-5, 1.5e-5, 1e16, 1e15, 123456789012345678, 2 ** 53, 5e-324, Number.MAX_VALUE, Infinity, -Infinity, NaN, 0.3, 2.0, 1e22];
    values.push(...fc.sample(fc.double(), 1980));
    const ours = values.map(pyFloatRepr);
    // the same bits, passed as hex: nothing is lost on the way to Python
    const hex = values.map((v) => Buffer.from(new Float64Array([v]).buffer).toString('hex'));
    const theirs = python('import sys, struct\nfor h in sys.argv[1:]:\n    print(repr(struct.unpack("<d", bytes.fromhex(h))[0]))', hex).stdout.trim().split('\n');
    expect(ours).toEqual(theirs);
  });
});
