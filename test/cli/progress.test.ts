import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Progress, progressLine } from '../../src/cli/report.js';
import { largeScratchDir, ROOT, sparseSafetensors } from '../helpers/cli.js';

describe('progress', () => {
  it('a line says how much of how much, how fast, and how long is left', () => {
    expect(progressLine('writing', 1.3e9, 2.1e9, 2000, 'bytes')).toBe('writing [###############.........] 62%  1.3 GB of 2.1 GB, 650.0 MB/s, 2 s left');
    expect(progressLine('timing', 3, 10, 1500, 'runs')).toBe('timing [#######.................] 30%  3 of 10 runs, 2.0/s, 4 s left');
    expect(progressLine('writing', 0, 5e9, 1000, 'bytes')).toMatch(/, time left unknown$/);
    expect(progressLine('writing', 1e8, 1e11, 1000, 'bytes')).toMatch(/, 16 min 39 s left$/);
  });

  it('draws from the end of the first second, at most every 100 ms, only when enabled, and clears its line', () => {
    let now = 0;
    const drawn: string[] = [];
    const bar = new Progress('writing', 1000, { enabled: true, stream: { write: (t: string) => drawn.push(t) }, now: () => now });
    now = 500;
    bar.update(100);
    expect(drawn).toEqual([]);
    now = 1000;
    bar.update(400);
    now = 1050;
    bar.update(450);
    expect(drawn).toHaveLength(1);
    expect(drawn[0]).toMatch(/^\rwriting \[.*\] 40%  400 B of 1\.0 KB, 400 B\/s, 2 s left\x1b\[K$/);
    bar.finish();
    expect(drawn.at(-1)).toBe('\r\x1b[K');
    const silent: string[] = [];
    const off = new Progress('writing', 1000, { enabled: false, stream: { write: (t: string) => silent.push(t) }, now: () => 5000 });
    off.update(10);
    off.finish();
    expect(silent).toEqual([]);
    // by default it draws only on a terminal: this test's stderr is a pipe
    const written: string[] = [];
    const original = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((t: string) => (written.push(t), true)) as typeof process.stderr.write;
    try {
      const piped = new Progress('writing', 1000, { now: () => (now += 2000) });
      piped.update(500);
      piped.finish();
    } finally {
      process.stderr.write = original;
    }
    expect(written).toEqual([]);
  });
});

describe('progress on a terminal, as a user sees it', () => {
  const dir = largeScratchDir('modsurg-progress-', 8 * 2 ** 30);
  it('a 2 GiB write draws the bar from its first second, under a pseudo-terminal', () => {
    const input = join(dir, 'big.safetensors');
    sparseSafetensors(input, 2 ** 31);
    const command = `${process.execPath} ${join(ROOT, 'bin/run.js')} convert ${input} -o ${join(dir, 'out.pth')}`;
    const terminal = spawnSync('script', ['-qfec', command, '/dev/null'], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
    expect(terminal.status, terminal.stderr).toBe(0);
    const drawn = terminal.stdout.split('\r').filter((part) => part.startsWith('writing ['));
    expect(drawn.length).toBeGreaterThan(0);
    expect(drawn[0]).toMatch(/^writing \[[#.]+\] (\d+)%  [\d.]+ [MG]B of 2\.1 GB, [\d.]+ [MG]B\/s, \d+ s left/);
    expect(Number(/\] (\d+)%/.exec(drawn[0]!)![1])).toBeLessThan(100);
  }, 60_000);
});
