import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { FormatError } from '../cli/errors.js';

/**
 * Random access to the bytes of an input. Readers keep byte ranges into a source instead of copying
 * tensor data, so a checkpoint's weights are never all held in memory.
 */
export interface ByteSource {
  /** What to call the input in messages (a path, or `-` for stdin). */
  readonly name: string;
  readonly size: number;
  /** Exactly `length` bytes from `offset`; a short read is a malformed (truncated) input. */
  read(offset: number, length: number): Buffer;
  close(): void;
}

/** A region of a source: where a storage's or initializer's bytes live. */
export interface ByteRange {
  readonly source: ByteSource;
  readonly offset: number;
  readonly length: number;
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

export class FileSource implements ByteSource {
  readonly size: number;
  private fd: number | undefined;
  constructor(
    readonly name: string,
    path: string,
  ) {
    this.fd = openSync(path, 'r');
    this.size = fstatSync(this.fd).size;
  }
  read(offset: number, length: number): Buffer {
    checkRange(this, offset, length);
    if (this.fd === undefined) throw new Error(`${this.name} was closed`);
    const out = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const n = readSync(this.fd, out, done, length - done, offset + done);
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

/** Reads a range in pieces of at most `chunk` bytes, so copying a large tensor never needs it whole. */
export function* chunksOf(range: ByteRange, chunk = 16 << 20): Generator<Buffer> {
  for (let at = 0; at < range.length; at += chunk) {
    yield range.source.read(range.offset + at, Math.min(chunk, range.length - at));
  }
}

export function readRange(range: ByteRange): Buffer {
  return range.source.read(range.offset, range.length);
}
