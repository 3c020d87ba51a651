import { FormatError } from '../errors.js';
import { readRange, type ByteRange, type ByteSource } from '../io/byte-source.js';
import { AlignedZipLayout, ZipReader, type MemberData, type ZipMemberSpec } from '../io/zip.js';
import type { Checkpoint } from './checkpoint.js';
import type { PyValue } from './pickle/value.js';
import { StorageKeys } from './storage-io.js';
import { recordBytes, TorchUnpickleHooks, unpickleDataPkl } from './torch-pickle.js';
import { storageBytes, type Storage } from './tensor.js';
import { pickle } from './pickle/pickler.js';

/**
 * Reads a `torch.save` zip checkpoint (torch 1.6 and later): any root folder, storage keys as opaque
 * strings in any record order, stored or deflated records, zip64. A member's CRC is checked whenever it
 * is read whole (the pickle now, a storage when it is copied), not up front: opening stays instant.
 */
export function readTorchZip(source: ByteSource): Checkpoint {
  const zip = new ZipReader(source);
  const first = zip.entries[0]?.name;
  const slash = first?.indexOf('/') ?? -1;
  if (first === undefined || slash < 0) throw new FormatError('zip archive is not a torch checkpoint (no root folder with data.pkl)');
  const root = first.slice(0, slash + 1);
  for (const entry of zip.entries) {
    if (!entry.name.startsWith(root)) throw new FormatError(`zip member ${entry.name} is outside the root folder ${root}`);
  }
  if (zip.get(`${root}constants.pkl`)) {
    throw new FormatError('is a TorchScript archive (torch.jit.save), not a torch.save checkpoint; load it with torch.jit.load and save its state_dict()');
  }
  const dataPkl = zip.get(`${root}data.pkl`);
  if (!dataPkl) throw new FormatError(`zip archive has no ${root}data.pkl: not a torch checkpoint`);
  const version = zip.get(`${root}version`) ?? zip.get(`${root}.data/version`);
  if (!version) throw new FormatError(`zip archive has no ${root}version record: not a torch checkpoint`);
  const byteorderEntry = zip.get(`${root}byteorder`);
  const byteorder = byteorderEntry ? readRange(byteorderEntry.data()).toString('latin1').trim() : 'little';
  if (byteorder !== 'little') throw new FormatError(`storages are ${byteorder}-endian; only little-endian checkpoints are supported`);

  const hooks = new TorchUnpickleHooks((record) => {
    const entry = zip.get(`${root}data/${record.key}`);
    if (!entry) throw new FormatError(`storage record data/${record.key} is missing`);
    if (entry.size !== recordBytes(record)) {
      throw new FormatError(`storage record data/${record.key} has ${entry.size} bytes, its tensor needs ${recordBytes(record)}`);
    }
    return { kind: 'range', range: entry.data() };
  });
  const { value, globals } = unpickleDataPkl(readRange(dataPkl.data()), hooks);
  const formatVersion = zip.get(`${root}.format_version`);
  return {
    format: 'torch',
    root: value,
    globals,
    details: {
      container: 'zip',
      rootFolder: root.slice(0, -1),
      version: readRange(version.data()).toString('latin1').trim(),
      byteorder,
      ...(formatVersion ? { formatVersion: readRange(formatVersion.data()).toString('latin1').trim() } : {}),
      records: String(zip.entries.length),
    },
  };
}

export interface TorchZipOptions {
  /** The archive's root folder: kept from a zip input (torch names it after the file), else `archive`. */
  rootFolder?: string;
}

/**
 * Plans a zip checkpoint that `torch.load(weights_only=True)` accepts, laid out as torch 2.x writes it
 * (so `mmap=True` with computed storage offsets works too), each storage written once however many
 * views share it. Storages keep their input's order, so a stream is read front to back and a rewrite
 * of a torch-made file leaves them at the offsets they had: the first is padded to its old place when
 * the new pickle fits in front of it, and a copy of the input already holds them all.
 */
