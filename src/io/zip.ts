import { crc32, inflateRawSync } from 'node:zlib';
import { FormatError } from '../cli/errors.js';
import { BufferSource, chunksOf, type ByteRange, type ByteSource } from './byte-source.js';
import type { ByteSink } from './byte-sink.js';

/** One member of a zip archive, with its bytes as a range (stored) or inflated in memory (deflated). */
export interface ZipEntry {
  readonly name: string;
  readonly size: number;
  readonly crc: number;
  readonly compressed: boolean;
  /** Where the uncompressed bytes are. */
  data(): ByteRange;
}

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const U32_MAX = 0xffffffff;

/**
 * Reads a zip's central directory (zip64 included) without loading members: stored members stay byte
 * ranges of the source. Only what the central directory lists exists, as in torch's own reader.
 */
export class ZipReader {
  readonly entries: ZipEntry[] = [];
  private readonly byName = new Map<string, ZipEntry>();

  constructor(private readonly source: ByteSource) {
    const { count, cdOffset, cdSize } = this.findEnd();
    const cd = source.read(cdOffset, cdSize);
    let at = 0;
    for (let i = 0; i < count; i++) {
      if (at + 46 > cd.length || cd.readUInt32LE(at) !== SIG_CENTRAL) throw new FormatError('corrupt zip central directory');
      const flags = cd.readUInt16LE(at + 8);
      const method = cd.readUInt16LE(at + 10);
      const crc = cd.readUInt32LE(at + 16);
      let compSize = cd.readUInt32LE(at + 20);
      let size = cd.readUInt32LE(at + 24);
      const nameLen = cd.readUInt16LE(at + 28);
      const extraLen = cd.readUInt16LE(at + 30);
      const commentLen = cd.readUInt16LE(at + 32);
      let localOffset = cd.readUInt32LE(at + 42);
      const name = cd.subarray(at + 46, at + 46 + nameLen).toString(flags & 0x800 ? 'utf8' : 'latin1');
      const extra = cd.subarray(at + 46 + nameLen, at + 46 + nameLen + extraLen);
      // zip64 extra: the fields whose 32-bit value is 0xFFFFFFFF, in this order
      for (let e = 0; e + 4 <= extra.length; ) {
        const id = extra.readUInt16LE(e);
        const len = extra.readUInt16LE(e + 2);
        if (id === 0x0001) {
          let f = e + 4;
          if (size === U32_MAX) (size = readU64(extra, f)), (f += 8);
          if (compSize === U32_MAX) (compSize = readU64(extra, f)), (f += 8);
          if (localOffset === U32_MAX) localOffset = readU64(extra, f);
        }
        e += 4 + len;
      }
      if (method !== 0 && method !== 8) throw new FormatError(`zip member ${name} uses unsupported compression method ${method}`);
      const entry = this.makeEntry(name, method === 8, size, compSize, crc, localOffset);
      this.entries.push(entry);
      this.byName.set(name, entry);
      at += 46 + nameLen + extraLen + commentLen;
    }
  }

  get(name: string): ZipEntry | undefined {
    return this.byName.get(name);
  }

  /** Recomputes every member's CRC-32 and compares it with the directory's. */
  verifyCrcs(): void {
    for (const entry of this.entries) {
      let crc = 0;
      for (const chunk of chunksOf(entry.data())) crc = crc32(chunk, crc);
      if (crc >>> 0 !== entry.crc >>> 0) throw new FormatError(`zip member ${entry.name} is corrupt (CRC-32 mismatch)`);
    }
  }

  private makeEntry(name: string, compressed: boolean, size: number, compSize: number, crc: number, localOffset: number): ZipEntry {
    const source = this.source;
    let dataRange: ByteRange | undefined;
    return {
      name,
      size,
      crc,
      compressed,
      data(): ByteRange {
        if (dataRange) return dataRange;
        const header = source.read(localOffset, 30);
        if (header.readUInt32LE(0) !== SIG_LOCAL) throw new FormatError(`corrupt zip: no local header for ${name}`);
        const start = localOffset + 30 + header.readUInt16LE(26) + header.readUInt16LE(28);
        if (!compressed) {
          if (start + size > source.size) throw new FormatError(`zip member ${name} runs past the end of the file (truncated?)`);
          dataRange = { source, offset: start, length: size };
        } else {
          const inflated = inflateRawSync(source.read(start, compSize));
          dataRange = { source: new BufferSource(source.name, inflated), offset: 0, length: inflated.length };
        }
        return dataRange;
      },
    };
  }

  private findEnd(): { count: number; cdOffset: number; cdSize: number } {
    const size = this.source.size;
    const tailLength = Math.min(size, 65535 + 22);
    const tail = this.source.read(size - tailLength, tailLength);
    let eocd = -1;
    for (let i = tail.length - 22; i >= 0; i--) {
      if (tail.readUInt32LE(i) === SIG_EOCD) {
        eocd = i;
        break;
      }
    }
    if (eocd < 0) throw new FormatError('zip archive has no end-of-central-directory record (the file is truncated or not a zip)');
    let count = tail.readUInt16LE(eocd + 10);
    let cdSize = tail.readUInt32LE(eocd + 12);
    let cdOffset = tail.readUInt32LE(eocd + 16);
    const locatorAt = size - tailLength + eocd - 20;
    if (locatorAt >= 0) {
      const locator = this.source.read(locatorAt, 20);
      if (locator.readUInt32LE(0) === SIG_ZIP64_LOCATOR) {
        const record = this.source.read(readU64(locator, 8), 56);
        if (record.readUInt32LE(0) !== SIG_ZIP64_EOCD) throw new FormatError('corrupt zip64 end record');
        count = readU64(record, 32);
        cdSize = readU64(record, 40);
        cdOffset = readU64(record, 48);
      }
    }
    if (cdOffset + cdSize > size) throw new FormatError('zip central directory lies past the end of the file (truncated?)');
    return { count, cdOffset, cdSize };
  }
}

