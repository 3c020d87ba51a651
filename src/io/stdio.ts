import { fstatSync, openSync, readSync } from 'node:fs';
import { isatty } from 'node:tty';

/**
 * The standard streams as plain blocking descriptors. Touching `process.stdin`/`process.stdout` makes
 * libuv switch a pipe to non-blocking mode, and a non-blocking pipe read or written synchronously
 * answers EAGAIN whenever it is empty or full (every 64 KiB): so they are never touched for data, and a
 * pipe is reopened through /proc, which gives a descriptor of its own, blocking whatever fd 0 or 1 is.
 */
export const stdinIsTerminal = (): boolean => isatty(0);
export const stdoutIsTerminal = (): boolean => isatty(1);

/** What stdin is: a regular file can be read at any offset; anything else only front to back. */
export function stdinIsFile(): boolean {
  return fstatSync(0).isFile();
}

let inFd: number | undefined;
let outFd: number | undefined;

export function stdinFd(): number {
  return (inFd ??= reopen(0, 'r'));
}

export function stdoutFd(): number {
  return (outFd ??= reopen(1, 'w'));
}

function reopen(fd: number, flags: 'r' | 'w'): number {
  try {
    if (fstatSync(fd).isFIFO()) return openSync(`/proc/self/fd/${fd}`, flags);
  } catch {
    // no /proc, or a socket: use the descriptor as it is
  }
  return fd;
}

const pause = new Int32Array(new SharedArrayBuffer(4));

/**
 * Fills `buffer` from a descriptor read front to back; fewer bytes only at the end of input. Should a
 * descriptor still be non-blocking (a socket), EAGAIN waits a moment and reads on.
 */
export function readFully(fd: number, buffer: Buffer): number {
  let filled = 0;
  while (filled < buffer.length) {
    const n = readSome(fd, buffer.subarray(filled));
    if (n === 0) return filled;
    filled += n;
  }
  return filled;
}

/** One read: at least a byte, or 0 at the end of input. */
export function readSome(fd: number, buffer: Buffer): number {
  for (;;) {
    try {
      return readSync(fd, buffer, 0, buffer.length, null);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') Atomics.wait(pause, 0, 0, 1);
      else if (code === 'EOF') return 0;
      else throw error;
    }
  }
}
