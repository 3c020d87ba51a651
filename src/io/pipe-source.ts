import { closeSync, openSync, writeSync } from 'node:fs';
import { FormatError } from '../errors.js';
import { FileSource } from './byte-source.js';
import { readFully, readSome } from './stdio.js';
import { spoolFile } from './temp-files.js';

/**
 * An input that arrives once, front to back (stdin as a pipe): it can be peeked at, taken from and
 * skipped through, never sought. Readers that know their format's order (a torch zip writes its pickle
 * first) stream through it; others spool it to a file once (`toFile`).
 */
export class PipeSource {
  /** Offset in the stream of `buffer[start]`. */
  private base = 0;
  private buffer: Buffer;
  private start = 0;
  private end = 0;
  private ended = false;
  /** Work left for the reader of the stream's format, run before an output made from it is committed. */
  private completion: (() => void) | undefined;

  constructor(
    readonly name: string,
    private readonly fd: number,
    capacity = 8 << 20,
  ) {
    this.buffer = Buffer.allocUnsafe(capacity);
  }

  /** Offset of the next byte to be taken. */
  get position(): number {
    return this.base + this.start;
  }

  /** Bytes read so far: the stream's size once `complete` has read it to the end. */
  get size(): number {
    return this.position;
  }

  close(): void {}

  /** Up to `n` bytes ahead, not taken (fewer only at the end of the stream). */
  peek(n: number): Buffer {
    this.fill(n);
    return this.buffer.subarray(this.start, Math.min(this.end, this.start + n));
  }

  /** Exactly `n` bytes, copied; the stream ending first is a truncated input. */
  take(n: number): Buffer {
    const bytes = Buffer.from(this.peek(n));
    if (bytes.length < n) throw truncated(this.position + bytes.length);
    this.start += n;
    return bytes;
  }

  /**
   * The next `n` bytes in pieces that are views of the stream's buffer, each valid until the next is
   * taken: a copy through a pipe never holds more than the buffer.
   */
  *pieces(n: number): Generator<Buffer> {
    let left = n;
    while (left > 0) {
      if (this.start === this.end) this.refill();
      const size = Math.min(left, this.end - this.start);
      if (size === 0) throw truncated(this.position);
      const piece = this.buffer.subarray(this.start, this.start + size);
      this.start += size;
      left -= size;
      yield piece;
    }
  }

  /** Fills `target` with the next bytes: what is buffered, then straight from the pipe (no copy between). */
  readInto(target: Buffer): void {
    const buffered = Math.min(this.end - this.start, target.length);
    this.buffer.copy(target, 0, this.start, this.start + buffered);
    this.start += buffered;
    if (buffered === target.length) return;
    this.base += this.end;
    this.start = this.end = 0;
    const n = this.ended ? 0 : readFully(this.fd, target.subarray(buffered));
    this.base += n;
    if (buffered + n < target.length) {
      this.ended = true;
      throw truncated(this.position);
    }
  }

  skip(n: number): void {
    for (const _ of this.pieces(n));
  }

  atEnd(): boolean {
    return this.peek(1).length === 0;
  }

  /** Registers what must be read and checked after the last byte an output needs (see `complete`). */
  onComplete(work: () => void): void {
    this.completion = work;
  }

  /** Reads what is left and checks it (a zip's central directory); an output is committed only after. */
  complete(): void {
    const work = this.completion;
    this.completion = undefined;
    work?.();
  }

  /** The rest of the stream, from the current position, spooled to a temporary file in large writes. */
  toFile(): FileSource {
    const path = spoolFile();
    const out = openSync(path, 'w', 0o600);
    try {
      for (;;) {
        if (this.start === this.end) this.refill();
        if (this.start === this.end) break;
        writeAll(out, this.buffer.subarray(this.start, this.end));
        this.start = this.end;
      }
    } finally {
      closeSync(out);
    }
    return new FileSource(this.name, path);
  }

  /** Makes at least `n` bytes available from `start` (fewer at the end), moving or growing the buffer. */
  private fill(n: number): void {
    if (this.end - this.start >= n || this.ended) return;
    if (this.start + n > this.buffer.length) {
      const kept = this.end - this.start;
      const next = n > this.buffer.length ? Buffer.allocUnsafe(Math.max(n, this.buffer.length * 2)) : this.buffer;
      this.buffer.copy(next, 0, this.start, this.end);
      this.buffer = next;
      this.base += this.start;
      this.start = 0;
      this.end = kept;
    }
    while (this.end - this.start < n && !this.ended) this.read();
  }

  /** Empties the buffer and reads what the pipe has into it. */
  private refill(): void {
    this.base += this.end;
    this.start = this.end = 0;
    if (!this.ended) this.read();
  }

  /** One read of what the pipe has (at least a byte, unless it has ended): never waits for more than asked. */
  private read(): void {
    const n = readSome(this.fd, this.buffer.subarray(this.end));
    if (n === 0) this.ended = true;
    this.end += n;
  }
}

function truncated(at: number): FormatError {
  return new FormatError(`unexpected end of input after ${at} bytes; the stream is truncated`);
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done);
}
