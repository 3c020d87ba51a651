import { FormatError } from '../../errors.js';
import { None, py, type PyDict, type PyGlobal, type PyValue } from './value.js';

/**
 * What the format around a pickle decides: how persistent ids become storages, and which calls of
 * known globals (tensor rebuilds, OrderedDict, set) produce real values. Everything else stays inert.
 */
export interface UnpickleHooks {
  persistentLoad?(pid: PyValue): PyValue;
  /** REDUCE of `fn(*args)`: a value, or undefined to keep an inert `object`. */
  reduce?(fn: PyGlobal, args: PyValue[]): PyValue | undefined;
  /**
   * Every opcode that names a global or would run code in a real unpickler (GLOBAL, STACK_GLOBAL,
   * INST, REDUCE, NEWOBJ, NEWOBJ_EX, OBJ, BUILD, EXT*), with its offset: what `scan` judges.
   */
  onOpcode?(event: OpcodeEvent): void;
}

/** An opcode that imports or calls: the callable is the global it names, or the value it calls. */
export interface OpcodeEvent {
  readonly op: 'GLOBAL' | 'STACK_GLOBAL' | 'INST' | 'REDUCE' | 'NEWOBJ' | 'NEWOBJ_EX' | 'OBJ' | 'BUILD' | 'EXT';
  /** Byte offset of the opcode in the pickle. */
  readonly offset: number;
  readonly callable: PyValue;
}

export interface Unpickled {
  readonly value: PyValue;
  /** Every GLOBAL the pickle referenced (`module.name`), in first-seen order. */
  readonly globals: string[];
  /** Offset just past STOP: where a following pickle starts (the legacy format stacks them). */
  readonly end: number;
}

const MARK = Symbol('mark');
type StackItem = PyValue | typeof MARK;

const decoder = new TextDecoder('utf-8');
const latin1 = new TextDecoder('latin1');

/**
 * A pickle reader for protocols 0–5 that executes nothing. Written here instead of using the npm
 * `pickleparser` because torch files need what it loses: tuple vs list, int dict keys, signed LONG1,
 * OrderedDict attributes (`_metadata`), and stacked pickles (legacy format).
 */
