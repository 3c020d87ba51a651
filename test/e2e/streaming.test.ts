import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixture, modsurg, ROOT, scratchDir, succeeds } from '../helpers/cli.js';
import { ORACLE_PYTHON, ORACLE_SKIP, expectOk, oracle, python } from '../helpers/oracle.js';

/**
 * Pipelines as the README shows them — `cat F | modsurg … - -o - | modsurg … - -o G` — with real
 * processes and pipes, and rewrites of files in place; every output judged by real torch.
 */
const dir = scratchDir();
const out = (name: string): string => join(dir, name);
const bin = join(ROOT, 'bin/run.js');

/** Runs a shell pipeline with pipefail; `modsurg` in it is the built CLI. */
function shell(script: string): { status: number; stderr: string } {
  const result = spawnSync('bash', ['-c', `set -o pipefail; modsurg() { "${process.execPath}" "${bin}" "$@"; }; ${script}`], {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1' },
  });
  return { status: result.status ?? -1, stderr: result.stderr };
}

function same(output: string, reference: string, ...flags: string[]): void {
  expectOk(oracle('compare_ckpt.py', [output, reference, ...flags]));
}

/** A copy of a fixture with one byte of a storage changed: its CRC-32 no longer matches. */
function corrupted(name: string): string {
  const bytes = Buffer.from(readFileSync(fixture(name)));
  const reader = python(`${DATA_OFFSETS}\nprint(list(data_offsets(sys.argv[1]).values())[0])`, [fixture(name)]);
  bytes[Number(reader.stdout.trim())]! ^= 0xff;
  const path = out(`corrupt_${name}`);
  writeFileSync(path, bytes);
  return path;
}

/** Where each storage's bytes start in a zip, from its local header (zipfile's `extra` is the central one). */
const DATA_OFFSETS = `import sys, json, struct, zipfile
def data_offsets(path):
    raw = open(path, 'rb').read()
    out = {}
    for i in zipfile.ZipFile(path).infolist():
        if '/data/' in i.filename:
            n, e = struct.unpack('<HH', raw[i.header_offset + 26:i.header_offset + 30])
            out[i.filename.split('/', 1)[1]] = i.header_offset + 30 + n + e
    return out`;

const noTemporaries = (): void => expect(readdirSync(dir).filter((f) => f.includes('.modsurg-'))).toEqual([]);

describe.skipIf(!ORACLE_PYTHON)(`pipelines and in-place rewrites${ORACLE_SKIP}`, () => {
  it('cat F | strip-prefix - -o - | replace-head - … -o G: each process streams, G loads in torch', () => {
    const result = shell(`cat ${fixture('resnet_dp.pth')} | modsurg strip-prefix - -o - -q | modsurg replace-head - --classes 10 --seed 1 -o piped.pth -q`);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    succeeds(['strip-prefix', fixture('resnet_dp.pth'), '-o', out('stripped.pth'), '-q']);
    succeeds(['replace-head', out('stripped.pth'), '--classes', '10', '--seed', '1', '-o', out('by_name.pth'), '-q']);
    same(out('piped.pth'), out('by_name.pth'));
    expectOk(oracle('load_strict.py', [out('piped.pth'), 'TinyResNet']));
  });

  it('a training checkpoint through two pipes keeps every object bit for bit', () => {
    const result = shell(`cat ${fixture('training_ckpt.pth')} | modsurg add-prefix - --key model_state_dict -o - | modsurg strip-prefix - --key model_state_dict -o - | cat > train.pth`);
    expect(result.status, result.stderr).toBe(0);
    same(out('train.pth'), fixture('training_ckpt.pth'));
  });

  it('torch 1.13 files (storages stored in name order) stream too', () => {
    const result = shell(`cat ${fixture('training_ckpt_t113.pth')} | modsurg convert - --format torch -o - | modsurg convert - -o t113.safetensors --key model_state_dict`);
    expect(result.status, result.stderr).toBe(0);
    same(out('t113.safetensors'), fixture('training_ckpt_t113.pth'), '--ref-key', 'model_state_dict', '--mapping-any', '--no-metadata', '--any-order');
  });

  it('zips written by Python zipfile (sizes in the headers, the pickle last, members deflated) are read from a pipe', () => {
    python(
      `import sys, zipfile
src = zipfile.ZipFile(sys.argv[1])
names = [n for n in src.namelist() if not n.endswith('data.pkl')] + [n for n in src.namelist() if n.endswith('data.pkl')]
with zipfile.ZipFile(sys.argv[2], 'w', zipfile.ZIP_DEFLATED) as dst:
    for n in names: dst.writestr(n, src.read(n))`,
      [fixture('resnet_sd.pth'), out('zipfile.pth')],
    );
    const piped = modsurg(['strip-prefix', '-', '-o', out('from_zipfile.pth'), '-q'], { input: readFileSync(out('zipfile.pth')) });
    expect(piped.status, piped.stderr).toBe(0);
    same(out('from_zipfile.pth'), fixture('resnet_sd.pth'));
  });

  it('stdin redirected from a file is read as the file', () => {
    const result = shell(`modsurg strip-prefix - -o redirected.pth -q < ${fixture('resnet_dp.pth')}`);
    expect(result.status, result.stderr).toBe(0);
    same(out('redirected.pth'), fixture('resnet_sd.pth'));
  });

  it('a corrupt storage stops the pipeline: exit 2, an error naming stdin, no output, no temporaries', () => {
    const bad = corrupted('resnet_dp.pth');
    const result = shell(`cat ${bad} | modsurg strip-prefix - -o - | modsurg add-prefix - -o never.pth`);
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/^error: -: zip member resnet_dp\/data\/\d+ is corrupt \(CRC-32 mismatch\)$/m);
    expect(existsSync(out('never.pth'))).toBe(false);
    noTemporaries();
  });

  it('a stream cut short is refused, and what was made from it never takes its name', () => {
    const bytes = readFileSync(fixture('resnet_dp.pth'));
    writeFileSync(out('cut.pth'), bytes.subarray(0, bytes.length - 40));
    const result = shell(`cat cut.pth | modsurg strip-prefix - -o never2.pth`);
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/^error: -: .*(truncated|end-of-central-directory)/m);
    expect(existsSync(out('never2.pth'))).toBe(false);
  });

  it('inspect reads a stream to its end; --dry-run checks it too', () => {
    const inspected = modsurg(['inspect', '-', '--json'], { input: readFileSync(fixture('resnet_dp.pth')) });
    expect(inspected.status, inspected.stderr).toBe(0);
    const report = JSON.parse(inspected.stdout) as { size: number; details: Record<string, string> };
    expect(report.size).toBe(statSync(fixture('resnet_dp.pth')).size);
    expect(report.details).toMatchObject({ version: '3', records: '68' });
    const dry = modsurg(['strip-prefix', '-', '--dry-run', '-o', '-'], { input: readFileSync(fixture('resnet_dp.pth')).subarray(0, 30_000) });
    expect(dry.status).toBe(2);
  });
});