function readU64(buffer: Buffer, at: number): number {
  const value = buffer.readBigUInt64LE(at);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new FormatError('zip64 value too large');
  return Number(value);
}

interface WrittenEntry {
  name: Buffer;
  offset: number;
  size: number;
  crc: number;
  flags: number;
}

/**
 * Writes a stored (uncompressed) zip laid out the way torch's writer (miniz) does: each member's data
 * aligned to 64 bytes with an `FB` padding extra field, sizes and CRC in data descriptors, zip64 end
 * records always. Readers that compute storage offsets (`mmap=True`) depend on this layout.
 */
export class TorchZipWriter {
  private readonly written: WrittenEntry[] = [];

  constructor(
    private readonly sink: ByteSink,
    private readonly alignment = 64,
  ) {}

  /** Adds a member whose bytes arrive as chunks (so large storages are copied piece by piece). */
  add(name: string, size: number, chunks: Iterable<Uint8Array>): void {
    const nameBytes = Buffer.from(name, 'utf8');
    const offset = this.sink.position;
    const big = size >= U32_MAX || offset >= U32_MAX;
    let start = offset + 30 + nameBytes.length + 4;
    const zip64: Buffer[] = [];
    if (big) {
      start += 4;
      if (size >= U32_MAX) (start += 16), zip64.push(u64(size), u64(0));
      if (offset >= U32_MAX) (start += 8), zip64.push(u64(offset));
    }
    const pad = (this.alignment - (start % this.alignment)) % this.alignment;
    const extra: Buffer[] = [];
    if (big) extra.push(u16(0x0001), u16(zip64.reduce((n, b) => n + b.length, 0)), ...zip64);
    extra.push(Buffer.from('FB'), u16(pad), Buffer.alloc(pad, 'Z'));
    const extraBytes = Buffer.concat(extra);
    const flags = size > 0 ? 0x0808 : 0x0800;
    const header = Buffer.alloc(30);
    header.writeUInt32LE(SIG_LOCAL, 0);
    header.writeUInt16LE(0, 4);
    header.writeUInt16LE(flags, 6);
    header.writeUInt16LE(nameBytes.length, 26);
    header.writeUInt16LE(extraBytes.length, 28);
    this.sink.write(header);
    this.sink.write(nameBytes);
    this.sink.write(extraBytes);
    let crc = 0;
    let written = 0;
    for (const chunk of chunks) {
      crc = crc32(chunk, crc);
      written += chunk.length;
      this.sink.write(chunk);
    }
    if (written !== size) throw new Error(`zip member ${name}: wrote ${written} bytes, expected ${size}`);
    if (size > 0) {
      const descriptor = big
        ? Buffer.concat([u32(0x08074b50), u32(crc >>> 0), u64(size), u64(size)])
        : Buffer.concat([u32(0x08074b50), u32(crc >>> 0), u32(size), u32(size)]);
      this.sink.write(descriptor);
    }
    this.written.push({ name: nameBytes, offset, size, crc: crc >>> 0, flags });
  }

  addBytes(name: string, bytes: Uint8Array): void {
    this.add(name, bytes.length, [bytes]);
  }

  /** Writes the central directory and the end records. */
  finish(): void {
    const cdOffset = this.sink.position;
    for (const entry of this.written) {
      const sizeBig = entry.size >= U32_MAX;
      const offsetBig = entry.offset >= U32_MAX;
      const zip64 = [...(sizeBig ? [u64(entry.size), u64(entry.size)] : []), ...(offsetBig ? [u64(entry.offset)] : [])];
      const extra = zip64.length > 0 ? Buffer.concat([u16(0x0001), u16(zip64.length * 8), ...zip64]) : Buffer.alloc(0);
      const header = Buffer.alloc(46);
      header.writeUInt32LE(SIG_CENTRAL, 0);
      header.writeUInt16LE(entry.flags, 8);
      header.writeUInt32LE(entry.crc, 16);
      header.writeUInt32LE(sizeBig ? U32_MAX : entry.size, 20);
      header.writeUInt32LE(sizeBig ? U32_MAX : entry.size, 24);
      header.writeUInt16LE(entry.name.length, 28);
      header.writeUInt16LE(extra.length, 30);
      header.writeUInt32LE(offsetBig ? U32_MAX : entry.offset, 42);
      this.sink.write(header);
      this.sink.write(entry.name);
      this.sink.write(extra);
    }
    const cdSize = this.sink.position - cdOffset;
    const zip64At = this.sink.position;
    const n = this.written.length;
    this.sink.write(
      Buffer.concat([u32(SIG_ZIP64_EOCD), u64(44), u16(0x031e), u16(45), u32(0), u32(0), u64(n), u64(n), u64(cdSize), u64(cdOffset)]),
    );
    this.sink.write(Buffer.concat([u32(SIG_ZIP64_LOCATOR), u32(0), u64(zip64At), u32(1)]));
    const eocd = Buffer.alloc(22);
    eocd.writeUInt32LE(SIG_EOCD, 0);
    eocd.writeUInt16LE(Math.min(n, 0xffff), 8);
    eocd.writeUInt16LE(Math.min(n, 0xffff), 10);
    eocd.writeUInt32LE(Math.min(cdSize, U32_MAX), 12);
    eocd.writeUInt32LE(Math.min(cdOffset, U32_MAX), 16);
    this.sink.write(eocd);
  }
}

function u16(value: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(value);
  return b;
}
function u32(value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(value);
  return b;
}
function u64(value: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(value));
  return b;
}