export function unpickle(bytes: Uint8Array, hooks: UnpickleHooks = {}, start = 0): Unpickled {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = start;
  const stack: StackItem[] = [];
  const marks: number[] = [];
  const memo = new Map<number, PyValue>();
  const globals: string[] = [];
  const dictIndex = new WeakMap<PyDict, Map<string, number>>();
  const seenGlobals = new Set<string>();

  const fail = (message: string): never => {
    throw new FormatError(`malformed pickle at byte ${pos}: ${message}`);
  };
  const need = (n: number): void => {
    if (pos + n > bytes.length) fail('unexpected end of data (truncated file?)');
  };
  const u8 = (): number => {
    need(1);
    return bytes[pos++]!;
  };
  const u16 = (): number => {
    need(2);
    const v = view.getUint16(pos, true);
    pos += 2;
    return v;
  };
  const u32 = (): number => {
    need(4);
    const v = view.getUint32(pos, true);
    pos += 4;
    return v;
  };
  const u64 = (): number => {
    need(8);
    const v = view.getBigUint64(pos, true);
    pos += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail('length too large');
    return Number(v);
  };
  const take = (n: number): Uint8Array => {
    need(n);
    const out = bytes.subarray(pos, pos + n);
    pos += n;
    return out;
  };
  const line = (): string => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) fail('unterminated line');
    const text = latin1.decode(bytes.subarray(pos, end));
    pos = end + 1;
    return text;
  };
  const pop = (): PyValue => {
    const item = stack.pop();
    if (item === undefined) fail('stack underflow');
    if (item === MARK) fail('unexpected MARK');
    return item as PyValue;
  };
  const top = (): PyValue => {
    const item = stack[stack.length - 1];
    if (item === undefined || item === MARK) fail('stack underflow');
    return item as PyValue;
  };
  const popMark = (): PyValue[] => {
    const at = marks.pop();
    if (at === undefined) fail('no MARK on the stack');
    const items = stack.splice(at!) as StackItem[];
    items.shift();
    if (items.includes(MARK)) fail('nested MARK');
    return items as PyValue[];
  };
  const pushMark = (): void => {
    marks.push(stack.length);
    stack.push(MARK);
  };
  const global = (module: string, name: string): PyGlobal => {
    const qualified = `${module}.${name}`;
    if (!seenGlobals.has(qualified)) {
      seenGlobals.add(qualified);
      globals.push(qualified);
    }
    return py.global(module, name);
  };
  const longFromBytes = (data: Uint8Array): bigint => {
    if (data.length === 0) return 0n;
    if (data.length > MAX_INT_BYTES) fail(`an integer of ${data.length} bytes (more than any checkpoint holds; the file is corrupt or hostile)`);
    // little-endian two's complement, read in linear time through hex (shifting byte by byte is quadratic)
    const value = BigInt(`0x${Buffer.from(data).reverse().toString('hex')}`);
    return data[data.length - 1]! & 0x80 ? value - (1n << BigInt(8 * data.length)) : value;
  };
  const reduce = (fn: PyValue, args: PyValue): PyValue => {
    const argList = args.kind === 'tuple' ? args.items : [args];
    if (fn.kind === 'global') {
      const made = hooks.reduce?.(fn, argList);
      if (made !== undefined) return made;
    }
    return { kind: 'object', callable: fn, args: argList, newobj: false };
  };
  const setItems = (target: PyValue, pairs: PyValue[]): void => {
    if (pairs.length % 2 !== 0) fail('odd number of items for SETITEMS');
    const entries: [PyValue, PyValue][] = [];
    for (let i = 0; i < pairs.length; i += 2) {
      const key = pairs[i]!;
      // as Python refuses them: a list, dict or set cannot be a dict key (torch.load fails the same way)
      if (key.kind === 'list' || key.kind === 'dict' || (key.kind === 'set' && !key.frozen)) fail(`a ${key.kind} as a dict key (unhashable in Python)`);
      entries.push([key, pairs[i + 1]!]);
    }
    if (target.kind === 'dict') {
      // a repeated key replaces the value in place, as in Python
      let index = dictIndex.get(target);
      if (!index) dictIndex.set(target, (index = new Map(target.entries.map(([k], i) => [keyId(k), i]))));
      for (const entry of entries) {
        const id = keyId(entry[0]);
        const existing = index.get(id);
        if (existing !== undefined) target.entries[existing] = entry;
        else {
          index.set(id, target.entries.length);
          target.entries.push(entry);
        }
      }
    } else if (target.kind === 'object') {
      (target.dictItems ??= []).push(...entries);
    } else fail(`SETITEM on a ${target.kind}`);
  };
  const appendItems = (target: PyValue, items: PyValue[]): void => {
    // one at a time: spreading 500,000 items as arguments overflows the call stack
    if (target.kind === 'list' || target.kind === 'set') for (const item of items) target.items.push(item);
    else if (target.kind === 'object') {
      const list = (target.listItems ??= []);
      for (const item of items) list.push(item);
    }
    else fail(`APPEND on a ${target.kind}`);
  };
  const build = (target: PyValue, state: PyValue): void => {
    if (target.kind === 'dict') {
      // OrderedDict.__setstate__: its __dict__ (a state dict's `_metadata`) plus optional slot state
      const attrs = state.kind === 'tuple' ? state.items[0] : state;
      if (attrs?.kind === 'dict') {
        target.attributes ??= [];
        for (const [k, v] of attrs.entries) if (k.kind === 'str') target.attributes.push([k.value, v]);
      }
    } else if (target.kind === 'object') {
      target.state = state;
    }
    // BUILD on tensors (legacy `set_`) carries nothing a state dict needs.
  };

  const event = (op: OpcodeEvent['op'], offset: number, callable: PyValue): void => hooks.onOpcode?.({ op, offset, callable });

  for (;;) {
    const at = pos;
    const op = u8();
    switch (op) {
      case 0x80: // PROTO
        u8();
        break;
      case 0x95: // FRAME
        u64();
        break;
      case 0x2e: // STOP
        if (stack.length !== 1 || stack[0] === MARK) fail('STOP with a stack that does not hold one value');
        return { value: stack[0] as PyValue, globals, end: pos };
      case 0x28: // MARK
        pushMark();
        break;
      case 0x30: // POP
        if (stack[stack.length - 1] === MARK) popMark();
        else pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;
      case 0x4e: // NONE
        stack.push(None);
        break;
      case 0x88: // NEWTRUE
        stack.push(py.bool(true));
        break;
      case 0x89: // NEWFALSE
        stack.push(py.bool(false));
        break;
      case 0x49: {
        // INT (text); protocol 0 spells booleans I01 / I00
        const text = line();
        if (text === '01') stack.push(py.bool(true));
        else if (text === '00') stack.push(py.bool(false));
        else stack.push(py.int(parseBig(text, fail)));
        break;
      }
      case 0x4a: // BININT
        need(4);
        stack.push(py.int(view.getInt32(pos, true)));
        pos += 4;
        break;
      case 0x4b: // BININT1
        stack.push(py.int(u8()));
        break;
      case 0x4d: // BININT2
        stack.push(py.int(u16()));
        break;
      case 0x4c: // LONG (text, trailing L)
        stack.push(py.int(parseBig(line().replace(/L$/, ''), fail)));
        break;
      case 0x8a: // LONG1
        stack.push(py.int(longFromBytes(take(u8()))));
        break;
      case 0x8b: // LONG4
        stack.push(py.int(longFromBytes(take(u32()))));
        break;
      case 0x46: // FLOAT (text)
        stack.push(py.float(parseFloatText(line(), fail)));
        break;
      case 0x47: // BINFLOAT, big-endian
        need(8);
        stack.push(py.float(view.getFloat64(pos, false)));
        pos += 8;
        break;
      case 0x53: // STRING (protocol 0 repr)
        stack.push(py.str(unquote(line())));
        break;
      case 0x54: // BINSTRING
        stack.push(py.str(decoder.decode(take(u32()))));
        break;
      case 0x55: // SHORT_BINSTRING: a Python 2 str, decoded as torch.load does by default (utf-8)
        stack.push(py.str(decoder.decode(take(u8()))));
        break;
      case 0x56: // UNICODE (raw-unicode-escape)
        stack.push(py.str(line().replace(/\\u([0-9a-fA-F]{4})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)))));
        break;
      case 0x58: // BINUNICODE
        stack.push(py.str(decoder.decode(take(u32()))));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(py.str(decoder.decode(take(u8()))));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(py.str(decoder.decode(take(u64()))));
        break;
      case 0x42: // BINBYTES
        stack.push({ kind: 'bytes', value: Uint8Array.from(take(u32())) });
        break;
      case 0x43: // SHORT_BINBYTES
        stack.push({ kind: 'bytes', value: Uint8Array.from(take(u8())) });
        break;
      case 0x8e: // BINBYTES8
      case 0x96: // BYTEARRAY8
        stack.push({ kind: 'bytes', value: Uint8Array.from(take(u64())) });
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push(py.tuple([]));
        break;
      case 0x74: // TUPLE
        stack.push(py.tuple(popMark()));
        break;
      case 0x85: // TUPLE1
        stack.push(py.tuple([pop()]));
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        stack.push(py.tuple([pop(), b]));
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        stack.push(py.tuple([pop(), b, c]));
        break;
      }
      case 0x5d: // EMPTY_LIST
        stack.push(py.list([]));
        break;
      case 0x6c: // LIST
        stack.push(py.list(popMark()));
        break;
      case 0x61: {
        // APPEND
        const item = pop();
        appendItems(top(), [item]);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        appendItems(top(), items);
        break;
      }
      case 0x7d: // EMPTY_DICT
        stack.push(py.dict([]));
        break;
      case 0x64: {
        // DICT
        const dict = py.dict([]);
        setItems(dict, popMark());
        stack.push(dict);
        break;
      }
      case 0x73: {
        // SETITEM
        const value = pop();
        const key = pop();
        setItems(top(), [key, value]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x8f: // EMPTY_SET
        stack.push({ kind: 'set', items: [], frozen: false });
        break;
      case 0x90: {
        // ADDITEMS
        const items = popMark();
        appendItems(top(), items);
        break;
      }
      case 0x91: // FROZENSET
        stack.push({ kind: 'set', items: popMark(), frozen: true });
        break;
      case 0x63: {
        // GLOBAL
        const module = line();
        const named = global(module, line());
        event('GLOBAL', at, named);
        stack.push(named);
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (module.kind !== 'str' || name.kind !== 'str') fail('STACK_GLOBAL needs two strings');
        const named = global((module as { value: string }).value, (name as { value: string }).value);
        event('STACK_GLOBAL', at, named);
        stack.push(named);
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        const fn = pop();
        event('REDUCE', at, fn);
        stack.push(reduce(fn, args));
        break;
      }
      case 0x81: {
        // NEWOBJ
        const args = pop();
        const cls = pop();
        event('NEWOBJ', at, cls);
        stack.push(newObject(cls, args.kind === 'tuple' ? args.items : [args]));
        break;
      }
      case 0x92: {
        // NEWOBJ_EX (kwargs are dropped: no torch class needs them)
        pop();
        const args = pop();
        const cls = pop();
        event('NEWOBJ_EX', at, cls);
        stack.push(newObject(cls, args.kind === 'tuple' ? args.items : [args]));
        break;
      }
      case 0x69: {
        // INST
        const module = line();
        const cls = global(module, line());
        event('INST', at, cls);
        stack.push(newObject(cls, popMark()));
        break;
      }
      case 0x6f: {
        // OBJ
        const items = popMark();
        const cls = items.shift();
        if (cls === undefined) fail('OBJ without a class');
        event('OBJ', at, cls!);
        stack.push(newObject(cls!, items));
        break;
      }
      case 0x62: {
        // BUILD
        const state = pop();
        const target = top();
        // BUILD calls the class's __setstate__ (or updates its __dict__) in a real unpickler
        if (target.kind === 'object') event('BUILD', at, target.callable);
        build(target, state);
        break;
      }
      case 0x70: // PUT
        memo.set(memoIndex(line(), fail), top());
        break;
      case 0x71: // BINPUT
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x67: // GET
        stack.push(fromMemo(memo, memoIndex(line(), fail), fail));
        break;
      case 0x68: // BINGET
        stack.push(fromMemo(memo, u8(), fail));
        break;
      case 0x6a: // LONG_BINGET
        stack.push(fromMemo(memo, u32(), fail));
        break;
      case 0x50: // PERSID
        stack.push(persistent(hooks, py.str(line()), fail));
        break;
      case 0x51: // BINPERSID
        stack.push(persistent(hooks, pop(), fail));
        break;
      case 0x82: // EXT1: an object from copyreg's extension registry (whatever the loading process registered)
      case 0x83: // EXT2
      case 0x84: {
        // EXT4
        const code = op === 0x82 ? u8() : op === 0x83 ? u16() : u32();
        const named = global('copyreg._extension_registry', String(code));
        event('EXT', at, named);
        stack.push(named);
        break;
      }
      default:
        pos = at;
        fail(describeUnknown(op));
    }
  }
}

