import { FormatError } from '../cli/errors.js';
import { readRange, type ByteSource } from '../io/byte-source.js';
import type { ByteSink } from '../io/byte-sink.js';
import { TorchZipWriter, ZipReader } from '../io/zip.js';
import type { Checkpoint } from './checkpoint.js';
import { unpickle } from './pickle/unpickler.js';
import type { PyValue } from './pickle/value.js';
import { StorageKeys, storageChunks } from './storage-io.js';
import { recordBytes, TorchUnpickleHooks } from './torch-pickle.js';
import { storageBytes } from './tensor.js';
import { pickle } from './pickle/pickler.js';

/**
 * Reads a `torch.save` zip checkpoint (torch 1.6 and later): any root folder, storage keys as opaque
 * strings in any record order, stored or deflated records, zip64. CRCs are verified.
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
  zip.verifyCrcs();

  const hooks = new TorchUnpickleHooks((record) => {
    const entry = zip.get(`${root}data/${record.key}`);
    if (!entry) throw new FormatError(`storage record data/${record.key} is missing`);
    if (entry.size !== recordBytes(record)) {
      throw new FormatError(`storage record data/${record.key} has ${entry.size} bytes, its tensor needs ${recordBytes(record)}`);
    }
    return { kind: 'range', range: entry.data() };
  });
  const { value, globals } = unpickle(readRange(dataPkl.data()), hooks);
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

/**
 * Writes a zip checkpoint that `torch.load(weights_only=True)` accepts, laid out as torch 2.x writes it
 * (so `mmap=True` with computed storage offsets works too): root folder `archive/`, storages numbered in
 * the order the pickle first meets them, each written once however many views share it.
 */
export function writeTorchZip(root: PyValue, sink: ByteSink, onProgress?: (bytes: number) => void): void {
  const keys = new StorageKeys();
  const dataPkl = pickle(root, { storageKey: (storage) => keys.keyOf(storage) });
  const zip = new TorchZipWriter(sink);
  zip.addBytes('archive/data.pkl', dataPkl);
  zip.addBytes('archive/.format_version', Buffer.from('1'));
  zip.addBytes('archive/.storage_alignment', Buffer.from('64'));
  zip.addBytes('archive/byteorder', Buffer.from('little'));
  let done = 0;
  for (const [key, storage] of keys.entries()) {
    zip.add(`archive/data/${key}`, storageBytes(storage), storageChunks(storage));
    done += storageBytes(storage);
    onProgress?.(done);
  }
  zip.addBytes('archive/version', Buffer.from('3\n'));
  zip.addBytes('archive/.data/serialization_id', Buffer.from(serializationId(dataPkl)));
  zip.finish();
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
