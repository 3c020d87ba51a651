import { closeSync, createReadStream, fsyncSync, mkdtempSync, openSync, readFileSync, readSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { randomBytes } from 'node:crypto';
import { BrokenPipeError, ModsurgError } from '../cli/errors.js';
import { BufferSource, FileSource, type ByteSource } from './byte-source.js';
import { FdSink, type ByteSink } from './byte-sink.js';

/** `-` names stdin as an input and stdout as an output. */
export const STDIO = '-';

/** Opens an input for random access. Stdin is read whole, since pipes cannot seek. */
export function openInput(path: string): ByteSource {
  if (path === STDIO) {
    if (process.stdin.isTTY) throw new ModsurgError('refusing to read binary data from a terminal; pipe a file in or name one', STDIO);
    return new BufferSource(STDIO, readStdin());
  }
  try {
    if (statSync(path).isDirectory()) throw new ModsurgError('is a directory, not a file', path);
    return new FileSource(path, path);
  } catch (error) {
    throw asIoError(error, path);
  }
}

/**
 * A path for tools that need a real file (onnxruntime opens models by path): the input itself, or for
 * `-` a temporary copy of stdin that `dispose` removes.
 */
export function localFileOf(path: string, suffix: string): { path: string; dispose: () => void } {
  if (path !== STDIO) return { path, dispose: () => {} };
  const dir = mkdtempSync(join(tmpdir(), 'modsurg-stdin-'));
  const file = join(dir, `stdin${suffix}`);
  writeFileSync(file, readStdin());
  return { path: file, dispose: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Reads a small text input (a map file, a JSON input) whole. */
export function readTextInput(path: string): string {
  try {
    return path === STDIO ? readStdin().toString('utf8') : readFileSync(path, 'utf8');
  } catch (error) {
    throw asIoError(error, path);
  }
}

/**
 * Reads all of stdin synchronously. A pipe whose writer is still running may be non-blocking, where
 * `readFileSync(0)` fails with EAGAIN: wait a moment and read on.
 */
function readStdin(): Buffer {
  const chunks: Buffer[] = [];
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    const chunk = Buffer.allocUnsafe(1 << 20);
    let n: number;
    try {
      n = readSync(0, chunk, 0, chunk.length, null);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') {
        Atomics.wait(pause, 0, 0, 5);
        continue;
      }
      if (code === 'EOF') break;
      throw asIoError(error, STDIO);
    }
    if (n === 0) break;
    chunks.push(chunk.subarray(0, n));
  }
  return Buffer.concat(chunks);
}

export function asIoError(error: unknown, path: string): unknown {
  if (error instanceof ModsurgError) return error;
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'EPIPE') return new BrokenPipeError('the reading end of the pipe was closed', path);
  const reasons: Record<string, string> = {
    ENOENT: 'no such file',
    EACCES: 'permission denied',
    EISDIR: 'is a directory, not a file',
    ENOSPC: 'no space left on the device',
    EROFS: 'read-only file system',
  };
  if (code !== undefined && code in reasons) return new ModsurgError(reasons[code]!, path);
  if (code !== undefined) return new ModsurgError(`${(error as Error).message}`, path);
  return error;
}

/** Temporary files being written, removed if the process is interrupted before they are complete. */
const pending = new Set<string>();
let interruptHandlerInstalled = false;

function removeQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}

function installInterruptHandler(): void {
  if (interruptHandlerInstalled) return;
  interruptHandlerInstalled = true;
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      for (const path of pending) removeQuietly(path);
      process.exit(signal === 'SIGINT' ? 130 : 143);
    });
  }
}

/**
 * Refuses an output path that cannot be written before any work is done: its folder must exist, and
 * the path must not be a folder itself.
 */
export function checkOutputTarget(target: string): void {
  if (target === STDIO) return;
  const folder = dirname(target);
  let isFolder: boolean;
  try {
    isFolder = statSync(folder).isDirectory();
  } catch {
    throw new ModsurgError(`folder ${folder} does not exist`, target);
  }
  if (!isFolder) throw new ModsurgError(`${folder} is not a folder`, target);
  let isDirectory = false;
  try {
    isDirectory = statSync(target).isDirectory();
  } catch {
    // not there yet: the usual case
  }
  if (isDirectory) throw new ModsurgError('is a directory; name the file to write in it', target);
}

/**
 * Writes an output so that it either appears complete or not at all: the bytes go to a temporary file
 * beside the target (or in the temp folder for stdout) which is renamed (or copied to stdout) only once
 * `write` has finished. Writing over the input works, since the input stays open on its own inode.
 */
export async function writeOutput(target: string, write: (sink: ByteSink) => void | Promise<void>): Promise<void> {
  const toStdout = target === STDIO;
  if (toStdout && process.stdout.isTTY) {
    throw new ModsurgError('refusing to write binary data to a terminal; use -o FILE or pipe it into another command', STDIO);
  }
  checkOutputTarget(target);
  const folder = toStdout ? tmpdir() : dirname(target);
  const temp = join(folder, `.${toStdout ? 'stdout' : basename(target)}.modsurg-${randomBytes(4).toString('hex')}.tmp`);
  installInterruptHandler();
  let fd: number | undefined;
  try {
    fd = openSync(temp, 'wx', 0o644);
    pending.add(temp);
    await write(new FdSink(fd));
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    if (toStdout) {
      await pipeline(createReadStream(temp), process.stdout, { end: false });
      removeQuietly(temp);
    } else {
      renameSync(temp, target);
    }
    pending.delete(temp);
  } catch (error) {
    if (fd !== undefined) closeSync(fd);
    removeQuietly(temp);
    pending.delete(temp);
    throw asIoError(error, toStdout ? STDIO : target);
  }
}
