import { crc32, inflateRawSync } from 'node:zlib';
import { escapeName, FormatError } from '../errors.js';
import { BufferSource, chunksOf, type ByteRange, type ByteSource } from './byte-source.js';
import type { ByteSink } from './byte-sink.js';

/** One member of a zip archive, with its bytes as a range (stored) or inflated in memory (deflated). */
export interface ZipEntry {
  readonly name: string;
  readonly size: number;
  readonly crc: number;
  readonly compressed: boolean;
  /** Where its local header starts, and how many stored bytes follow it: its record in the file. */
  readonly record: { readonly offset: number; readonly storedSize: number };
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
  /**
   * Members whose records share bytes with an earlier member's (`keepDuplicates` only; else refused):
   * 20,000 names for one 8 MiB record would make every reader of them read it 20,000 times.
   */
  readonly aliases: { readonly entry: ZipEntry; readonly of: ZipEntry }[] = [];
  private readonly byName = new Map<string, ZipEntry>();

  constructor(
    private readonly source: ByteSource,
    /** `keepDuplicates`: list every member, two of one name included (for `scan`, which looks at all); else refused. */
    options: { keepDuplicates?: boolean } = {},
  ) {
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
      ({ size, compressedSize: compSize, offset: localOffset } = zip64Sizes(extra, { size, compressedSize: compSize, offset: localOffset }));
      if (method !== 0 && method !== 8) throw new FormatError(`zip member ${escapeName(name)} uses unsupported compression method ${method}`);
      // readers disagree on which of two same-named members counts: refuse rather than pick one
      if (this.byName.has(name) && !options.keepDuplicates) throw new FormatError(`zip archive has two members named ${escapeName(name)}`);
      const entry = this.makeEntry(name, method === 8, size, compSize, crc, localOffset);
      this.entries.push(entry);
      if (!this.byName.has(name)) this.byName.set(name, entry);
      at += 46 + nameLen + extraLen + commentLen;
    }
    this.checkRecords(options.keepDuplicates === true);
  }

  /**
   * Every member's record (local header and stored bytes) must have bytes of its own, as in every zip a
   * writer makes: a record at least 30 header bytes and its stored size long may not reach the next one.
   */
  private checkRecords(keep: boolean): void {
    const byOffset = [...this.entries].sort((a, b) => a.record.offset - b.record.offset);
    let last: ZipEntry | undefined;
    for (const entry of byOffset) {
      if (last !== undefined && entry.record.offset < last.record.offset + 30 + last.record.storedSize) {
        if (!keep) throw new FormatError(`corrupt zip: members ${escapeName(last.name)} and ${escapeName(entry.name)} share bytes`);
        this.aliases.push({ entry, of: last });
        continue;
      }
      last = entry;
    }
  }

  get(name: string): ZipEntry | undefined {
    return this.byName.get(name);
  }

  /** Reads every member whole, which checks its CRC-32 (a record several names share, once). */
  verifyCrcs(): void {
    const aliased = new Set(this.aliases.map((alias) => alias.entry));
    for (const entry of this.entries) if (!aliased.has(entry)) for (const _ of chunksOf(entry.data()));
  }

  private makeEntry(name: string, compressed: boolean, size: number, compSize: number, crc: number, localOffset: number): ZipEntry {
    const source = this.source;
    let dataRange: ByteRange | undefined;
    return {
      name,
      size,
      crc,
      compressed,
      record: { offset: localOffset, storedSize: compressed ? compSize : size },
      data(): ByteRange {
        if (dataRange) return dataRange;
        const header = source.read(localOffset, 30);
        if (header.readUInt32LE(0) !== SIG_LOCAL) throw new FormatError(`corrupt zip: no local header for ${escapeName(name)}`);
        const start = localOffset + 30 + header.readUInt16LE(26) + header.readUInt16LE(28);
        if (!compressed) {
          if (start + size > source.size) throw new FormatError(`zip member ${escapeName(name)} runs past the end of the file (truncated?)`);
          dataRange = { source, offset: start, length: size, integrity: { member: name, crc32: () => crc } };
        } else {
          // inflating stops at the declared size: a bomb of zeros costs what its directory admits to
          let inflated: Buffer;
          try {
            inflated = inflateRawSync(source.read(start, compSize), { maxOutputLength: Math.max(size, 1) });
          } catch (error) {
            if ((error as NodeJS.ErrnoException).code !== 'ERR_BUFFER_TOO_LARGE') throw new FormatError(`zip member ${escapeName(name)} does not inflate (${(error as Error).message})`);
            throw new FormatError(`zip member ${escapeName(name)} inflates past the ${size} bytes its directory says`);
          }
          if (inflated.length !== size) throw new FormatError(`zip member ${escapeName(name)} inflates to ${inflated.length} bytes, its directory says ${size}`);
          dataRange = { source: new BufferSource(source.name, inflated), offset: 0, length: inflated.length, integrity: { member: name, crc32: () => crc } };
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

/** A central directory entry's sizes and offset, with those whose 32-bit field is 0xFFFFFFFF taken from its zip64 extra field. */
export function zip64Sizes(extra: Buffer, fields: { size: number; compressedSize: number; offset: number }): { size: number; compressedSize: number; offset: number } {
  let { size, compressedSize, offset } = fields;
  // the zip64 extra holds, in this order, the fields whose 32-bit value is 0xFFFFFFFF
  for (let e = 0; e + 4 <= extra.length; ) {
    const id = extra.readUInt16LE(e);
    const len = extra.readUInt16LE(e + 2);
    if (id === 0x0001) {
      let f = e + 4;
      if (size === U32_MAX) (size = readU64(extra, f)), (f += 8);
      if (compressedSize === U32_MAX) (compressedSize = readU64(extra, f)), (f += 8);
      if (offset === U32_MAX) offset = readU64(extra, f);
    }
    e += 4 + len;
  }
  return { size, compressedSize, offset };
}

export function readU64(buffer: Buffer, at: number): number {
  const value = buffer.readBigUInt64LE(at);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new FormatError('zip64 value too large');
  return Number(value);
}

/** Where a member's bytes come from when a zip is written. */
export type MemberData =
  | { readonly kind: 'bytes'; readonly bytes: Uint8Array }
  /** Copied from an input; a range with a known CRC keeps it, so the bytes need not be hashed again. */
  | { readonly kind: 'range'; readonly range: ByteRange }
  /** Made when written (a dtype cast), so an edit never holds every new tensor at once. */
  | { readonly kind: 'computed'; readonly length: number; chunks(): Iterable<Uint8Array> };

export interface ZipMemberSpec {
  readonly name: string;
  readonly data: MemberData;
  /**
   * Put the data at exactly this offset when the alignment padding can reach it: a member copied from
   * an input then sits where it sat there, and a copy of the whole input already holds it.
   */
  readonly dataAt?: number;
}

export function memberLength(data: MemberData): number {
  return data.kind === 'bytes' ? data.bytes.length : data.kind === 'range' ? data.range.length : data.length;
}

/** A member with its place in the archive. */
export interface PlacedMember {
  readonly spec: ZipMemberSpec;
  readonly name: Buffer;
  readonly size: number;
  readonly headerOffset: number;
  readonly dataOffset: number;
  /** The local header's extra field: a zip64 record when needed, then `FB` padding. */
  readonly extra: Buffer;
  /** Sizes and offset past 32 bits: zip64 fields and a 24-byte data descriptor. */
  readonly zip64: boolean;
}

const MAX_EXTRA = 0xffff;

/**
 * The layout of a stored (uncompressed) zip as torch's writer (miniz) makes it: each member's data
 * aligned to 64 bytes with an `FB` padding extra field, sizes and CRC in data descriptors, zip64 end
 * records always. Readers that compute storage offsets (`mmap=True`) depend on this layout. Planned
 * whole before a byte is written, so a writer knows the file's size and which members sit exactly
 * where they sat in an input.
 */
export class AlignedZipLayout {
  readonly members: PlacedMember[] = [];
  readonly size: number;
  private readonly cdOffset: number;

  constructor(
    specs: readonly ZipMemberSpec[],
    alignment = 64,
  ) {
    let position = 0;
    for (const spec of specs) {
      const name = Buffer.from(spec.name, 'utf8');
      const size = memberLength(spec.data);
      const zip64 = size >= U32_MAX || position >= U32_MAX;
      const zip64Fields: Buffer[] = [];
      if (size >= U32_MAX) zip64Fields.push(u64(size), u64(0));
      if (position >= U32_MAX) zip64Fields.push(u64(position));
      const zip64Extra = zip64 ? Buffer.concat([u16(0x0001), u16(zip64Fields.length * 8), ...zip64Fields]) : Buffer.alloc(0);
      const start = position + 30 + name.length + zip64Extra.length + 4;
      let pad = (alignment - (start % alignment)) % alignment;
      if (spec.dataAt !== undefined && spec.dataAt >= start && spec.dataAt % alignment === 0 && spec.dataAt - start + 4 + zip64Extra.length <= MAX_EXTRA) {
        pad = spec.dataAt - start;
      }
      const extra = Buffer.concat([zip64Extra, Buffer.from('FB'), u16(pad), Buffer.alloc(pad, 'Z')]);
      this.members.push({ spec, name, size, headerOffset: position, dataOffset: start + pad, extra, zip64 });
      position = start + pad + size + (size > 0 ? (zip64 ? 24 : 16) : 0);
    }
    this.cdOffset = position;
    for (const member of this.members) position += 46 + member.name.length + centralExtra(member).length;
    this.size = position + 56 + 20 + 22;
  }

  /** Bytes of members copied from `source` that land at the offset they have there. */
  bytesInPlace(source: ByteSource): number {
    let total = 0;
    for (const { spec, dataOffset, size } of this.members) {
      if (spec.data.kind === 'range' && spec.data.range.source === source && spec.data.range.offset === dataOffset) total += size;
    }
    return total;
  }

  write(sink: ByteSink): void {
    const crcs: number[] = [];
    for (const member of this.members) {
      expectPosition(sink, member.headerOffset, member.spec.name);
      const header = Buffer.alloc(30);
      header.writeUInt32LE(SIG_LOCAL, 0);
      header.writeUInt16LE(flagsOf(member), 6);
      header.writeUInt16LE(member.name.length, 26);
      header.writeUInt16LE(member.extra.length, 28);
      sink.write(Buffer.concat([header, member.name, member.extra]));
      const crc = writeData(member, sink);
      crcs.push(crc);
      if (member.size > 0) {
        sink.write(
          member.zip64
            ? Buffer.concat([u32(0x08074b50), u32(crc), u64(member.size), u64(member.size)])
            : Buffer.concat([u32(0x08074b50), u32(crc), u32(member.size), u32(member.size)]),
        );
      }
    }
    expectPosition(sink, this.cdOffset, 'the central directory');
    this.members.forEach((member, i) => {
      const sizeBig = member.size >= U32_MAX;
      const offsetBig = member.headerOffset >= U32_MAX;
      const header = Buffer.alloc(46);
      header.writeUInt32LE(SIG_CENTRAL, 0);
      header.writeUInt16LE(flagsOf(member), 8);
      header.writeUInt32LE(crcs[i]!, 16);
      header.writeUInt32LE(sizeBig ? U32_MAX : member.size, 20);
      header.writeUInt32LE(sizeBig ? U32_MAX : member.size, 24);
      header.writeUInt16LE(member.name.length, 28);
      const extra = centralExtra(member);
      header.writeUInt16LE(extra.length, 30);
      header.writeUInt32LE(offsetBig ? U32_MAX : member.headerOffset, 42);
      sink.write(Buffer.concat([header, member.name, extra]));
    });
    const cdSize = sink.position - this.cdOffset;
    const zip64At = sink.position;
    const n = this.members.length;
    const eocd = Buffer.alloc(22);
    eocd.writeUInt32LE(SIG_EOCD, 0);
    eocd.writeUInt16LE(Math.min(n, 0xffff), 8);
    eocd.writeUInt16LE(Math.min(n, 0xffff), 10);
    eocd.writeUInt32LE(Math.min(cdSize, U32_MAX), 12);
    eocd.writeUInt32LE(Math.min(this.cdOffset, U32_MAX), 16);
    sink.write(
      Buffer.concat([
        u32(SIG_ZIP64_EOCD), u64(44), u16(0x031e), u16(45), u32(0), u32(0), u64(n), u64(n), u64(cdSize), u64(this.cdOffset),
        u32(SIG_ZIP64_LOCATOR), u32(0), u64(zip64At), u32(1),
        eocd,
      ]),
    );
    expectPosition(sink, this.size, 'the end of the archive');
  }
}

/** Writes a member's data and returns its CRC-32: the input's for a checked range, else computed. */
function writeData(member: PlacedMember, sink: ByteSink): number {
  const { data } = member.spec;
  if (data.kind === 'range' && data.range.integrity) {
    sink.copy(data.range);
    return data.range.integrity.crc32() >>> 0;
  }
  const chunks = data.kind === 'bytes' ? [data.bytes] : data.kind === 'computed' ? data.chunks() : chunksOf(data.range);
  let crc = 0;
  let written = 0;
  for (const chunk of chunks) {
    crc = crc32(chunk, crc);
    written += chunk.length;
    sink.write(chunk);
  }
  if (written !== member.size) throw new Error(`zip member ${member.spec.name}: wrote ${written} bytes, expected ${member.size}`);
  return crc >>> 0;
}

function flagsOf(member: PlacedMember): number {
  return member.size > 0 ? 0x0808 : 0x0800;
}

function centralExtra(member: PlacedMember): Buffer {
  const fields = [
    ...(member.size >= U32_MAX ? [u64(member.size), u64(member.size)] : []),
    ...(member.headerOffset >= U32_MAX ? [u64(member.headerOffset)] : []),
  ];
  return fields.length > 0 ? Buffer.concat([u16(0x0001), u16(fields.length * 8), ...fields]) : Buffer.alloc(0);
}

function expectPosition(sink: ByteSink, expected: number, what: string): void {
  if (sink.position !== expected) throw new Error(`zip layout: ${what} planned at ${expected}, written at ${sink.position}`);
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