describe.skipIf(!ORACLE_PYTHON)(`rewrites that leave the storages where they are${ORACLE_SKIP}`, () => {
  it('strip-prefix of a torch-made file: the storages keep their offsets, mmap with computed offsets loads it', () => {
    succeeds(['strip-prefix', fixture('resnet_dp.pth'), '-o', out('in_place.pth')]);
    const offsets = python(`${DATA_OFFSETS}\nprint(json.dumps([data_offsets(sys.argv[1]), data_offsets(sys.argv[2])]))`, [fixture('resnet_dp.pth'), out('in_place.pth')]);
    const [before, after] = JSON.parse(offsets.stdout) as Record<string, number>[];
    expect(after).toEqual(before);
    same(out('in_place.pth'), fixture('resnet_sd.pth'));
    const mmap = python(
      `import sys, torch, torch.utils.serialization.config
torch.utils.serialization.config.load.calculate_storage_offsets = True
a = torch.load(sys.argv[1], mmap=True, weights_only=True); b = torch.load(sys.argv[2], weights_only=True)
assert list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a); print('ok')`,
      [out('in_place.pth'), fixture('resnet_sd.pth')],
    );
    expect(mmap.stdout.trim(), mmap.stderr).toBe('ok');
  });

  it('replace-head keeps the body in place and appends the new head; add-prefix (a longer pickle) rewrites', () => {
    succeeds(['replace-head', fixture('resnet_sd.pth'), '--classes', '3', '-o', out('head.pth')]);
    expectOk(oracle('load_strict.py', [out('head.pth'), 'TinyResNet', '--num-classes', '3']));
    succeeds(['add-prefix', fixture('resnet_sd.pth'), '-o', out('longer.pth')]);
    same(out('longer.pth'), fixture('resnet_dp.pth'));
  });

  it('writing over the input itself works and leaves no temporaries', () => {
    copyFileSync(fixture('resnet_dp.pth'), out('self.pth'));
    succeeds(['strip-prefix', out('self.pth'), '-o', out('self.pth')]);
    same(out('self.pth'), fixture('resnet_sd.pth'));
    noTemporaries();
  });

  it('bytes copied verbatim keep their CRC: a corrupt storage stays detectable, never laundered', () => {
    const bad = corrupted('resnet_dp.pth');
    // inspect does not read tensor data; --verify does
    succeeds(['inspect', bad, '-q']);
    const verified = modsurg(['inspect', bad, '--verify']);
    expect(verified.status).toBe(2);
    expect(verified.stderr).toMatch(/^error: .*corrupt_resnet_dp.pth: zip member resnet_dp\/data\/\d+ is corrupt \(CRC-32 mismatch\)$/m);
    // a rename copies the storage as it is, with its old CRC: the output fails --verify just the same
    succeeds(['strip-prefix', bad, '-o', out('still_bad.pth')]);
    expect(modsurg(['inspect', out('still_bad.pth'), '--verify']).status).toBe(2);
    // a conversion would give the bytes a fresh checksum (or none), so it checks them first and refuses
    const converted = modsurg(['convert', bad, '-o', out('laundered.safetensors')]);
    expect(converted.status).toBe(2);
    expect(converted.stderr).toMatch(/CRC-32 mismatch/);
    expect(existsSync(out('laundered.safetensors'))).toBe(false);
    const verifiedGood = succeeds(['inspect', fixture('resnet_dp.pth'), '--verify']);
    expect(verifiedGood.stdout).toMatch(/verified: 12.3 KB of tensor data read, every CRC-32 matches/);
  });
});
