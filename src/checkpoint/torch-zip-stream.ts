import { closeSync, openSync, writeSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { FormatError } from '../errors.js';
import { FileSource, type ByteSource } from '../io/byte-source.js';
import type { PipeSource } from '../io/pipe-source.js';
import { spoolFile } from '../io/temp-files.js';
import { ZipStreamReader, type LocalRecord } from '../io/zip-stream.js';
import type { Checkpoint } from './checkpoint.js';
import { recordBytes, TorchUnpickleHooks, unpickleDataPkl } from './torch-pickle.js';

/** A pipe's capacity: pieces this size keep every process of a pipeline busy. */
const PIPE_CHUNK = 64 << 10;

/** Small members (a pickle, a version) are held whole; nothing a stream can hold is larger. */
const SMALL_LIMIT = 256 << 20;

/**
 * Reads a `torch.save` zip as it arrives through a pipe. torch writes `data.pkl` first, so the pickle
 * is read before any storage and the storages are then read in the order a writer asks for them, each
 * straight from the pipe (one met before it is wanted is spooled to a temporary file). What follows the
 * last storage — the version record, the central directory — is read and checked by the pipe's
 * `complete()`, which an output made from the stream waits for: only the members the central directory
 * lists exist, as for torch's own reader, so a stream whose local records disagree with it is refused.
 */
export function readTorchZipStream(pipe: PipeSource): Checkpoint {
  const stream = new TorchZipStream(pipe);
  return stream.readHead();
}

interface Seen {
  readonly record: LocalRecord;
  size?: number;
  crc?: number;
}

interface Current {
  readonly seen: Seen;
  /** Bytes of its data taken so far. */
  consumed: number;
}

class TorchZipStream {
  private readonly zip: ZipStreamReader;
  private root = '';
  /** Every local record met, in order, to be matched with the central directory. */
  private readonly seen: Seen[] = [];
  private readonly names = new Set<string>();
  private readonly small = new Map<string, Buffer>();
  /** Storage records the pickle names, by member name, with their sizes. */
  private readonly wanted = new Map<string, number>();
  private readonly spooled = new Map<string, FileSource>();
  private readonly done = new Set<string>();
  /** The record whose header has been read and whose data is next in the pipe. */
  private current: Current | undefined;
  private readonly details: Record<string, string> = { container: 'zip' };

  constructor(private readonly pipe: PipeSource) {
    this.zip = new ZipStreamReader(pipe);
  }

  readHead(): Checkpoint {
    let dataPkl: Buffer | undefined;
    while (dataPkl === undefined) {
      const seen = this.nextSeen();
      if (seen === undefined) throw new FormatError('zip archive has no data.pkl: not a torch checkpoint');
      const { record } = seen;
      if (this.root === '') {
        const slash = record.name.indexOf('/');
        if (slash < 0) throw new FormatError('zip archive is not a torch checkpoint (no root folder with data.pkl)');
        this.root = record.name.slice(0, slash + 1);
        this.details.rootFolder = this.root.slice(0, -1);
      }
      this.checkName(record.name);
      if (record.name === `${this.root}data.pkl`) dataPkl = this.readSmall(seen);
      else if (record.name.startsWith(`${this.root}data/`)) this.spool(seen, undefined);
      else this.small.set(record.name, this.readSmall(seen));
    }
    const hooks = new TorchUnpickleHooks((storage) => {
      const name = `${this.root}data/${storage.key}`;
      const length = recordBytes(storage);
      this.wanted.set(name, length);
      const spooled = this.spooled.get(name);
      if (spooled && spooled.size !== length) throw new FormatError(`storage record data/${storage.key} has ${spooled.size} bytes, its tensor needs ${length}`);
      const source = new StreamRecordSource(this, name, length);
      return { kind: 'range', range: { source, offset: 0, length, integrity: { member: name, crc32: () => this.crcOf(name) } } };
    });
    const { value, globals } = unpickleDataPkl(dataPkl, hooks);
    // the small records torch writes between the pickle and the storages
    this.readSmallRecordsAhead();
    const byteorder = this.small.get(`${this.root}byteorder`)?.toString('latin1').trim() ?? 'little';
    if (byteorder !== 'little') throw new FormatError(`storages are ${byteorder}-endian; only little-endian checkpoints are supported`);
    this.details.byteorder = byteorder;
    const formatVersion = this.small.get(`${this.root}.format_version`);
    if (formatVersion) this.details.formatVersion = formatVersion.toString('latin1').trim();
    this.pipe.onComplete(() => this.complete());
    return { format: 'torch', root: value, globals, details: this.details };
  }

  /** Serves a storage's bytes, read in order from the pipe (or from its spool). */
  read(name: string, offset: number, length: number, into?: Buffer): Buffer {
    const spooled = this.spooled.get(name);
    if (spooled) return spooled.read(offset, length, into);
    if (this.current?.seen.record.name !== name) this.advanceTo(name);
    const current = this.current!;
    const { record } = current.seen;
    const size = this.wanted.get(name)!;
    if (record.size !== undefined && record.size !== size) throw new FormatError(`storage record ${name.slice(this.root.length)} has ${record.size} bytes, its tensor needs ${size}`);
    if (record.compressed) {
      // deflated (never by torch): inflate it whole and serve it from its spool
      this.leaveCurrent(true);
      return this.read(name, offset, length, into);
    }
    if (offset < current.consumed) throw new Error(`internal: ${name} read at ${offset} after ${current.consumed} bytes of it streamed past`);
    this.pipe.skip(offset - current.consumed);
    const out = into !== undefined && into.length >= length ? into.subarray(0, length) : Buffer.allocUnsafe(length);
    this.pipe.readInto(out);
    current.consumed = offset + length;
    if (current.consumed === size) this.endCurrent(current, size);
    return out;
  }

  /** Past a record's last byte of data: its descriptor is read, and its CRC known. */
  private endCurrent(current: Current, size: number): void {
    current.seen.size = size;
    current.seen.crc = this.zip.endOfData(current.seen.record, size);
    this.done.add(current.seen.record.name);
    this.current = undefined;
  }

  private crcOf(name: string): number {
    // an empty storage is never read, so nothing has moved the pipe to it yet
    if (this.wanted.get(name) === 0 && !this.done.has(name) && !this.spooled.has(name)) this.read(name, 0, 0);
    const seen = this.byName(name);
    if (seen?.crc === undefined) throw new Error(`internal: the CRC of ${name} is asked for before its data was read`);
    return seen.crc;
  }

  /** Moves the pipe to `name`'s data, keeping wanted records passed on the way (spooled). */
  private advanceTo(name: string): void {
    if (this.done.has(name)) throw new Error(`internal: ${name} was read already and a pipe cannot be read twice`);
    for (;;) {
      if (this.current) this.leaveCurrent(true);
      const seen = this.nextSeen();
      if (seen === undefined) throw new FormatError(`storage record ${name.slice(this.root.length)} is missing`);
      this.checkName(seen.record.name);
      if (seen.record.name === name) {
        this.current = { seen, consumed: 0 };
        return;
      }
      this.current = { seen, consumed: 0 };
    }
  }

  /** Finishes the record under the read position: spools it if it is wanted later, else reads past it. */
  private leaveCurrent(keepWanted: boolean): void {
    const current = this.current!;
    const { seen, consumed } = current;
    const name = seen.record.name;
    const wantedSize = this.wanted.get(name);
    if (consumed > 0) {
      // partly read, then left: read past the rest without keeping it
      this.pipe.skip(wantedSize! - consumed);
      return this.endCurrent(current, wantedSize!);
    }
    this.current = undefined;
    if (wantedSize !== undefined && !this.done.has(name) && (keepWanted || seen.record.compressed)) this.spool(seen, wantedSize);
    else if (this.isSmall(seen.record)) this.small.set(name, this.readSmall(seen));
    else if (wantedSize !== undefined) this.drain(seen, wantedSize);
    else this.zip.skip(seen.record);
  }

  /** After the pickle: read the small records up to the first storage. */
  private readSmallRecordsAhead(): void {
    for (;;) {
      const seen = this.nextSeen();
      if (seen === undefined) return;
      this.checkName(seen.record.name);
      this.current = { seen, consumed: 0 };
      if (this.wanted.has(seen.record.name) || !this.isSmall(seen.record)) return;
      this.leaveCurrent(false);
    }
  }

  private isSmall(record: LocalRecord): boolean {
    return !record.name.startsWith(`${this.root}data/`) && (record.size === undefined || record.size <= SMALL_LIMIT);
  }

  /** The rest of the stream: the records no output needed, then the central directory, checked. */
  private complete(): void {
    if (this.current) this.leaveCurrent(false);
    for (let seen = this.nextSeen(); seen !== undefined; seen = this.nextSeen()) {
      this.checkName(seen.record.name);
      this.current = { seen, consumed: 0 };
      this.leaveCurrent(false);
    }
    const central = this.zip.centralDirectory();
    const local = new Map(this.seen.map((s) => [s.record.headerOffset, s]));
    if (central.length !== this.seen.length) {
      throw new FormatError(`zip central directory lists ${central.length} members, the stream holds ${this.seen.length}; read the file by name`);
    }
    for (const entry of central) {
      const seen = local.get(entry.headerOffset);
      if (seen === undefined || seen.record.name !== entry.name) {
        throw new FormatError(`zip central directory places ${entry.name} where the stream has no such member; read the file by name`);
      }
      if ((seen.size !== undefined && seen.size !== entry.size) || (seen.crc !== undefined && seen.crc >>> 0 !== entry.crc >>> 0)) {
        throw new FormatError(`zip member ${entry.name} differs from its central directory entry (corrupt archive)`);
      }
    }
    if (this.seen.some((s) => s.record.name === `${this.root}constants.pkl`)) {
      throw new FormatError('is a TorchScript archive (torch.jit.save), not a torch.save checkpoint; load it with torch.jit.load and save its state_dict()');
    }
    const version = this.small.get(`${this.root}version`) ?? this.small.get(`${this.root}.data/version`);
    if (!version) throw new FormatError(`zip archive has no ${this.root}version record: not a torch checkpoint`);
    // in the order the file reader gives them
    const { container, rootFolder, byteorder, formatVersion } = this.details;
    for (const key of Object.keys(this.details)) delete this.details[key];
    Object.assign(this.details, { container, rootFolder, version: version.toString('latin1').trim(), byteorder, ...(formatVersion !== undefined ? { formatVersion } : {}), records: String(central.length) });
  }

  private byName(name: string): Seen | undefined {
    for (let i = this.seen.length - 1; i >= 0; i--) if (this.seen[i]!.record.name === name) return this.seen[i];
    return undefined;
  }

  private nextSeen(): Seen | undefined {
    const record = this.zip.nextRecord();
    if (record === undefined) return undefined;
    if (this.names.has(record.name)) throw new FormatError(`zip archive has two members named ${record.name}`);
    this.names.add(record.name);
    const seen: Seen = { record, ...(record.size !== undefined ? { size: record.size } : {}), ...(record.crc !== undefined ? { crc: record.crc } : {}) };
    this.seen.push(seen);
    return seen;
  }

  private checkName(name: string): void {
    if (!name.startsWith(this.root)) throw new FormatError(`zip member ${name} is outside the root folder ${this.root}`);
  }

  private readSmall(seen: Seen): Buffer {
    const bytes = this.zip.readWhole(seen.record, SMALL_LIMIT);
    seen.size = bytes.length;
    seen.crc = crc32(bytes);
    return bytes;
  }

  /** Reads a record through, checking its size and descriptor, keeping nothing. */
  private drain(seen: Seen, size: number): void {
    for (const _ of this.zip.pieces(seen.record, size, (crc) => ((seen.size = size), (seen.crc = crc))));
  }

  /** Copies a record's data to a temporary file, to be read when it is wanted. */
  private spool(seen: Seen, size: number | undefined): void {
    const path = spoolFile();
    const fd = openSync(path, 'w', 0o600);
    try {
      const write = (piece: Buffer): void => {
        let done = 0;
        while (done < piece.length) done += writeSync(fd, piece, done, piece.length - done);
      };
      if (size !== undefined) {
        for (const piece of this.zip.pieces(seen.record, size, (crc) => ((seen.size = size), (seen.crc = crc)))) write(piece);
      } else {
        const bytes = this.zip.readWhole(seen.record, SMALL_LIMIT);
        seen.size = bytes.length;
        seen.crc = crc32(bytes);
        write(bytes);
      }
    } finally {
      closeSync(fd);
    }
    this.spooled.set(seen.record.name, new FileSource(this.pipe.name, path));
  }
}

/** One storage record of a zip arriving through a pipe, as a source of its own (offset 0 is its first byte). */
class StreamRecordSource implements ByteSource {
  readonly chunk = PIPE_CHUNK;
  constructor(
    private readonly stream: TorchZipStream,
    private readonly member: string,
    readonly size: number,
  ) {}
  get name(): string {
    return '-';
  }
  read(offset: number, length: number, into?: Buffer): Buffer {
    if (offset < 0 || offset + length > this.size) throw new FormatError(`unexpected end of storage record ${this.member}`);
    return this.stream.read(this.member, offset, length, into);
  }
  close(): void {}
}
