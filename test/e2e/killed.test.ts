import { closeSync, existsSync, openSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { fixture, modsurg, ROOT, scratchDir, sparseSafetensors, succeeds } from '../helpers/cli.js';

/**
 * A write stopped by a signal — Ctrl-C (SIGINT), SIGTERM, even SIGKILL — in the middle of writing
 * hundreds of megabytes synchronously: it stops at once (killed by the signal, so a shell reports 130 or
 * 143), the target is not touched, and its guardian removes the temporary file. Temporaries a guardian
 * could not remove are named with the dead process's id: the next write of that target removes them, and
 * `modsurg clean` removes any.
 */
const dir = scratchDir();

const temporaries = (): string[] => readdirSync(dir).filter((name) => name.endsWith('.tmp'));
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('a write stopped by a signal', () => {
  it.each(['SIGINT', 'SIGTERM', 'SIGKILL'] as const)('%s mid-write: stops within half a second, target untouched, no temporary left', async (signal) => {
    const input = join(dir, 'big.safetensors');
    if (!existsSync(input)) sparseSafetensors(input, 512 << 20);
    const target = join(dir, `out-${signal}.pth`);
    const child = spawn(process.execPath, [join(ROOT, 'bin/run.js'), 'convert', input, '-o', target, '-q'], { stdio: 'ignore' });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, sig) => resolve({ code, signal: sig })));
    const started = Date.now();
    while (temporaries().length === 0 && Date.now() - started < 20_000) await sleep(5);
    expect(temporaries()[0]).toMatch(new RegExp(`^\\.out-${signal}\\.pth\\.modsurg-${child.pid}-[0-9a-f]{8}\\.tmp$`));
    const sent = performance.now();
    child.kill(signal);
    const end = await exited;
    expect(performance.now() - sent).toBeLessThan(500);
    // the default disposition: killed by the signal, which a shell reports as 128 + its number
    expect(end).toEqual({ code: null, signal });
    for (let waited = 0; temporaries().length > 0 && waited < 2000; waited += 10) await sleep(10);
    expect(temporaries()).toEqual([]);
    expect(existsSync(target)).toBe(false);
  }, 60_000);

  it("a temporary a guardian could not remove goes with the next write of its target, not another's", () => {
    const target = join(dir, 'stale.pth');
    const stale = join(dir, '.stale.pth.modsurg-999999-0123abcd.tmp');
    closeSync(openSync(stale, 'w'));
    succeeds(['convert', fixture('resnet_sd.pth'), '-o', join(dir, 'other.pth'), '-q']);
    expect(existsSync(stale)).toBe(true);
    succeeds(['convert', fixture('resnet_sd.pth'), '-o', target, '-q']);
    expect(existsSync(stale)).toBe(false);
  });

  it('clean removes stale temporaries of any target, never one whose process runs', () => {
    const stale = join(dir, '.x.pth.modsurg-999999-0123abcd.tmp');
    const live = join(dir, `.y.pth.modsurg-${process.pid}-0123abcd.tmp`);
    closeSync(openSync(stale, 'w'));
    closeSync(openSync(live, 'w'));
    const dry = modsurg(['clean', dir, '--dry-run']);
    expect(dry.stdout).toContain(`would remove ${stale}`);
    expect(existsSync(stale)).toBe(true);
    const run = modsurg(['clean', dir, '--json']);
    expect(run.status).toBe(0);
    expect((JSON.parse(run.stdout) as { removed: string[] }).removed).toContain(stale);
    expect(existsSync(stale)).toBe(false);
    expect(existsSync(live)).toBe(true);
  });
});
