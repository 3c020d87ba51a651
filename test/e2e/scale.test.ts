import { closeSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { freeBytesIn, largeScratchDir, modsurg, ROOT, succeeds } from '../helpers/cli.js';
import { ORACLE_PYTHON, ORACLE_SKIP, python } from '../helpers/oracle.js';
import { spawnSync } from 'node:child_process';

/**
 * Files past the 32-bit limits, made by real torch in seconds (fixtures/make_huge.py: a sparse 4.05 GB
 * torch.save zip whose first tensor is 2.25 GiB and whose last record lies past 4 GiB), rewritten in
 * place, streamed through pipes and converted, judged by torch (mmap) and safetensors.
 */
const GiB = 2 ** 30;
// a memory-backed folder spares the disk 8 GB of zeros
const dir = largeScratchDir('modsurg-scale-', 16 * GiB);
const huge = join(dir, 'huge.pth');
const free = freeBytesIn(dir);
const roomy = free > 12 * GiB;
const SKIP = ORACLE_PYTHON ? (roomy ? '' : ` (skipped: needs 12 GB free in ${dir}, has ${(free / GiB).toFixed(1)} GiB)`) : ORACLE_SKIP;

describe.skipIf(!ORACLE_PYTHON || !roomy)(`checkpoints over 4 GiB with a tensor over 2 GiB${SKIP}`, () => {
  beforeAll(() => {
    const made = spawnSync(ORACLE_PYTHON!, [join(ROOT, 'fixtures/make_huge.py'), huge], { encoding: 'utf8' });
    expect(made.status, made.stderr).toBe(0);
  });

  it('inspect reads the zip64 directory and the pickle, not the data', () => {
    const report = JSON.parse(succeeds(['inspect', huge, '--json']).stdout) as { size: number; totals: { bytes: number }; tensors: { name: string; shape: number[] }[] };
    expect(report.size).toBeGreaterThan(4 * GiB);
    expect(report.tensors.map((t) => [t.name, t.shape])).toEqual([
      ['module.a', [603979776]],
      ['module.b', [966367641]],
      ['module.c', [10]],
    ]);
  });

  it('strip-prefix rewrites in place: torch maps the result with computed offsets, every CRC-32 checks', () => {
    const out = join(dir, 'stripped.pth');
    succeeds(['strip-prefix', huge, '-o', out]);
    const loaded = python(
      `import sys, torch, torch.utils.serialization.config
torch.utils.serialization.config.load.calculate_storage_offsets = True
sd = torch.load(sys.argv[1], mmap=True, weights_only=True)
print({k: [str(v.dtype), list(v.shape)] for k, v in sd.items()}, sd['c'].tolist(), float(sd['a'][-1000:].abs().sum()))`,
      [out],
    );
    expect(loaded.stdout.trim(), loaded.stderr).toBe(
      "{'a': ['torch.float32', [603979776]], 'b': ['torch.float16', [966367641]], 'c': ['torch.float32', [10]]} [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0] 0.0",
    );
    expect(succeeds(['inspect', out, '--verify', '-q']).status).toBe(0);
    rmSync(out);
  });

  it('through pipes: zip64 written as a stream and read as one, every CRC-32 checked on the way', () => {
    const cli = `'${process.execPath}' '${join(ROOT, 'bin/run.js')}'`;
    const piped = spawnSync('bash', ['-c', `set -o pipefail; cat '${huge}' | ${cli} strip-prefix - -o - -q | ${cli} inspect - --verify --json`], { encoding: 'utf8' });
    expect(piped.status, piped.stderr).toBe(0);
    const report = JSON.parse(piped.stdout) as { size: number; verifiedBytes: number; tensors: { name: string }[] };
    expect(report.tensors.map((t) => t.name)).toEqual(['a', 'b', 'c']);
    expect(report.verifiedBytes).toBe(603979776 * 4 + 966367641 * 2 + 40);
    expect(report.size).toBeGreaterThan(4 * GiB);
  });

  it('into safetensors, the 2.25 GiB tensor copied in pieces', () => {
    const out = join(dir, 'huge.safetensors');
    succeeds(['convert', huge, '-o', out, '-q']);
    const loaded = python(
      `import sys
from safetensors import safe_open
with safe_open(sys.argv[1], 'pt') as f:
    print({k: [f.get_slice(k).get_dtype(), f.get_slice(k).get_shape()] for k in f.keys()}, f.get_tensor('module.c').tolist())`,
      [out],
    );
    expect(loaded.stdout.trim(), loaded.stderr).toBe("{'module.a': ['F32', [603979776]], 'module.b': ['F16', [966367641]], 'module.c': ['F32', [10]]} [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]");
    rmSync(out);
  });

  it('a corrupt byte deep in the 2.25 GiB tensor is found by inspect --verify', () => {
    const bad = join(dir, 'bad.pth');
    expect(spawnSync('cp', ['--sparse=always', huge, bad]).status).toBe(0);
    const fd = openSync(bad, 'r+');
    writeSync(fd, Buffer.from([1]), 0, 1, 2 * GiB);
    closeSync(fd);
    const verified = modsurg(['inspect', bad, '--verify']);
    expect(verified.status).toBe(2);
    expect(verified.stderr).toMatch(/zip member huge\/data\/0 is corrupt \(CRC-32 mismatch\)/);
    rmSync(bad);
  });
});
