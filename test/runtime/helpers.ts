import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { fixture, modsurg, ROOT } from '../helpers/cli.js';
import { encodeTinyModel, type TinyModel } from '../../src/runtime/tiny-model.js';

export { fixture, ROOT };
export const npyData = (name: string): string => join(ROOT, 'test/runtime/data/npy', name);

export interface CliRun {
  status: number;
  stdout: string;
  stderr: string;
}

/** `node bin/run.js ARGS` from the repository root, as a user runs it (the build must exist): test/helpers/cli.ts's `modsurg`. */
export function cli(args: readonly string[], env: Record<string, string> = {}): CliRun {
  if (!existsSync(join(ROOT, 'dist/cli/main.js'))) throw new Error('dist/ is missing: run `npm run build` first');
  const { status, stdout, stderr } = modsurg([...args], { env });
  return { status, stdout, stderr };
}

/** The `error:` lines of stderr: a failing command prints exactly one. */
export function errorLines(run: CliRun): string[] {
  return run.stderr.split('\n').filter((line) => line.startsWith('error:'));
}

/** A scratch folder for one test file, removed afterwards. */
export function scratch(): string {
  const dir = mkdtempSync(join(tmpdir(), 'modsurg-runtime-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function writeModel(dir: string, name: string, model: TinyModel): string {
  const path = join(dir, name);
  writeFileSync(path, encodeTinyModel(model));
  return path;
}