function newObject(cls: PyValue, args: PyValue[]): PyValue {
  return { kind: 'object', callable: cls, args, newobj: true };
}

function fromMemo(memo: Map<number, PyValue>, index: number, fail: (m: string) => never): PyValue {
  const value = memo.get(index);
  if (value === undefined) fail(`memo entry ${index} was never stored`);
  return value!;
}

function persistent(hooks: UnpickleHooks, pid: PyValue, fail: (m: string) => never): PyValue {
  if (!hooks.persistentLoad) fail('persistent id outside a checkpoint container');
  return hooks.persistentLoad!(pid);
}

/** Integers past this size are refused: torch's largest are 64-bit; a bound keeps parsing time and memory small. */
const MAX_INT_BYTES = 1 << 16;

function parseBig(text: string, fail: (m: string) => never): bigint {
  if (text.length > MAX_INT_BYTES) return fail(`an integer of ${text.length} digits (more than any checkpoint holds; the file is corrupt or hostile)`);
  try {
    return BigInt(text.trim());
  } catch {
    return fail(`bad integer ${JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text)}`);
  }
}

/** A protocol-0 memo index (PUT, GET): decimal digits, as Python's int() of the line. */
function memoIndex(text: string, fail: (m: string) => never): number {
  if (!/^\s*\d{1,15}\s*$/.test(text)) return fail(`bad memo index ${JSON.stringify(text.slice(0, 40))}`);
  return Number(text);
}

