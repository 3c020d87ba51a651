import { ftruncateSync, writeSync } from 'node:fs';
import { chunksOf, type ByteRange, type ByteSource } from './byte-source.js';

/** A sequential output. Writers only append, so the same code writes to a file or to stdout. */
export interface ByteSink {
  /** Bytes written so far; the offset the next write lands at. */
  readonly position: number;
  /** Appends bytes; the sink is done with them when it returns, so callers may reuse the buffer. */
  write(bytes: Uint8Array): void;
  /** Appends a range of an input (checked against its CRC when it has one, as it is read). */
  copy(range: ByteRange): void;
}

/** Told the position after each write: what a progress bar follows (a 2 GB tensor is written in many chunks). */
export type OnAdvance = (position: number) => void;

/** Appends to a file descriptor at its current position: a fresh file, or stdout (a pipe included). */
export class FdSink implements ByteSink {
  position = 0;
  constructor(
    private readonly fd: number,
    private readonly onAdvance?: OnAdvance,
  ) {}
  write(bytes: Uint8Array): void {
    writeFully(this.fd, bytes, null);
    this.position += bytes.length;
    this.onAdvance?.(this.position);
  }
  copy(range: ByteRange): void {
    for (const chunk of chunksOf(range)) this.write(chunk);
  }
}

/**
 * Writes into a file that starts as a copy of an input (made by the kernel, `copyFile`): a range of
 * that input copied to the offset it already has there is skipped, everything else is written in
 * place, and `finish` cuts the file to what was written. Writes skipped are the point: a rename that
 * only changes `data.pkl` costs what `cp` costs.
 */
export class CopyOfInputSink implements ByteSink {
  position = 0;
  /** Bytes that were already in place. */
  skipped = 0;
  constructor(
    private readonly fd: number,
    private readonly input: ByteSource,
    private readonly onAdvance?: OnAdvance,
  ) {}
  write(bytes: Uint8Array): void {
    writeFully(this.fd, bytes, this.position);
    this.position += bytes.length;
    this.onAdvance?.(this.position);
  }
  copy(range: ByteRange): void {
    if (range.source === this.input && range.offset === this.position) {
      this.position += range.length;
      this.skipped += range.length;
      this.onAdvance?.(this.position);
      return;
    }
    for (const chunk of chunksOf(range)) this.write(chunk);
  }
  finish(): void {
    ftruncateSync(this.fd, this.position);
  }
}

/**
 * Holds back the last bytes of a stream until `commit`: a pipe cannot be taken back, so an output
 * that fails part way (a corrupt input found at its end) reaches the next command cut short, which
 * every reader of these formats refuses, rather than whole-looking.
 */
export class HoldBackSink implements ByteSink {
  static readonly HELD = 64 << 10;
  position = 0;
  private held = Buffer.alloc(0);
  constructor(private readonly inner: ByteSink) {}
  write(bytes: Uint8Array): void {
    this.position += bytes.length;
    const total = this.held.length + bytes.length;
    if (total <= HoldBackSink.HELD) {
      this.held = Buffer.concat([this.held, bytes]);
      return;
    }
    const release = total - HoldBackSink.HELD;
    if (release >= this.held.length) {
      this.inner.write(this.held);
      const fromBytes = release - this.held.length;
      this.inner.write(bytes.subarray(0, fromBytes));
      this.held = Buffer.from(bytes.subarray(fromBytes));
    } else {
      this.inner.write(this.held.subarray(0, release));
      this.held = Buffer.concat([this.held.subarray(release), bytes]);
    }
  }
  copy(range: ByteRange): void {
    for (const chunk of chunksOf(range)) this.write(chunk);
  }
  commit(): void {
    this.inner.write(this.held);
    this.held = Buffer.alloc(0);
  }
}

/** Collects everything in memory: for tests and for small outputs. */
export class MemorySink implements ByteSink {
  position = 0;
  private readonly parts: Uint8Array[] = [];
  write(bytes: Uint8Array): void {
    this.parts.push(Buffer.from(bytes));
    this.position += bytes.length;
  }
  copy(range: ByteRange): void {
    for (const chunk of chunksOf(range)) this.write(chunk);
  }
  toBuffer(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/**
 * Writes all of `bytes` (at `position`, or at the descriptor's offset when null). A pipe another
 * process made non-blocking answers EAGAIN when full: wait a moment and write on.
 */
function writeFully(fd: number, bytes: Uint8Array, position: number | null): void {
  let done = 0;
  while (done < bytes.length) {
    try {
      done += writeSync(fd, bytes, done, Math.min(bytes.length - done, 1 << 30), position === null ? null : position + done);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error;
      Atomics.wait(pause, 0, 0, 2);
    }
  }
}

const pause = new Int32Array(new SharedArrayBuffer(4));
