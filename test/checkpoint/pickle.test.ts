import fc from 'fast-check';
import { Parser } from 'pickleparser';
import { describe, expect, it } from 'vitest';
import { pickle } from '../../src/checkpoint/pickle/pickler.js';
import { unpickle } from '../../src/checkpoint/pickle/unpickler.js';
import { py, type PyValue } from '../../src/checkpoint/pickle/value.js';
import { TorchUnpickleHooks } from '../../src/checkpoint/torch-pickle.js';

const noStorages = { storageKey: (): string => '' };
const hooks = (): TorchUnpickleHooks =>
  new TorchUnpickleHooks(() => {
    throw new Error('no storages here');
  });
const roundTrip = (value: PyValue): PyValue => unpickle(pickle(value, noStorages), hooks()).value;

/** Plain Python values torch checkpoints hold besides tensors. */
const pyValue: fc.Arbitrary<PyValue> = fc.letrec<{ value: PyValue }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant<PyValue>({ kind: 'none' }),
    fc.boolean().map(py.bool),
    fc.bigInt({ min: -(2n ** 100n), max: 2n ** 100n }).map((v) => py.int(v)),
    fc.double().map(py.float),
    fc.string({ unit: 'binary' }).filter((s) => Buffer.from(s, 'utf8').toString('utf8') === s).map(py.str),
    fc.uint8Array({ maxLength: 20 }).map((value): PyValue => ({ kind: 'bytes', value })),
    fc.array(tie('value'), { maxLength: 5 }).map((items) => py.tuple(items)),
    fc.array(tie('value'), { maxLength: 5 }).map((items) => py.list(items)),
    fc.uniqueArray(fc.integer({ min: -1000, max: 1000 }), { maxLength: 5 }).map((ints): PyValue => ({ kind: 'set', items: ints.map(py.int), frozen: false })),
    fc
      .tuple(fc.uniqueArray(fc.oneof(fc.string({ maxLength: 8 }).map(py.str), fc.integer().map(py.int)), { maxLength: 5, selector: (k) => `${k.kind}:${(k as { value: unknown }).value}` }), fc.array(tie('value'), { maxLength: 5 }), fc.boolean())
      .map(([keys, values, ordered]) => py.dict(keys.map((k, i) => [k, values[i] ?? py.int(i)] as [PyValue, PyValue]), ordered)),
  ),
})).value;