/** A protocol-0 float (FLOAT): what Python's float() of the line accepts — inf and nan included, nothing else. */
function parseFloatText(text: string, fail: (m: string) => never): number {
  const t = text.trim().toLowerCase();
  if (/^[+-]?(inf|infinity)$/.test(t)) return t.startsWith('-') ? -Infinity : Infinity;
  if (/^[+-]?nan$/.test(t)) return Number.NaN;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/.test(t)) return fail(`bad float ${JSON.stringify(text.slice(0, 40))}`);
  return Number(t);
}

function unquote(text: string): string {
  const quoted = /^(['"])(.*)\1$/s.exec(text);
  return quoted ? quoted[2]!.replace(/\\(.)/g, '$1') : text;
}

let uniqueKeys = 0;

/** Identity of a dict key for duplicate detection: hashable scalars by value, tuples by their items. */
function keyId(key: PyValue): string {
  switch (key.kind) {
    case 'str':
    case 'float':
    case 'bool':
      return `${key.kind}:${String(key.value)}`;
    case 'int':
      return `int:${key.value}`;
    case 'tuple':
      return `(${key.items.map(keyId).join(',')})`;
    case 'global':
      return `global:${key.module}.${key.name}`;
    default:
      return `${key.kind}#${++uniqueKeys}`;
  }
}

/** Names the opcode, and the well-known causes of an unexpected first byte. */
function describeUnknown(op: number): string {
  const shown = op >= 0x20 && op < 0x7f ? `'${String.fromCharCode(op)}'` : `0x${op.toString(16).padStart(2, '0')}`;
  return `unknown pickle opcode ${shown}`;
}
