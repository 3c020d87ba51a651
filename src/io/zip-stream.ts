import { crc32, inflateRawSync } from 'node:zlib';
import { FormatError } from '../errors.js';
import type { PipeSource } from './pipe-source.js';
import { readU64, zip64Sizes } from './zip.js';

/** A member as its local header describes it, met front to back. */
export interface LocalRecord {
  readonly name: string;
  readonly headerOffset: number;
  readonly compressed: boolean;
  /** Bit 3: the CRC and sizes follow the data, in a data descriptor (as torch writes every member). */
  readonly deferred: boolean;
  /** From the local header; unknown for a deferred member until its descriptor is read. */
  readonly size?: number;
  readonly compressedSize?: number;
  readonly crc?: number;
  /** The local header has a zip64 field, so a descriptor carries 8-byte sizes. */
  readonly zip64: boolean;
}

/** A member as the central directory lists it: the only members a zip holds. */
export interface CentralRecord {
  readonly name: string;
  readonly headerOffset: number;
  readonly size: number;
  readonly crc: number;
}

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const SIG_EOCD = 0x06054b50;
const SIG_DESCRIPTOR = 0x08074b50;
const DESCRIPTOR_SIG = Buffer.from([0x50, 0x4b, 0x07, 0x08]);
const U32_MAX = 0xffffffff;
/** How far ahead to look for a descriptor at a time. */
const SCAN = 1 << 20;

/**
 * Reads a zip front to back, as it arrives through a pipe: local headers, member data, data
 * descriptors, then the central directory and end records. Members whose sizes only their descriptor
 * gives are read by finding a descriptor that matches both the length so far and the CRC.
 */
export class ZipStreamReader {
  constructor(readonly pipe: PipeSource) {}

  /** The next local header, or undefined where the central directory (or the end) begins. */
  nextRecord(): LocalRecord | undefined {
    const head = this.pipe.peek(4);
    if (head.length < 4) throw new FormatError('zip archive ends before its central directory (the stream is truncated)');
    const signature = head.readUInt32LE(0);
    if (signature === SIG_CENTRAL || signature === SIG_ZIP64_EOCD || signature === SIG_EOCD) return undefined;
    if (signature !== SIG_LOCAL) throw new FormatError(`corrupt zip: no local header at offset ${this.pipe.position}`);
    const headerOffset = this.pipe.position;
    const header = this.pipe.take(30);
    const flags = header.readUInt16LE(6);
    const method = header.readUInt16LE(8);
    const name = this.pipe.take(header.readUInt16LE(26)).toString(flags & 0x800 ? 'utf8' : 'latin1');
    const extra = this.pipe.take(header.readUInt16LE(28));
    if (method !== 0 && method !== 8) throw new FormatError(`zip member ${name} uses unsupported compression method ${method}`);
    let size = header.readUInt32LE(22);
    let compressedSize = header.readUInt32LE(18);
    let zip64 = false;
    for (let e = 0; e + 4 <= extra.length; ) {
      const id = extra.readUInt16LE(e);
      const len = extra.readUInt16LE(e + 2);
      if (id === 0x0001) {
        zip64 = true;
        let f = e + 4;
        if (size === U32_MAX && f + 8 <= e + 4 + len) (size = readU64(extra, f)), (f += 8);
        if (compressedSize === U32_MAX && f + 8 <= e + 4 + len) compressedSize = readU64(extra, f);
      }
      e += 4 + len;
    }
    const deferred = (flags & 0x08) !== 0;
    return {
      name,
      headerOffset,
      compressed: method === 8,
      deferred,
      zip64,
      ...(deferred ? {} : { size, compressedSize, crc: header.readUInt32LE(14) }),
    };
  }

  /**
   * A stored member's data of known size in pieces (views valid until the next), then its descriptor;
   * `done` receives the CRC the archive records for it.
   */
  *pieces(record: LocalRecord, size: number, done: (crc: number) => void): Generator<Buffer> {
    if (record.compressed) {
      const bytes = this.readWhole(record, Number.POSITIVE_INFINITY);
      if (bytes.length !== size) throw new FormatError(`zip member ${record.name} has ${bytes.length} bytes, expected ${size}`);
      yield bytes;
      return done(crc32(bytes));
    }
    if (record.size !== undefined && record.size !== size) throw new FormatError(`zip member ${record.name} has ${record.size} bytes, expected ${size}`);
    yield* this.pipe.pieces(size);
    done(record.deferred ? this.descriptor(record, size) : record.crc!);
  }

  /** A member's data whole, its CRC checked: for small members (a pickle, a version record). */
  readWhole(record: LocalRecord, limit: number): Buffer {
    if (record.compressed) {
      if (record.compressedSize === undefined) {
        throw new FormatError(`zip member ${record.name} is compressed and its local header has no sizes, which a stream cannot be read past; pass the file by name`);
      }
      const bytes = inflateRawSync(this.pipe.take(record.compressedSize));
      if (bytes.length !== record.size) throw new FormatError(`zip member ${record.name} inflates to ${bytes.length} bytes, its header says ${record.size}`);
      return checked(record, bytes, record.crc);
    }
    if (record.size !== undefined) {
      if (record.size > limit) throw new FormatError(`zip member ${record.name} is too large to hold (${record.size} bytes)`);
      const bytes = this.pipe.take(record.size);
      return checked(record, bytes, record.crc);
    }
    const parts: Buffer[] = [];
    let length = 0;
    this.scanDeferred(record, (piece) => {
      length += piece.length;
      if (length > limit) throw new FormatError(`zip member ${record.name} is too large to hold from a stream (over ${limit} bytes)`);
      parts.push(Buffer.from(piece));
    });
    return Buffer.concat(parts);
  }