describe('pickle writer and reader', () => {
  it('round-trips every plain value exactly (tuple vs list, int keys, big ints, bytes, sets, OrderedDict)', () => {
    fc.assert(
      fc.property(pyValue, (value) => {
        expect(roundTrip(value)).toEqual(value);
      }),
      { numRuns: 300 },
    );
  });

  it('keeps OrderedDict attributes (_metadata) through BUILD', () => {
    const dict = py.dict([[py.str('w'), py.int(1)]], true);
    dict.attributes = [['_metadata', py.dict([[py.str(''), py.dict([[py.str('version'), py.int(1)]])]], true)]];
    expect(roundTrip(dict)).toEqual(dict);
  });

  it('writes only protocol-2 opcodes that torch.load(weights_only=True) accepts', () => {
    const allowed = new Set([0x80, 0x2e, 0x28, 0x63, 0x52, 0x81, 0x62, 0x61, 0x65, 0x73, 0x75, 0x74, 0x85, 0x86, 0x87, 0x29, 0x5d, 0x7d, 0x4e, 0x88, 0x89, 0x4a, 0x4b, 0x4d, 0x8a, 0x47, 0x58, 0x51, 0x68, 0x6a, 0x71, 0x72]);
    fc.assert(
      fc.property(pyValue, (value) => {
        const bytes = pickle(value, noStorages);
        // walk the opcodes by reading with a tracing unpickle: every op our writer uses must be allowed
        for (const op of opcodes(bytes)) expect(allowed.has(op), `opcode 0x${op.toString(16)}`).toBe(true);
      }),
      { numRuns: 100 },
    );
  });

  it('agrees with the npm pickleparser on the values both represent the same way', () => {
    const simple: fc.Arbitrary<PyValue> = fc.letrec<{ v: PyValue }>((tie) => ({
      v: fc.oneof(
        { depthSize: 'small' },
        fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }).map(py.int),
        fc.double({ noNaN: true }).map(py.float),
        fc.string().map(py.str),
        fc.array(tie('v'), { maxLength: 4 }).map(py.list),
        fc.dictionary(fc.string({ minLength: 1, maxLength: 6 }).filter((k) => !/^\d+$/.test(k) && k !== '__proto__'), tie('v'), { maxKeys: 4 }).map((o) =>
          py.dict(Object.entries(o).map(([k, v]) => [py.str(k), v])),
        ),
      ),
    })).v;
    const toJs = (value: PyValue): unknown => {
      switch (value.kind) {
        case 'int':
          return Number(value.value);
        case 'float':
        case 'str':
          return value.value;
        case 'list':
          return value.items.map(toJs);
        case 'dict':
          return Object.fromEntries(value.entries.map(([k, v]) => [(k as { value: string }).value, toJs(v)]));
        default:
          throw new Error(value.kind);
      }
    };
    fc.assert(
      fc.property(simple, (value) => {
        expect(new Parser().parse(pickle(value, noStorages))).toEqual(toJs(value));
      }),
      { numRuns: 200 },
    );
  });

  // pickle.dumps({'a': (1, -2, 2**70, -2**70), 'b': [1.5, None, True, False], 'c': {1: 'x', 2: b'\x00\xff'},
  //               'd': {3, 4}, 'e': 'héllo', 'o': OrderedDict(k=1)}, protocol=P) from CPython 3.11
  const cpython: Record<number, string> = {
    0: '286470300a56610a70310a2849310a492d320a4c313138303539313632303731373431313330333432344c0a4c2d313138303539313632303731373431313330333432344c0a7470320a7356620a70330a286c70340a46312e350a614e614930310a614930300a617356630a70350a286470360a49310a56780a70370a7349320a635f636f646563730a656e636f64650a70380a28565c7530303030ff0a70390a566c6174696e310a7031300a747031310a527031320a737356640a7031330a635f5f6275696c74696e5f5f0a7365740a7031340a28286c7031350a49330a6149340a61747031360a527031370a7356650a7031380a5668e96c6c6f0a7031390a73566f0a7032300a63636f6c6c656374696f6e730a4f726465726564446963740a7032310a2874527032320a566b0a7032330a49310a73732e',
    2: '80027d7100285801000000617101284b014afeffffff8a090000000000000000408a090000000000000000c074710258010000006271035d710428473ff80000000000004e88896558010000006371057d7106284b0158010000007871074b02635f636f646563730a656e636f64650a7108580300000000c3bf710958060000006c6174696e31710a86710b52710c75580100000064710d635f5f6275696c74696e5f5f0a7365740a710e5d710f284b034b04658571105271115801000000657112580600000068c3a96c6c6f711358010000006f711463636f6c6c656374696f6e730a4f726465726564446963740a71152952711658010000006b71174b0173752e',
    4: '80049597000000000000007d94288c016194284b014afeffffff8a090000000000000000408a090000000000000000c074948c0162945d9428473ff80000000000004e8889658c0163947d94284b018c0178944b02430200ff94758c0164948f94284b034b04908c0165948c0668c3a96c6c6f948c016f948c0b636f6c6c656374696f6e73948c0b4f726465726564446963749493942952948c016b944b0173752e',
  };
  const expected = py.dict([
    [py.str('a'), py.tuple([py.int(1), py.int(-2), py.int(2n ** 70n), py.int(-(2n ** 70n))])],
    [py.str('b'), py.list([py.float(1.5), { kind: 'none' }, py.bool(true), py.bool(false)])],
    [py.str('c'), py.dict([[py.int(1), py.str('x')], [py.int(2), { kind: 'bytes', value: Uint8Array.from([0, 255]) }]])],
    [py.str('d'), { kind: 'set', items: [py.int(3), py.int(4)], frozen: false }],
    [py.str('e'), py.str('héllo')],
    [py.str('o'), py.dict([[py.str('k'), py.int(1)]], true)],
  ]);
  for (const protocol of [2, 4]) {
    it(`reads CPython protocol ${protocol} pickles`, () => {
      expect(unpickle(Buffer.from(cpython[protocol]!, 'hex'), hooks()).value).toEqual(expected);
    });
  }
  it('reads CPython protocol 0 (text) pickles', () => {
    const value = unpickle(Buffer.from(cpython[0]!, 'hex'), hooks()).value;
    // protocol 0 spells bytes as a latin-1 str passed to _codecs.encode, which decodes the same
    expect(value).toEqual(expected);
  });

  it('reports unknown opcodes and truncation with the byte offset', () => {
    expect(() => unpickle(Buffer.from('version https://git-lfs'))).toThrow(/unknown pickle opcode 'v'/);
    expect(() => unpickle(Buffer.from(cpython[2]!, 'hex').subarray(0, 40))).toThrow(/unexpected end of data/);
  });

  it('lists every global a pickle references and executes none', () => {
    // GLOBAL os system, ('echo pwned',), REDUCE
    const evil = Buffer.concat([Buffer.from([0x80, 0x02, 0x63]), Buffer.from('os\nsystem\n'), Buffer.from([0x58, 10, 0, 0, 0]), Buffer.from('echo pwned'), Buffer.from([0x85, 0x52, 0x2e])]);
    const result = unpickle(evil, hooks());
    expect(result.globals).toEqual(['os.system']);
    expect(result.value).toMatchObject({ kind: 'object', callable: { kind: 'global', module: 'os', name: 'system' } });
  });
});

