import { ModsurgError } from '../../errors.js';
import { dtypeInfo } from '../dtype.js';
import { isWritableGlobal } from '../safe-globals.js';
import type { Storage, Tensor } from '../tensor.js';
import { keyText, qualifiedName, type PyDict, type PyValue } from './value.js';

/** How the container around the pickle names a storage (its zip record or legacy key). */
export type StorageKeyOf = (storage: Storage) => string;

export interface PickleOptions {
  storageKey: StorageKeyOf;
  /** The legacy format's persistent ids carry a sixth item (view metadata, always None). */
  legacyPersistentIds?: boolean;
}

const encoder = new TextEncoder();
const join = (path: string, key: string): string => (path === '' ? key : `${path}.${key}`);
/** CPython batches SETITEMS/APPENDS by this many items. */
const BATCH = 1000;

/**
 * Writes a pickle that `torch.load(weights_only=True)` accepts: protocol 2, only the opcodes and
 * globals its restricted unpickler allows, tensors as torch itself pickles them. Values that cannot be
 * written that way (instances of unknown classes) are an error naming where they are.
 */
export function pickle(value: PyValue, options: PickleOptions): Uint8Array {
  const out = new PickleBuffer();
  // As CPython's pickler does, every object, string and global is memoised and repeats are fetched
  // back (BINGET): the pickle comes out as small as torch's, so a rewrite's fits where the old one was.
  // Strings are memoised by value, since equal strings cannot be told apart once loaded.
  const memo = new Map<object | string, number>();

  const remember = (key: object | string): void => {
    const index = memo.size;
    memo.set(key, index);
    if (index < 256) out.op(0x71, index); // BINPUT
    else out.opU32(0x72, index); // LONG_BINPUT
  };
  const recall = (key: object | string): boolean => {
    const index = memo.get(key);
    if (index === undefined) return false;
    if (index < 256) out.op(0x68, index); // BINGET
    else out.opU32(0x6a, index); // LONG_BINGET
    return true;
  };
  const str = (text: string): void => {
    if (recall(`str:${text}`)) return;
    out.str(text);
    remember(`str:${text}`);
  };
  const global = (module: string, name: string): void => {
    if (!isWritableGlobal(module, name)) {
      throw new ModsurgError(`cannot write ${module}.${name}: torch.load(weights_only=True) refuses it (--drop-unsafe leaves it out)`);
    }
    if (recall(`global:${module}\n${name}`)) return;
    out.bytes([0x63]);
    out.bytes(encoder.encode(`${module}\n${name}\n`));
    remember(`global:${module}\n${name}`);
  };
  // Values are written with an explicit stack of steps, not recursion: a 100,000-deep list (which torch
  // loads) is deeper than the call stack. A step may schedule more with `then`; they run, in the order
  // scheduled, right after it and before anything scheduled earlier — what a recursive call would do.
  const steps: (() => void)[] = [];
  let scheduled: (() => void)[] = [];
  const then = (step: () => void): void => void scheduled.push(step);
  const emit = (bytes: number[]): void => then(() => out.bytes(bytes));
  const write = (value: PyValue, path: string): void => then(() => writeNow(value, path));

  const tuple = (items: (() => void)[]): void => {
    if (items.length === 0) return emit([0x29]);
    if (items.length <= 3) {
      items.forEach(then);
      return emit([[0x85, 0x86, 0x87][items.length - 1]!]);
    }
    emit([0x28]);
    items.forEach(then);
    emit([0x74]);
  };
  /** A tuple of items written at once (a tensor's sizes and strides), for steps that schedule nothing. */
  const tupleNow = (items: (() => void)[]): void => {
    if (items.length === 0) return out.bytes([0x29]);
    if (items.length <= 3) {
      items.forEach((item) => item());
      return out.bytes([[0x85, 0x86, 0x87][items.length - 1]!]);
    }
    out.bytes([0x28]);
    items.forEach((item) => item());
    out.bytes([0x74]);
  };
  const emptyOrderedDict = (): void => {
    global('collections', 'OrderedDict');
    out.bytes([0x29, 0x52]); // EMPTY_TUPLE REDUCE
  };
  const setItems = (entries: [PyValue, PyValue][], path: string): void => {
    for (let i = 0; i < entries.length; i += BATCH) {
      const batch = entries.slice(i, i + BATCH);
      if (batch.length > 1) emit([0x28]);
      for (const [k, v] of batch) {
        write(k, path);
        write(v, join(path, keyText(k)));
      }
      emit([batch.length > 1 ? 0x75 : 0x73]);
    }
  };
  const dict = (value: PyDict, path: string): void => {
    if (value.ordered) emptyOrderedDict();
    else out.bytes([0x7d]);
    remember(value);
    setItems(value.entries, path);
    if (value.attributes && value.attributes.length > 0) {
      emit([0x7d]);
      setItems(value.attributes.map(([k, v]) => [{ kind: 'str', value: k }, v]), path);
      emit([0x62]); // BUILD: OrderedDict.__dict__.update(attributes)
    }
  };
  const tensor = (t: Tensor, path: string): void => {
    const info = dtypeInfo(t.dtype);
    const typed = info.storageClass !== undefined;
    if (t.parameter) global('torch._utils', '_rebuild_parameter');
    global('torch._utils', typed ? '_rebuild_tensor_v2' : '_rebuild_tensor_v3');
    out.bytes([0x28]);
    // persistent id: ('storage', storage type, key, location, numel[, view metadata])
    out.bytes([0x28]);
    str('storage');
    if (typed) global('torch', info.storageClass!);
    else global('torch.storage', 'UntypedStorage');
    str(options.storageKey(t.storage));
    str('cpu');
    out.int(BigInt(typed ? t.storage.numel : t.storage.numel * info.size));
    if (options.legacyPersistentIds) out.bytes([0x4e]);
    out.bytes([0x74, 0x51]); // TUPLE BINPERSID
    out.int(BigInt(t.storageOffset));
    tupleNow(t.shape.map((d) => () => out.int(BigInt(d))));
    tupleNow(t.stride.map((d) => () => out.int(BigInt(d))));
    out.bytes([t.requiresGrad && !t.parameter ? 0x88 : 0x89]);
    emptyOrderedDict();
    if (!typed) global('torch', t.dtype);
    out.bytes([0x74, 0x52]); // TUPLE REDUCE
    if (t.parameter) {
      out.bytes([t.requiresGrad ? 0x88 : 0x89]);
      emptyOrderedDict();
      out.bytes([0x87, 0x52]); // TUPLE3 REDUCE
    }
    void path;
  };
  const writeNow = (value: PyValue, path: string): void => {
    switch (value.kind) {
      case 'none':
        return out.bytes([0x4e]);
      case 'bool':
        return out.bytes([value.value ? 0x88 : 0x89]);
      case 'int':
        return out.int(value.value);
      case 'float':
        return out.float(value.value);
      case 'str':
        return str(value.value);
      case 'bytes':
        // protocol 2 has no bytes type: torch and CPython write _codecs.encode(latin-1 text, 'latin1')
        global('_codecs', 'encode');
        str(Buffer.from(value.value).toString('latin1'));
        str('latin1');
        return out.bytes([0x86, 0x52]);
      case 'tuple':
        if (recall(value)) return;
        tuple(value.items.map((item, i) => () => writeNow(item, join(path, String(i)))));
        return then(() => remember(value));
      case 'list':
        if (recall(value)) return;
        out.bytes([0x5d]);
        remember(value);
        for (let i = 0; i < value.items.length; i += BATCH) {
          const batch = value.items.slice(i, i + BATCH);
          if (batch.length > 1) emit([0x28]);
          batch.forEach((item, j) => write(item, join(path, String(i + j))));
          emit([batch.length > 1 ? 0x65 : 0x61]);
        }
        return;
      case 'set':
        if (value.frozen) throw new ModsurgError(`cannot write the frozenset at ${path}: torch.load(weights_only=True) refuses it`);
        if (recall(value)) return;
        global('__builtin__', 'set');
        write({ kind: 'list', items: value.items }, path);
        emit([0x85, 0x52]);
        return then(() => remember(value));
      case 'dict':
        if (recall(value)) return;
        return dict(value, path);
      case 'global':
        return global(value.module, value.name);
      case 'tensor':
        if (recall(value)) return;
        tensor(value.tensor, path);
        return remember(value);
      case 'storage':
        throw new ModsurgError(`cannot write the bare storage at ${path}; only tensors are supported`);
      case 'object': {
        if (value.callable.kind !== 'global' || !isWritableGlobal(value.callable.module, value.callable.name)) {
          const name = value.callable.kind === 'global' ? qualifiedName(value.callable) : 'an object';
          throw new ModsurgError(
            `cannot write ${name} at ${path || 'the top level'}: torch.load(weights_only=True) refuses it (--drop-unsafe leaves it out; --key writes only a state dict)`,
          );
        }
        if (recall(value)) return;
        write(value.callable, path);
        tuple(value.args.map((arg, i) => () => writeNow(arg, join(path, String(i)))));
        emit([value.newobj ? 0x81 : 0x52]);
        then(() => remember(value));
        if (value.state !== undefined) {
          write(value.state, path);
          emit([0x62]);
        }
        return;
      }
    }
  };

  out.bytes([0x80, 0x02]);
  steps.push(() => writeNow(value, ''));
  while (steps.length > 0) {
    scheduled = [];
    steps.pop()!();
    for (let i = scheduled.length - 1; i >= 0; i--) steps.push(scheduled[i]!);
  }
  out.bytes([0x2e]);
  return out.toBytes();
}