  /** Goes past a member's data (and descriptor) without keeping it. */
  skip(record: LocalRecord): void {
    if (record.deferred) {
      if (record.compressed) this.readWhole(record, 0);
      this.scanDeferred(record, () => {});
    } else this.pipe.skip(record.compressed ? record.compressedSize! : record.size!);
  }

  /** The central directory and end records, read to the end of the stream. */
  centralDirectory(): CentralRecord[] {
    const records: CentralRecord[] = [];
    for (;;) {
      const head = this.pipe.peek(4);
      if (head.length < 4 || head.readUInt32LE(0) !== SIG_CENTRAL) break;
      const header = this.pipe.take(46);
      let size = header.readUInt32LE(24);
      const crc = header.readUInt32LE(16);
      let headerOffset = header.readUInt32LE(42);
      const flags = header.readUInt16LE(8);
      const name = this.pipe.take(header.readUInt16LE(28)).toString(flags & 0x800 ? 'utf8' : 'latin1');
      const extra = this.pipe.take(header.readUInt16LE(30));
      this.pipe.take(header.readUInt16LE(32));
      ({ size, offset: headerOffset } = zip64Sizes(extra, { size, compressedSize: header.readUInt32LE(20), offset: headerOffset }));
      records.push({ name, headerOffset, size, crc });
    }
    let head = this.pipe.peek(4);
    if (head.length === 4 && head.readUInt32LE(0) === SIG_ZIP64_EOCD) {
      const fixed = this.pipe.take(12);
      this.pipe.skip(readU64(fixed, 4));
      head = this.pipe.peek(4);
    }
    if (head.length === 4 && head.readUInt32LE(0) === SIG_ZIP64_LOCATOR) {
      this.pipe.skip(20);
      head = this.pipe.peek(4);
    }
    if (head.length < 4 || head.readUInt32LE(0) !== SIG_EOCD) throw new FormatError('zip archive has no end-of-central-directory record (the stream is truncated or not a zip)');
    const eocd = this.pipe.take(22);
    this.pipe.skip(eocd.readUInt16LE(20));
    if (!this.pipe.atEnd()) throw new FormatError('bytes follow the end of the zip archive');
    return records;
  }

  /** After a stored member's `size` bytes of data: its CRC, from its header or the descriptor that follows. */
  endOfData(record: LocalRecord, size: number): number {
    return record.deferred ? this.descriptor(record, size) : record.crc!;
  }

  /** Reads a data descriptor after `size` bytes of data and returns its CRC. */
  private descriptor(record: LocalRecord, size: number): number {
    const head = this.pipe.peek(4);
    if (head.length === 4 && head.readUInt32LE(0) === SIG_DESCRIPTOR) this.pipe.skip(4);
    const fields = this.pipe.take(record.zip64 ? 20 : 12);
    const crc = fields.readUInt32LE(0);
    const recorded = record.zip64 ? readU64(fields, 12) : fields.readUInt32LE(8);
    if (recorded !== size) throw new FormatError(`zip member ${record.name} has ${recorded} bytes by its descriptor, expected ${size}`);
    return crc;
  }

  /**
   * The data of a stored member whose size only its descriptor gives, passed to `take` in pieces: it
   * ends at the first descriptor signature whose sizes equal the bytes so far and whose CRC matches.
   */
  private scanDeferred(record: LocalRecord, take: (piece: Buffer) => void): void {
    const descriptorLength = 4 + (record.zip64 ? 20 : 12);
    let crc = 0;
    let length = 0;
    for (;;) {
      const window = this.pipe.peek(SCAN);
      for (let from = 0; ; ) {
        const at = window.indexOf(DESCRIPTOR_SIG, from);
        if (at < 0 || at + descriptorLength > window.length) break;
        const claimed = window.readUInt32LE(at + 4);
        const sizes = record.zip64 ? [readU64(window, at + 8), readU64(window, at + 16)] : [window.readUInt32LE(at + 8), window.readUInt32LE(at + 12)];
        if (sizes[0] === length + at && sizes[1] === length + at && crc32(window.subarray(0, at), crc) >>> 0 === claimed >>> 0) {
          take(window.subarray(0, at));
          this.pipe.skip(at + descriptorLength);
          return;
        }
        from = at + 1;
      }
      if (window.length < SCAN) throw new FormatError(`zip member ${record.name} has no data descriptor (the stream is truncated or corrupt)`);
      const safe = window.length - (descriptorLength - 1);
      const piece = window.subarray(0, safe);
      crc = crc32(piece, crc);
      length += safe;
      take(piece);
      this.pipe.skip(safe);
    }
  }
}

function checked(record: LocalRecord, bytes: Buffer, crc: number | undefined): Buffer {
  if (crc !== undefined && crc32(bytes) >>> 0 !== crc >>> 0) throw new FormatError(`zip member ${record.name} is corrupt (CRC-32 mismatch)`);
  return bytes;
}