/** The opcodes of a pickle our writer made (it uses only fixed-size arguments and GLOBAL lines). */
function opcodes(bytes: Uint8Array): number[] {
  const ops: number[] = [];
  const buf = Buffer.from(bytes);
  for (let at = 0; at < buf.length; ) {
    const op = buf[at++]!;
    ops.push(op);
    switch (op) {
      case 0x80:
      case 0x4b:
      case 0x71:
      case 0x68:
        at += 1;
        break;
      case 0x4d:
        at += 2;
        break;
      case 0x4a:
      case 0x72:
      case 0x6a:
        at += 4;
        break;
      case 0x47:
        at += 8;
        break;
      case 0x8a:
        at += 1 + buf[at]!;
        break;
      case 0x58:
        at += 4 + buf.readUInt32LE(at);
        break;
      case 0x63:
        at = buf.indexOf(0x0a, buf.indexOf(0x0a, at) + 1) + 1;
        break;
    }
  }
  return ops;
}

describe('long integers (LONG1/LONG4)', () => {
  const long4 = (data: Uint8Array): Uint8Array => {
    const head = Buffer.alloc(7);
    head.set([0x80, 0x02, 0x8b]);
    head.writeUInt32LE(data.length, 3);
    return Buffer.concat([head, data, Buffer.from([0x2e])]);
  };
  const value = (bytes: Uint8Array): bigint => {
    const parsed = unpickle(bytes, hooks()).value;
    if (parsed.kind !== 'int') throw new Error('not an int');
    return parsed.value;
  };

  it('reads a 60 KB integer in linear time, two’s complement little-endian', () => {
    const data = new Uint8Array(60_000);
    data[0] = 0x39;
    data[1] = 0x30;
    data[data.length - 1] = 0x01;
    expect(value(long4(data)) - (1n << BigInt(8 * (data.length - 1)))).toBe(12345n);
    expect(value(long4(new Uint8Array(60_000).fill(0xff)))).toBe(-1n);
    expect(value(long4(Uint8Array.from([0x00, 0x80])))).toBe(-32768n);
  });

  it('writes integers as CPython does: LONG1 up to 255 bytes, LONG4 past it (a 2,100-bit one no longer wraps the length)', () => {
    // CPython: pickle.dumps(2**2100, 2)[2:7] == b'\\x8b\\x07\\x01\\x00\\x00' (263 bytes), pickle.dumps(-2**40 - 1, 2)[2:] == b'\\x8a\\x06\\xff\\xff\\xff\\xff\\xff\\xfe.'
    const big = pickle(py.int(2n ** 2100n), noStorages);
    expect(Buffer.from(big.subarray(2, 7))).toEqual(Buffer.from([0x8b, 0x07, 0x01, 0x00, 0x00]));
    expect(value(big)).toBe(2n ** 2100n);
    expect(Buffer.from(pickle(py.int(-(2n ** 40n) - 1n), noStorages).subarray(2))).toEqual(Buffer.from([0x8a, 0x06, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, 0x2e]));
    fc.assert(
      fc.property(fc.bigInt({ min: -(2n ** 4000n), max: 2n ** 4000n }), (n) => {
        expect(value(pickle(py.int(n), noStorages))).toBe(n);
      }),
    );
  });

  it('refuses an integer larger than any checkpoint holds', () => {
    expect(() => unpickle(long4(new Uint8Array(100_000)), hooks())).toThrow(/an integer of 100000 bytes/);
  });
});
