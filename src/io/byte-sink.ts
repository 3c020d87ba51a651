import { writeSync } from 'node:fs';

/** A sequential output. Writers only append, so the same code writes to a file or to stdout. */
export interface ByteSink {
  /** Bytes written so far; the offset the next write lands at. */
  readonly position: number;
  write(bytes: Uint8Array): void;
}

export class FdSink implements ByteSink {
  position = 0;
  constructor(private readonly fd: number) {}
  write(bytes: Uint8Array): void {
    let done = 0;
    while (done < bytes.length) done += writeSync(this.fd, bytes, done, bytes.length - done);
    this.position += bytes.length;
  }
}

/** Collects everything in memory: for tests and for small outputs. */
export class MemorySink implements ByteSink {
  position = 0;
  private readonly parts: Uint8Array[] = [];
  write(bytes: Uint8Array): void {
    this.parts.push(Uint8Array.from(bytes));
    this.position += bytes.length;
  }
  toBuffer(): Buffer {
    return Buffer.concat(this.parts);
  }
}
