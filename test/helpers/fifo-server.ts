import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './root.js';

/**
 * A long-lived helper process of a test worker (the Python oracle, the CLI server), spoken to through
 * two FIFOs — one JSON line a request, one a reply — so that a call stays a plain synchronous call.
 * It ends when the worker does (the writer of its request FIFO goes away).
 */
export class FifoServer {
  private readonly dir: string;
  private readonly child: ChildProcess;
  private readonly requests: number;
  private readonly responses: number;
  private pending = Buffer.alloc(0);

  constructor(
    private readonly label: string,
    executable: string,
    script: string,
  ) {
    this.dir = mkdtempSync(join(tmpdir(), `modsurg-${label}-`));
    const requests = join(this.dir, 'requests');
    const responses = join(this.dir, 'responses');
    const made = spawnSync('mkfifo', [requests, responses]);
    if (made.status !== 0) throw new Error(`mkfifo failed: ${made.stderr.toString()}`);
    const log = openSync(join(this.dir, 'stderr.log'), 'w');
    this.child = spawn(executable, [script, requests, responses], { cwd: ROOT, stdio: ['ignore', 'ignore', log], detached: false });
    closeSync(log);
    this.child.unref();
    // opening the write end waits for the reader; poll (non-blocking) so a server that died at start fails
    const deadline = Date.now() + 120_000;
    let fd: number | undefined;
    while (fd === undefined) {
      try {
        fd = openSync(requests, constants.O_WRONLY | constants.O_NONBLOCK);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENXIO' || Date.now() > deadline) throw new Error(`the ${this.label} server did not start: ${this.log()}`);
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
      }
    }
    this.requests = fd;
    this.responses = openSync(responses, 'r');
    process.once('exit', () => {
      this.child.kill();
      rmSync(this.dir, { recursive: true, force: true });
    });
  }

  request(message: object): Record<string, unknown> {
    const line = Buffer.from(`${JSON.stringify(message)}\n`);
    for (let at = 0; at < line.length; ) {
      try {
        at += writeSync(this.requests, line, at);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error;
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
      }
    }
    for (;;) {
      const newline = this.pending.indexOf(0x0a);
      if (newline >= 0) {
        const reply = this.pending.subarray(0, newline).toString('utf8');
        this.pending = this.pending.subarray(newline + 1);
        return JSON.parse(reply) as Record<string, unknown>;
      }
      const chunk = Buffer.alloc(1 << 16);
      const n = readSync(this.responses, chunk, 0, chunk.length, null);
      if (n === 0) throw new Error(`the ${this.label} server ended: ${this.log()}`);
      this.pending = Buffer.concat([this.pending, chunk.subarray(0, n)]);
    }
  }

  private log(): string {
    const result = spawnSync('tail', ['-n', '5', join(this.dir, 'stderr.log')], { encoding: 'utf8' });
    return result.stdout.trim().split('\n').join(' | ');
  }
}

