import { closeSync, existsSync, ftruncateSync, openSync, readdirSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { fixture, modsurg, ROOT, scratchDir, succeeds } from '../helpers/cli.js';

/**
 * A write killed outright (SIGKILL: no handler runs) leaves its temporary file beside the target, named
 * with the dead process's id: the next write of that target removes it, and `modsurg clean` removes any.
 */
const dir = scratchDir();

/** A 512 MiB safetensors file of zeros, stored sparse: converting it writes every byte, which takes a while. */
function bigSafetensors(path: string): void {
  const bytes = 512 << 20;
  let header = JSON.stringify({ w: { dtype: 'F32', shape: [bytes / 4], data_offsets: [0, bytes] } });
  header += ' '.repeat((8 - (header.length % 8)) % 8);
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(header.length));
  const fd = openSync(path, 'w');
  writeSync(fd, Buffer.concat([length, Buffer.from(header)]));
  ftruncateSync(fd, 8 + header.length + bytes);
  closeSync(fd);
}

const temporaries = (): string[] => readdirSync(dir).filter((name) => name.endsWith('.tmp'));

describe('a write killed outright', () => {
  it('leaves a temporary named by its process; the next write of the target removes it, clean removes the rest', async () => {
    const input = join(dir, 'big.safetensors');
    bigSafetensors(input);
    const target = join(dir, 'out.pth');
    const child = spawn(process.execPath, [join(ROOT, 'bin/run.js'), 'convert', input, '-o', target, '-q'], { stdio: 'ignore' });
    const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
    const started = Date.now();
    while (temporaries().length === 0 && Date.now() - started < 20_000) await new Promise((resolve) => setTimeout(resolve, 10));
    child.kill('SIGKILL');
    await exited;
    const left = temporaries();
    expect(left).toHaveLength(1);
    expect(left[0]).toMatch(new RegExp(`^\\.out\\.pth\\.modsurg-${child.pid}-[0-9a-f]{8}\\.tmp$`));
    expect(existsSync(target)).toBe(false);

    // another target's write leaves it; the same target's removes it
    succeeds(['convert', fixture('resnet_sd.pth'), '-o', join(dir, 'other.pth'), '-q']);
    expect(temporaries()).toEqual(left);
    succeeds(['convert', fixture('resnet_sd.pth'), '-o', target, '-q']);
    expect(temporaries()).toEqual([]);
  }, 60_000);

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