/** An append-only byte buffer with the encodings CPython's protocol 2 uses. */
class PickleBuffer {
  private chunks: Uint8Array[] = [];
  private scratch = Buffer.alloc(9);

  bytes(data: ArrayLike<number>): void {
    this.chunks.push(Uint8Array.from(data));
  }
  op(code: number, arg: number): void {
    this.bytes([code, arg]);
  }
  opU32(code: number, arg: number): void {
    this.scratch.writeUInt8(code, 0);
    this.scratch.writeUInt32LE(arg, 1);
    this.bytes(this.scratch.subarray(0, 5));
  }
  str(text: string): void {
    const data = encoder.encode(text);
    this.scratch.writeUInt8(0x58, 0);
    this.scratch.writeUInt32LE(data.length, 1);
    this.bytes(this.scratch.subarray(0, 5));
    this.chunks.push(data);
  }
  float(value: number): void {
    this.scratch.writeUInt8(0x47, 0);
    this.scratch.writeDoubleBE(value, 1);
    this.bytes(this.scratch.subarray(0, 9));
  }
  int(value: bigint): void {
    if (value >= 0n && value < 256n) return this.bytes([0x4b, Number(value)]);
    if (value >= 0n && value < 65536n) return this.bytes([0x4d, Number(value) & 0xff, Number(value) >> 8]);
    if (value >= -(2n ** 31n) && value < 2n ** 31n) {
      this.scratch.writeUInt8(0x4a, 0);
      this.scratch.writeInt32LE(Number(value), 1);
      return this.bytes(this.scratch.subarray(0, 5));
    }
    // LONG1 (LONG4 past 255 bytes, as CPython writes them): minimal two's-complement little-endian,
    // made through hex in linear time
    const data = twosComplement(value);
    if (data.length < 256) return this.bytes([0x8a, data.length, ...data]);
    this.scratch.writeUInt8(0x8b, 0);
    this.scratch.writeUInt32LE(data.length, 1);
    this.bytes(this.scratch.subarray(0, 5));
    this.bytes(data);
  }
  toBytes(): Uint8Array {
    return Buffer.concat(this.chunks);
  }
}

/** The fewest little-endian two's-complement bytes that hold `value` (what pickle's encode_long gives). */
function twosComplement(value: bigint): Buffer {
  const negative = value < 0n;
  // a negative value's bytes are the complement of those of -value - 1
  let hex = (negative ? -value - 1n : value).toString(16);
  if (hex.length % 2 === 1) hex = `0${hex}`;
  const bytes = Buffer.from(hex, 'hex').reverse();
  if (negative) for (let i = 0; i < bytes.length; i++) bytes[i] = bytes[i]! ^ 0xff;
  const top = bytes[bytes.length - 1]! & 0x80;
  if (!negative && top) return Buffer.concat([bytes, Buffer.from([0x00])]);
  if (negative && !top) return Buffer.concat([bytes, Buffer.from([0xff])]);
  return bytes;
}
