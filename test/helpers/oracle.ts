import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
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

export interface OracleResult {
  ok: boolean;
  diffs?: string[];
  [key: string]: unknown;
}

/** Runs one of test/oracle/*.py and returns its JSON verdict. */
export function oracle(script: string, args: string[]): OracleResult {
  const result = spawnSync(ORACLE_PYTHON!, [join(ROOT, 'test/oracle', script), ...args], { cwd: ROOT, encoding: 'utf8' });
  const line = result.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as OracleResult;
  } catch {
    return { ok: false, diffs: [`oracle ${script} failed (exit ${result.status}): ${result.stderr.trim().split('\n').slice(-3).join(' | ')}`] };
  }
}

/** Runs Python code with the oracle and returns its stdout. */
export function python(code: string, args: string[] = []): { status: number; stdout: string; stderr: string } {
  const result = spawnSync(ORACLE_PYTHON!, ['-c', code, ...args], { cwd: ROOT, encoding: 'utf8' });
  return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}
