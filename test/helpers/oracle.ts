import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, constants, existsSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { ROOT } from './cli.js';

/**
 * Real PyTorch as the judge of what modsurg writes. Found through MODSURG_ORACLE_PYTHON or the
 * project's `.oracle/` venv (scripts/setup-oracle.sh). Missing, its tests skip with a reason — except
 * under CI, where a missing oracle is a failure.
 */
function findOracle(): string | undefined {
  const candidates = [process.env.MODSURG_ORACLE_PYTHON, join(ROOT, '.oracle/bin/python')].filter((p): p is string => !!p);
  for (const python of candidates) {
    if (!existsSync(python)) continue;
    const probe = spawnSync(python, ['-c', 'import torch, safetensors'], { encoding: 'utf8' });
    if (probe.status === 0) return python;
  }
  return undefined;
}

export const ORACLE_PYTHON = findOracle();

if (!ORACLE_PYTHON && process.env.CI) {
  throw new Error('the Python oracle (torch + safetensors) is missing; run scripts/setup-oracle.sh');
}

/** The reason oracle tests are skipped, shown in their names; empty when the oracle is there. */
export const ORACLE_SKIP = ORACLE_PYTHON ? '' : ' (skipped: no Python oracle; run scripts/setup-oracle.sh)';

/**
 * The tolerance of a forward pass compared with a reference: kernels differ in their last bits from one
 * CPU to another (AVX2 or AVX-512, fused or not), so computed values are never compared exactly; stored
 * bytes always are.
 */
export const FORWARD_ATOL = '1e-5';

export interface OracleResult {
  ok: boolean;
  diffs?: string[];
  [key: string]: unknown;
}

/**
 * One Python process per test worker (test/oracle/server.py), spoken to through two FIFOs so that a
 * check stays a plain synchronous call: importing torch once instead of once per check is most of
 * the suite's time saved.
 */
class OracleServer {
  private readonly dir = mkdtempSync(join(tmpdir(), 'modsurg-oracle-'));
  private readonly child: ChildProcess;
  private readonly requests: number;
  private readonly responses: number;
  private pending = Buffer.alloc(0);

  constructor(python: string) {
    const requests = join(this.dir, 'requests');
    const responses = join(this.dir, 'responses');
    const made = spawnSync('mkfifo', [requests, responses]);
    if (made.status !== 0) throw new Error(`mkfifo failed: ${made.stderr.toString()}`);
    const log = openSync(join(this.dir, 'stderr.log'), 'w');
    this.child = spawn(python, [join(ROOT, 'test/oracle/server.py'), requests, responses], { cwd: ROOT, stdio: ['ignore', 'ignore', log], detached: false });
    closeSync(log);
    this.child.unref();
    // opening the write end waits for the reader; poll (non-blocking) so a server that died at start fails
    const deadline = Date.now() + 120_000;
    let fd: number | undefined;
    while (fd === undefined) {
      try {
        fd = openSync(requests, constants.O_WRONLY | constants.O_NONBLOCK);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENXIO' || Date.now() > deadline) throw new Error(`the oracle server did not start: ${this.log()}`);
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
      if (n === 0) throw new Error(`the oracle server ended: ${this.log()}`);
      this.pending = Buffer.concat([this.pending, chunk.subarray(0, n)]);
    }
  }

  private log(): string {
    const result = spawnSync('tail', ['-n', '5', join(this.dir, 'stderr.log')], { encoding: 'utf8' });
    return result.stdout.trim().split('\n').join(' | ');
  }
}

let server: OracleServer | undefined;
function oracleServer(): OracleServer {
  return (server ??= new OracleServer(ORACLE_PYTHON!));
}

/** Expects an oracle's verdict to be a pass, showing it whole when not. */
export function expectOk(verdict: OracleResult): OracleResult {
  expect(verdict.diffs ?? [], JSON.stringify(verdict)).toEqual([]);
  expect(verdict.ok, JSON.stringify(verdict)).toBe(true);
  return verdict;
}

/**
 * onnx.checker (full), then onnxruntime loading the model by its path, its outputs against PyTorch's within
 * `atol` (a forward pass on another CPU): test/oracle/run_onnx.py.
 */
export function agreesWithTorch(model: string, inputs: Record<string, string>, expected: Record<string, string>, atol = '1e-4'): OracleResult {
  const verdict = expectOk(
    oracle('run_onnx.py', [
      model,
      ...Object.entries(inputs).flatMap(([name, file]) => ['--input', `${name}=${file}`]),
      ...Object.entries(expected).flatMap(([name, file]) => ['--expect', `${name}=${file}`]),
      '--atol',
      atol,
      '--check',
    ]),
  );
  expect(verdict.checker).toBe('ok');
  return verdict;
}

/** Runs one of test/oracle/*.py and returns its JSON verdict. */
export function oracle(script: string, args: string[]): OracleResult {
  return oracleServer().request({ script, args }) as OracleResult;
}

/** Runs Python code with the oracle, as `python -c CODE ARGS` would, and returns what it printed. */
export function python(code: string, args: string[] = []): { status: number; stdout: string; stderr: string } {
  const reply = oracleServer().request({ code, args });
  return { status: Number(reply.status), stdout: String(reply.stdout), stderr: String(reply.stderr) };
}
