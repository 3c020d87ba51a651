import { FormatError, ModsurgError } from '../errors.js';
import { type ByteRange, type ByteSource } from '../io/byte-source.js';
import type { ByteSink } from '../io/byte-sink.js';
import type { Checkpoint } from './checkpoint.js';
import { dtypeInfo } from './dtype.js';
import { pickle } from './pickle/pickler.js';
import { unpickle } from './pickle/unpickler.js';
import { py, type PyValue } from './pickle/value.js';
import { StorageKeys, storageChunks } from './storage-io.js';
import { recordBytes, TorchUnpickleHooks, type StorageRecord } from './torch-pickle.js';

const MAGIC_NUMBER = 0x1950a86a20f9469cfc6cn;
const PROTOCOL_VERSION = 1001n;

/** Reads one pickle of the stack starting at `offset`. */
function readPickleAt(source: ByteSource, offset: number, hooks?: TorchUnpickleHooks): { value: PyValue; globals: string[]; end: number } {
  // The pickles are small next to the storages after them: read growing windows until one ends.
  for (let window = 1 << 16; ; window *= 4) {
    const length = Math.min(window, source.size - offset);
    const bytes = source.read(offset, length);
    try {
      const result = unpickle(bytes, hooks);
      return { ...result, end: offset + result.end };
    } catch (error) {
      if (length === source.size - offset || !(error instanceof FormatError) || !/unexpected end/.test(error.message)) throw error;
    }
  }
}

/**
 * Reads the legacy (non-zip) format: five stacked pickles (magic number, protocol version, sys info,
 * the object, the storage key list), then each storage as an int64 element count and its raw bytes.
 */
export function readTorchLegacy(source: ByteSource): Checkpoint {
  const magic = readPickleAt(source, 0);
  if (magic.value.kind !== 'int' || magic.value.value !== MAGIC_NUMBER) throw new FormatError('invalid magic number; corrupt legacy checkpoint');
  const protocol = readPickleAt(source, magic.end);
  if (protocol.value.kind !== 'int' || protocol.value.value !== PROTOCOL_VERSION) {
    throw new FormatError(`unsupported legacy protocol version ${protocol.value.kind === 'int' ? protocol.value.value : '?'}`);
  }
  const sysInfo = readPickleAt(source, protocol.end);
  // storage byte ranges are known only after the key list: fill them in once it is read
  const ranges = new Map<string, { source: ByteSource; offset: number; length: number }>();
  const hooks = new TorchUnpickleHooks((record) => {
    let range = ranges.get(record.key);
    if (!range) ranges.set(record.key, (range = { source, offset: 0, length: recordBytes(record) }));
    return { kind: 'range', range: range as ByteRange };
  }, true);
  const main = readPickleAt(source, sysInfo.end, hooks);
  const keyList = readPickleAt(source, main.end);
  if (keyList.value.kind !== 'list') throw new FormatError('legacy checkpoint has no storage key list');
  let at = keyList.end;
  for (const key of keyList.value.items) {
    if (key.kind !== 'str') throw new FormatError('legacy storage key is not a string');
    const record = hooks.records.get(key.value);
    const count = Number(source.read(at, 8).readBigInt64LE(0));
    at += 8;
    if (!record) throw new FormatError(`storage ${key.value} is listed but never used`);
    const bytes = elementsBytes(record, count);
    if (bytes !== recordBytes(record)) throw new FormatError(`storage ${key.value} has ${count} elements, its tensor needs ${record.numel}`);
    const range = ranges.get(key.value)!;
    range.offset = at;
    if (at + bytes > source.size) throw new FormatError('unexpected end of file in storage data (the file is truncated)');
    at += bytes;
  }
  for (const record of hooks.records.values()) {
    if (!keyList.value.items.some((k) => k.kind === 'str' && k.value === record.key)) throw new FormatError(`storage ${record.key} is missing from the key list`);
  }
  return {
    format: 'torch-legacy',
    root: main.value,
    globals: main.globals,
    details: { container: 'legacy', protocol: String(PROTOCOL_VERSION), sysInfo: describeSysInfo(sysInfo.value) },
  };
}

function elementsBytes(record: StorageRecord, count: number): number {
  return record.dtype === undefined ? count : count * dtypeInfo(record.dtype).size;
}

function describeSysInfo(value: PyValue): string {
  if (value.kind !== 'dict') return '';
  return value.entries
    .filter(([k, v]) => k.kind === 'str' && (v.kind === 'bool' || v.kind === 'int'))
    .map(([k, v]) => `${(k as { value: string }).value}=${String((v as { value: unknown }).value)}`)
    .join(' ');
}

/** Writes the legacy format (`_use_new_zipfile_serialization=False`), loadable with weights_only=True. */
export function writeTorchLegacy(root: PyValue, sink: ByteSink): void {
  const keys = new StorageKeys();
  const noStorages = { storageKey: (): string => '' };
  sink.write(pickle({ kind: 'int', value: MAGIC_NUMBER }, noStorages));
  sink.write(pickle({ kind: 'int', value: PROTOCOL_VERSION }, noStorages));
  const typeSizes = py.dict([
    [py.str('short'), py.int(2)],
    [py.str('int'), py.int(4)],
    [py.str('long'), py.int(4)],
  ]);
  sink.write(
    pickle(
      py.dict([
        [py.str('protocol_version'), py.int(PROTOCOL_VERSION)],
        [py.str('little_endian'), py.bool(true)],
        [py.str('type_sizes'), typeSizes],
      ]),
      noStorages,
    ),
  );
  sink.write(pickle(root, { storageKey: (storage) => keys.keyOf(storage), legacyPersistentIds: true }));
  const entries = keys.entries();
  const untyped = entries.find(([, storage]) => dtypeInfo(storage.dtype).storageClass === undefined);
  if (untyped) {
    // torch writes these through UntypedStorage, and its own legacy loader then fails on them
    throw new ModsurgError(`cannot write ${untyped[1].dtype} tensors in the legacy format (torch cannot load them from it); use --format torch`);
  }
  sink.write(pickle(py.list(entries.map(([key]) => py.str(key))), noStorages));
  for (const [, storage] of entries) {
    const count = Buffer.alloc(8);
    count.writeBigInt64LE(BigInt(storage.numel));
    sink.write(count);
    for (const chunk of storageChunks(storage)) sink.write(chunk);
  }
}

