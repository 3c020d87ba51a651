import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { freeBytesIn, largeScratchDir, modsurg, ROOT } from '../helpers/cli.js';
import { ORACLE_PYTHON, ORACLE_SKIP, python } from '../helpers/oracle.js';

/**
 * ONNX models past protobuf's 2 GiB limit, generated sparse (fixtures/make_big_onnx.py): a 2.5 GiB
 * external-data model is edited in bounded memory and judged by onnx and onnxruntime; an inline model
 * over 2 GiB, and an edit that would make one, are refused.
 */
const GiB = 2 ** 30;
// a memory-backed folder: the 2.5 GiB copy made by the edit costs no disk
const dir = largeScratchDir('modsurg-onnx-scale-', 8 * GiB);
const free = freeBytesIn(dir);
const roomy = free > 6 * GiB;
const SKIP = ORACLE_PYTHON ? (roomy ? '' : ` (skipped: needs 6 GB free in ${dir})`) : ORACLE_SKIP;
const big = join(dir, 'big.onnx');
const inline = join(dir, 'inline.onnx');

/** Runs the CLI under Python's getrusage, which sees the child's peak memory: [result, peak RSS in bytes]. */
function measured(args: string[]): { status: number; stderr: string; peak: number } {
  const run = python(
    `import json, resource, subprocess, sys
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
print(json.dumps({"status": done.returncode, "stderr": done.stderr, "peak": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024}))`,
    [process.execPath, join(ROOT, 'bin/run.js'), ...args],
  );
  expect(run.status, run.stderr).toBe(0);
  return JSON.parse(run.stdout) as { status: number; stderr: string; peak: number };
}

describe.skipIf(!ORACLE_PYTHON || !roomy)(`ONNX over 2 GiB${SKIP}`, () => {
  beforeAll(() => {
    for (const [kind, path] of [['external', big], ['inline', inline]] as const) {
      const made = spawnSync(ORACLE_PYTHON!, [join(ROOT, 'fixtures/make_big_onnx.py'), kind, path], { encoding: 'utf8' });
      expect(made.status, made.stderr).toBe(0);
    }
  });

  it('add-output on a 2.5 GiB external-data model, written to another folder, in bounded memory; onnxruntime runs the result', () => {
    const out = join(dir, 'edited', 'out.onnx');
    mkdirSync(join(dir, 'edited'));
    const run = measured(['add-output', big, '--tensor', 'relu0', '-o', out, '-q']);
    expect(run.status, run.stderr).toBe(0);
    expect(run.peak).toBeLessThan(300 * 2 ** 20);
    const judged = python(
      `import sys, numpy as np, onnx, onnxruntime as ort
onnx.checker.check_model(sys.argv[1])
model = onnx.load(sys.argv[1], load_external_data=False)
print([o.name for o in model.graph.output], sorted({e.value for t in model.graph.initializer for e in t.external_data if e.key == "location"}))
session = ort.InferenceSession(sys.argv[1])
y, relu0 = session.run(None, {"input": np.ones((1, 1024), np.float32)})
print(y.shape, relu0.shape, float(np.abs(y).sum()))`,
      [out],
    );
    expect(judged.stdout.trim().split('\n'), judged.stderr).toEqual(["['relu639', 'relu0'] ['out.onnx.data']", '(1, 1024) (1, 1024) 0.0']);
    rmSync(join(dir, 'edited'), { recursive: true });
  });

  it('an edit written beside its input keeps naming the input data file, which it leaves alone', () => {
    const out = join(dir, 'beside.onnx');
    const run = measured(['add-output', big, '--tensor', 'relu5', '-o', out, '-q']);
    expect(run.status, run.stderr).toBe(0);
    expect(run.peak).toBeLessThan(300 * 2 ** 20);
    expect(existsSync(`${out}.data`)).toBe(false);
    const judged = python(
      `import sys, onnx
model = onnx.load(sys.argv[1], load_external_data=False)
print([o.name for o in model.graph.output], {e.value for t in model.graph.initializer for e in t.external_data if e.key == "location"})`,
      [out],
    );
    expect(judged.stdout.trim(), judged.stderr).toBe("['relu639', 'relu5'] {'big.onnx.data'}");
    rmSync(out);
  });

  it('refuses to inline 2.5 GiB of weights: protobuf cannot hold them, and nothing is written', () => {
    const out = join(dir, 'inlined.onnx');
    const run = modsurg(['convert', big, '--inline', '-o', out]);
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/^error: .*2 GiB/);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(readdirSync(dir).filter((name) => name.startsWith('inlined') || name.includes('.tmp'))).toEqual([]);
  });

  it('refuses an inline protobuf over 2 GiB on every reading command, in one line', () => {
    for (const args of [['inspect', inline], ['add-output', inline, '--tensor', 'y', '-o', join(dir, 'x.onnx')], ['load-weights', inline, '--weights', join(ROOT, 'fixtures/resnet_sd.pth'), '-o', join(dir, 'x.onnx')]]) {
      const run = modsurg(args);
      expect(run.status, args.join(' ')).toBe(2);
      expect(run.stderr).toBe(`error: ${inline}: is 2,252,341,327 bytes, over protobuf's 2 GiB limit: onnx and onnxruntime cannot read it (a model this large keeps its weights in external data)\n`);
    }
    expect(existsSync(join(dir, 'x.onnx'))).toBe(false);
  });
});
