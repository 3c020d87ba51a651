import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { ROOT } from './cli.js';
import { FifoServer } from './fifo-server.js';

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
 * torchvision's, timm's and transformers' model code (scripts/setup-oracle.sh --with-hub), for the tests
 * that build real models with it; under CI it must be there.
 */
export const HUB = Boolean(ORACLE_PYTHON) && existsSync(join(ROOT, '.oracle/hub/.complete'));
if (!HUB && process.env.CI) throw new Error('the hub packages are missing; run scripts/setup-oracle.sh --with-hub');

/** The reason hub tests are skipped, shown in their names; empty when the hub code is there. */
export const HUB_SKIP = ORACLE_SKIP || (HUB ? '' : ' (skipped: no torchvision/timm/transformers code; run scripts/setup-oracle.sh --with-hub)');

/** A real model's graph, exported to `path` by test/oracle/export_models.py (torchvision's ResNet-50, a 12-layer BERT). */
export function exportModel(which: 'resnet50' | 'bert', path: string): string {
  const made = spawnSync(ORACLE_PYTHON!, [join(ROOT, 'test/oracle/export_models.py'), which, path], { encoding: 'utf8' });
  expect(made.status, made.stderr).toBe(0);
  return path;
}

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
let server: FifoServer | undefined;
function oracleServer(): FifoServer {
  return (server ??= new FifoServer('oracle', ORACLE_PYTHON!, join(ROOT, 'test/oracle/server.py')));
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