export function planTorchZip(root: PyValue, options: TorchZipOptions = {}): AlignedZipLayout {
  const met = new StorageKeys();
  let dataPkl = pickle(root, { storageKey: (storage) => met.keyOf(storage) });
  const meetingOrder = met.entries().map(([, storage]) => storage);
  const order = inInputOrder(meetingOrder);
  // torch computes storage offsets from `.format_version` on: claim it only when the keys run in the
  // order the pickle meets them and each storage follows the last, as in torch's own files
  const faithful = order.every((storage, i) => storage === meetingOrder[i]);
  if (!faithful) {
    const keys = new Map(order.map((storage, i) => [storage, String(i)]));
    dataPkl = pickle(root, { storageKey: (storage) => keys.get(storage)! });
  }
  const folder = `${options.rootFolder ?? 'archive'}/`;
  const bytes = (name: string, value: Uint8Array | string): ZipMemberSpec => ({
    name: folder + name,
    data: { kind: 'bytes', bytes: typeof value === 'string' ? Buffer.from(value) : value },
  });
  const first = order[0]?.data;
  const members: ZipMemberSpec[] = [
    bytes('data.pkl', dataPkl),
    ...(faithful ? [bytes('.format_version', '1'), bytes('.storage_alignment', '64')] : []),
    bytes('byteorder', 'little'),
    ...order.map((storage, i) => ({
      name: `${folder}data/${i}`,
      data: memberData(storage),
      ...(i === 0 && first?.kind === 'range' ? { dataAt: first.range.offset } : {}),
    })),
    bytes('version', '3\n'),
    bytes('.data/serialization_id', serializationId(dataPkl)),
  ];
  return new AlignedZipLayout(members);
}

/**
 * The storages in the order the pickle meets them, except that those from one input come in the
 * order they lie there (within the places they hold), so an input is read front to back.
 */
function inInputOrder(storages: readonly Storage[]): Storage[] {
  const bySource = new Map<unknown, Storage[]>();
  for (const storage of storages) {
    if (storage.data.kind !== 'range') continue;
    const group = bySource.get(storage.data.range.source) ?? [];
    group.push(storage);
    bySource.set(storage.data.range.source, group);
  }
  const sorted = new Map<unknown, Storage[]>();
  for (const [source, group] of bySource) sorted.set(source, [...group].sort((a, b) => rangeOf(a).offset - rangeOf(b).offset));
  const taken = new Map<unknown, number>();
  return storages.map((storage) => {
    if (storage.data.kind !== 'range') return storage;
    const source = storage.data.range.source;
    const at = taken.get(source) ?? 0;
    taken.set(source, at + 1);
    return sorted.get(source)![at]!;
  });
}

function rangeOf(storage: Storage): ByteRange {
  if (storage.data.kind !== 'range') throw new Error('not a range storage');
  return storage.data.range;
}

function memberData(storage: Storage): MemberData {
  switch (storage.data.kind) {
    case 'range':
      return { kind: 'range', range: storage.data.range };
    case 'bytes':
      return { kind: 'bytes', bytes: storage.data.bytes };
    case 'computed':
      return { kind: 'computed', length: storageBytes(storage), chunks: storage.data.chunks };
  }
}

/** torch only logs this id; any 40 digits will do. Derived from the pickle so output is reproducible. */
function serializationId(dataPkl: Uint8Array): string {
  let a = 1469598103934665603n;
  let b = 1099511628211n;
  for (const byte of dataPkl) {
    a = ((a ^ BigInt(byte)) * 1099511628211n) & 0xffffffffffffffffn;
    b = ((b + BigInt(byte)) * 6364136223846793005n + 1442695040888963407n) & 0xffffffffffffffffn;
  }
  return a.toString().padStart(20, '0') + b.toString().padStart(20, '0');
}
