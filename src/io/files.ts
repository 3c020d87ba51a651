import { closeSync, constants, copyFileSync, existsSync, fchmodSync, fsyncSync, openSync, readFileSync, renameSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { BrokenPipeError, ModsurgError, withFile } from '../errors.js';
import { FileSource, readRange } from './byte-source.js';
import { CopyOfInputSink, FdSink, HoldBackSink, type ByteSink, type OnAdvance } from './byte-sink.js';
import { PipeSource } from './pipe-source.js';
import { stdinFd, stdinIsFile, stdinIsTerminal, stdoutFd, stdoutIsTerminal } from './stdio.js';
import { pendingOutput, removeQuietly, removeStale, staleTemporaries, temporaryPathFor } from './temp-files.js';

/** `-` names stdin as an input and stdout as an output. */
export const STDIO = '-';

/**
 * Opens an input for random access. Stdin redirected from a file is that file; a pipe cannot seek, so
 * it is spooled once to a temporary file (removed at exit) in large writes.
 */
export function openInput(path: string): FileSource {
  if (path === STDIO) {
    if (stdinIsTerminal()) throw new ModsurgError('refusing to read binary data from a terminal; pipe a file in or name one', STDIO);
    return stdinAsFile();
  }
  try {
    if (statSync(path).isDirectory()) throw new ModsurgError('is a directory, not a file', path);
    return new FileSource(path, path);
  } catch (error) {
    throw asIoError(error, path);
  }
}

/**
 * Opens a checkpoint input: as `openInput`, except that a zip arriving through a pipe is not spooled
 * but read front to back as it arrives (see `readTorchZipStream`); `completeInput` reads the rest.
 */
export function openStreamingInput(path: string): FileSource | PipeSource {
  if (path !== STDIO || stdinFile !== undefined || stdinIsTerminal() || stdinIsFile()) return openInput(path);
  const pipe = new PipeSource(STDIO, stdinFd());
  if (pipe.peek(4).equals(ZIP_START)) return pipe;
  return (stdinFile = pipe.toFile());
}

const ZIP_START = Buffer.from('PK\x03\x04', 'latin1');

/** Reads and checks what is left of a streamed input; a no-op for files. Call before an output made from it is committed. */
export function completeInput(source: object): void {
  if (!(source instanceof PipeSource)) return;
  try {
    source.complete();
  } catch (error) {
    throw withFile(error, source.name);
  }
}

/** A path for tools that need a real file (onnxruntime opens models by path): the input itself, or stdin's file. */
export function localFileOf(path: string): string {
  return path === STDIO ? stdinAsFile().path : path;
}

/** Reads a small text input (a map file, a JSON input) whole. */
export function readTextInput(path: string): string {
  try {
    return path === STDIO ? readRange({ source: stdinAsFile(), offset: 0, length: stdinAsFile().size }).toString('utf8') : readFileSync(path, 'utf8');
  } catch (error) {
    throw asIoError(error, path);
  }
}

let stdinFile: FileSource | undefined;

/** Stdin as a file, made once: the file it was redirected from, or a spool of the pipe. */
function stdinAsFile(): FileSource {
  if (stdinFile) return stdinFile;
  try {
    stdinFile = stdinIsFile() ? new FileSource(STDIO, '/proc/self/fd/0') : new PipeSource(STDIO, stdinFd()).toFile();
  } catch (error) {
    throw asIoError(error, STDIO);
  }
  return stdinFile;
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

let fsyncAlways = false;

/** `--fsync`: flush every output to the disk before it takes its name, not only those that replace a file. */
export function setFsyncAlways(on: boolean): void {
  fsyncAlways = on;
}

export interface OutputOptions {
  /**
   * Start the file as a copy of this input, made by the kernel (a reflink where the file system has
   * them), and write only what differs: see `CopyOfInputSink`. Ignored on stdout.
   */
  readonly copyOf?: FileSource;
  /** Told the bytes written so far after each write (a file's; not on stdout). */
  readonly onProgress?: OnAdvance;
}

/**
 * Writes an output so that it either appears complete or not at all: the bytes go to a temporary file
 * beside the target, renamed only once `write` has finished (flushed to the disk first when it replaces
 * a file, so the original is never lost). Writing over the input works, since the input stays open on
 * its own inode. On stdout the bytes stream as they are made, the last of them held back until `write`
 * has finished, so a failure leaves the reader a cut-off stream.
 */
export async function writeOutput(target: string, write: (sink: ByteSink) => void | Promise<void>, options: OutputOptions = {}): Promise<void> {
  if (target === STDIO) {
    if (stdoutIsTerminal()) throw new ModsurgError('refusing to write binary data to a terminal; use -o FILE or pipe it into another command', STDIO);
    const sink = new HoldBackSink(new FdSink(stdoutFd()));
    try {
      await write(sink);
      sink.commit();
    } catch (error) {
      throw asIoError(error, STDIO);
    }
    return;
  }
  await writeOutputs([{ target, write, options }]);
}

/** One file of a set written together (`writeOutputs`). */
export interface OutputFile {
  readonly target: string;
  readonly write: (sink: ByteSink) => void | Promise<void>;
  readonly options?: OutputOptions;
}

/**
 * Writes files that belong together (a sharded checkpoint's shards, then its index): each to a temporary
 * file beside its target, and only once every one is complete are they renamed, in order: a failure
 * while writing (a bad input, a full disk, Ctrl-C) leaves no new file and every original in place.
 */
export async function writeOutputs(files: readonly OutputFile[]): Promise<void> {
  for (const { target } of files) checkOutputTarget(target);
  const written: { temp: string; target: string }[] = [];
  try {
    for (const file of files) {
      // what a killed earlier write of this target left behind goes first
      removeStale(staleTemporaries(dirname(file.target), file.target));
      const temp = temporaryPathFor(file.target);
      pendingOutput(temp);
      written.push({ temp, target: file.target });
      try {
        await writeTemp(temp, existsSync(file.target), file);
      } catch (error) {
        throw asIoError(error, file.target);
      }
    }
    for (const { temp, target } of written) {
      try {
        renameSync(temp, target);
      } catch (error) {
        throw asIoError(error, target);
      }
    }
  } finally {
    for (const { temp } of written) removeQuietly(temp);
  }
}

/** One temporary file, written whole and closed; flushed to the disk when it will replace a file. */
async function writeTemp(temp: string, replaces: boolean, { write, options = {} }: OutputFile): Promise<void> {
  let fd: number | undefined;
  try {
    if (options.copyOf) {
      copyFileSync(options.copyOf.path, temp, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE);
      fd = openSync(temp, 'r+');
      fchmodSync(fd, 0o644);
      const sink = new CopyOfInputSink(fd, options.copyOf, options.onProgress);
      await write(sink);
      sink.finish();
    } else {
      fd = openSync(temp, 'wx', 0o644);
      await write(new FdSink(fd, options.onProgress));
    }
    if (replaces || fsyncAlways) fsyncSync(fd);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

