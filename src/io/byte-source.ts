import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { FormatError } from '../errors.js';

/**
 * Random access to the bytes of an input. Readers keep byte ranges into a source instead of copying
 * tensor data, so a checkpoint's weights are never all held in memory.
 */
export interface ByteSource {
  /** What to call the input in messages (a path, or `-` for stdin). */
  readonly name: string;
  readonly size: number;
  /**
   * Exactly `length` bytes from `offset`; a short read is a malformed (truncated) input. With `into`,
   * a source that must copy reads into it (`length` ≤ its size) and returns a view of it, so copy
   * loops reuse one buffer; the bytes are valid until the next read into the same buffer.
   */
  read(offset: number, length: number, into?: Buffer): Buffer;
  close(): void;
  /**
   * The piece size copies should read in, where the default (16 MiB) is wrong: a pipe wants pieces
   * its size, so that the processes of a pipeline work at once instead of taking turns.
   */
  readonly chunk?: number;
}

/** A region of a source: where a storage's or initializer's bytes live. */
export interface ByteRange {
  readonly source: ByteSource;
  readonly offset: number;
  readonly length: number;
  /**
   * The CRC-32 the whole range must have (a zip member's): checked whenever the range is read in full,
   * so a copy never passes on corrupt bytes as good. A function, since a stream learns it after the data.
   */
  readonly integrity?: { readonly member: string; crc32(): number };
}

function checkRange(source: ByteSource, offset: number, length: number): void {
  if (offset < 0 || length < 0 || offset + length > source.size) {
    throw new FormatError(
      `unexpected end of file (wanted ${length} bytes at offset ${offset}, file has ${source.size}); the file is truncated or corrupt`,
    );
  }
}

export class BufferSource implements ByteSource {
  readonly size: number;
  constructor(
    readonly name: string,
    private readonly bytes: Buffer,
  ) {
    this.size = bytes.length;
  }
  read(offset: number, length: number): Buffer {
    checkRange(this, offset, length);
    return this.bytes.subarray(offset, offset + length);
  }
  close(): void {}
}

/** The largest single read: Node refuses buffers of 2 GiB and more, and big reads gain nothing. */
const MAX_READ = 1 << 30;

export class FileSource implements ByteSource {
  readonly size: number;
  private fd: number | undefined;
  constructor(
    readonly name: string,
    /** The file's path, for copies the kernel can make (`copyFile`). */
    readonly path: string,
  ) {
    this.fd = openSync(path, 'r');
    this.size = fstatSync(this.fd).size;
  }
  read(offset: number, length: number, into?: Buffer): Buffer {
    checkRange(this, offset, length);
    if (this.fd === undefined) throw new Error(`${this.name} was closed`);
    if (length >= 2 ** 31 - 1) throw new FormatError(`cannot read ${length} bytes at once (2 GiB and more); this part of the file must be read in pieces`);
    const out = into !== undefined && into.length >= length ? into.subarray(0, length) : Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const n = readSync(this.fd, out, done, Math.min(length - done, MAX_READ), offset + done);
      if (n === 0) throw new FormatError('unexpected end of file');
      done += n;
    }
    return out;
  }
  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

/** Pieces large enough that per-call costs vanish, small enough to stay far below any memory bound. */
export const CHUNK = 16 << 20;

/**
 * Reads a range in pieces of at most `chunk` bytes into one reused buffer, so copying a large tensor
 * never needs it whole; each piece is valid until the next is taken. A range with an integrity CRC is
 * checked once the last piece has been taken.
 */
export function* chunksOf(range: ByteRange, chunk = range.source.chunk ?? CHUNK): Generator<Buffer> {
  const scratch = chunk === CHUNK && range.length >= CHUNK ? (spareChunks.pop() ?? Buffer.allocUnsafe(CHUNK)) : Buffer.allocUnsafe(Math.min(chunk, range.length));
  try {
    let crc = 0;
    for (let at = 0; at < range.length; at += chunk) {
      const piece = range.source.read(range.offset + at, Math.min(chunk, range.length - at), scratch);
      if (range.integrity) crc = crc32(piece, crc);
      yield piece;
    }
    if (range.integrity) checkIntegrity(range, crc);
  } finally {
    if (scratch.length === CHUNK && spareChunks.length < 2) spareChunks.push(scratch);
  }
}

/** Chunk buffers kept for the next copy: a fresh one costs a page fault per 4 KiB on first touch. */
const spareChunks: Buffer[] = [];

/** A whole range in one buffer (for small ranges, or values that must be computed on), checked. */
export function readRange(range: ByteRange): Buffer {
  const bytes = range.source.read(range.offset, range.length);
  if (range.integrity) checkIntegrity(range, crc32(bytes));
  return bytes;
}

function checkIntegrity(range: ByteRange, crc: number): void {
  if (range.integrity && crc >>> 0 !== range.integrity.crc32() >>> 0) {
    // found while copying, long after the reader returned: the range knows its file
    throw new FormatError(`zip member ${range.integrity.member} is corrupt (CRC-32 mismatch)`, range.source.name);
  }
}
