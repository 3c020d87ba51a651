import { spawnSync } from 'node:child_process';
import { closeSync, ftruncateSync, mkdtempSync, openSync, rmSync, statfsSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect } from 'vitest';
import { FifoServer } from './fifo-server.js';
import { ROOT } from './root.js';

export { ROOT };
export const fixture = (name: string): string => join(ROOT, 'fixtures', name);

export interface CliResult {
  status: number;
  stdout: string;
  stderr: string;
  stdoutBytes: Buffer;
}

/**
 * Runs the built CLI as a user would: `node bin/run.js ARGS`, optionally with bytes on stdin. Commands
 * that neither read stdin nor write data to stdout run in the worker's CLI server instead
 * (test/helpers/cli-server.mjs: the same entry point, runCli, in one long-lived process), which spares
 * a Node start-up and a load of onnxruntime per command; MODSURG_TEST_SPAWN=1 spawns every one.
 */
export function modsurg(args: string[], options: { input?: Buffer | string; env?: Record<string, string> } = {}): CliResult {
  if (options.input === undefined && !writesDataToStdout(args) && process.env.MODSURG_TEST_SPAWN !== '1') return modsurgMeasured(args, options.env);
  const result = spawnSync(process.execPath, [join(ROOT, 'bin/run.js'), ...args], {
    cwd: ROOT,
    input: options.input ?? '',
    env: { ...process.env, NO_COLOR: '1', ...options.env },
    maxBuffer: 256 << 20,
  });
  return {
    status: result.status ?? -1,
    stdout: result.stdout.toString('utf8'),
    stderr: result.stderr.toString('utf8'),
    stdoutBytes: result.stdout,
  };
}

/** `-o -` and friends: the data goes to file descriptor 1, which only a process of its own can give back. */
function writesDataToStdout(args: readonly string[]): boolean {
  return args.some((arg, i) => (arg === '-' && ['-o', '--output', '--save', '--save-inputs'].includes(args[i - 1] ?? '')) || arg === '--output=-' || arg === '-o-') || args.includes('-');
}

/**
 * A command run in the worker's CLI server, with the time it took and the server's resident memory
 * after it (the fuzz suite's bounds). Only for commands that read no stdin and write no data to stdout.
 */
export function modsurgMeasured(args: string[], env: Record<string, string> = {}): CliResult & { ms: number; rss: number } {
  const reply = cliServer().request({ args, env: { NO_COLOR: '1', ...env } });
  const stdoutBytes = Buffer.from(String(reply.stdout), 'base64');
  return { status: Number(reply.status), stdout: stdoutBytes.toString('utf8'), stderr: String(reply.stderr), stdoutBytes, ms: Number(reply.ms), rss: Number(reply.rss) };
}

let server: FifoServer | undefined;
function cliServer(): FifoServer {
  return (server ??= new FifoServer('cli', process.execPath, join(ROOT, 'test/helpers/cli-server.mjs')));
}

/** Runs the CLI and expects it to succeed: exit 0 and no error line. */
export function succeeds(args: string[], input?: Buffer): CliResult {
  const result = modsurg(args, input === undefined ? {} : { input });
  expect(result.stderr).not.toMatch(/error:/);
  expect(result.status).toBe(0);
  return result;
}

/** A scratch folder for one test file, removed afterwards. */
export function scratchDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'modsurg-test-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Bytes free in a folder's file system (0 when it cannot be told). */
export function freeBytesIn(folder: string): number {
  try {
    const stats = statfsSync(folder);
    return stats.bavail * stats.bsize;
  } catch {
    return 0;
  }
}

/**
 * A scratch folder for files of many gigabytes, removed afterwards: memory-backed (/dev/shm) when it has
 * `memoryAbove` bytes free, which spares the disk writing zeros (and ext4 copies holes slowly), else on disk.
 */
export function largeScratchDir(prefix: string, memoryAbove: number): string {
  if (freeBytesIn('/dev/shm') <= memoryAbove) return scratchDir();
  const dir = mkdtempSync(join('/dev/shm', prefix));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A safetensors file of one float32 tensor of zeros, `bytes` long, stored sparse: quick to make, slow to convert. */
export function sparseSafetensors(path: string, bytes: number): void {
  let header = JSON.stringify({ w: { dtype: 'F32', shape: [bytes / 4], data_offsets: [0, bytes] } });
  header += ' '.repeat((8 - (header.length % 8)) % 8);
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(header.length));
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, Buffer.concat([length, Buffer.from(header)]));
    ftruncateSync(fd, 8 + header.length + bytes);
  } finally {
    closeSync(fd);
  }
}
