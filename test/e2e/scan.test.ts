import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { fixture, modsurg, ROOT, scratchDir } from '../helpers/cli.js';
import { ORACLE_PYTHON, ORACLE_SKIP, python } from '../helpers/oracle.js';

/**
 * `scan` on a generated corpus of malicious checkpoints (fixtures/make_attack_corpus.py: payloads through
 * many globals and every call opcode, hidden in every place torch or another reader looks) and on every
 * benign fixture: each malicious file flagged, naming its payload; no benign one; no payload ever run.
 */
const dir = scratchDir();
const marker = join(dir, 'PAYLOAD-RAN');
interface Entry {
  file: string;
  payload: string;
  how: string;
}
interface Report {
  file: string;
  verdict: 'clean' | 'dangerous' | 'unreadable';
  kind: string;
  findings: { global: string; op: string; offset: number; where: string }[];
  suspicious: string[];
  error?: string;
}
let corpus: Entry[] = [];

const scan = (files: string[]): { status: number; reports: Report[] } => {
  const run = modsurg(['scan', ...files, '--json']);
  expect(run.stderr).toBe('');
  return { status: run.status, reports: (JSON.parse(run.stdout) as { files: Report[] }).files };
};

/**
 * Whole-model pickles of the fixtures' own classes (`models.TinyResNet`) and a TorchScript archive: loading
 * them imports and runs code the file names but does not hold, which no allowlist can vouch for (torch's
 * weights_only refuses them too). They are flagged, and are not counted as benign.
 */
const OWN_CLASSES = new Set(['resnet_model.pth', 'resnet_model_t113.pth', 'resnet_dp_model.pth', 'torchscript.pt']);

/** Every fixture torch, safetensors, numpy or onnx made (the deliberately malicious file and OWN_CLASSES aside). */
function benignFixtures(): string[] {
  const files: string[] = [];
  const walk = (folder: string): void => {
    for (const name of readdirSync(folder)) {
      const path = join(folder, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (/\.(pth|pt|bin|ckpt|safetensors|onnx|npy)$/.test(name) && name !== 'malicious.pth' && !OWN_CLASSES.has(name)) files.push(path);
    }
  };
  walk(join(ROOT, 'fixtures'));
  return files;
}

describe.skipIf(!ORACLE_PYTHON)(`scan: every malicious file flagged, no benign one${ORACLE_SKIP}`, () => {
  beforeAll(() => {
    const made = spawnSync(ORACLE_PYTHON!, [join(ROOT, 'fixtures/make_attack_corpus.py'), dir, marker], { encoding: 'utf8' });
    expect(made.status, made.stderr).toBe(0);
    corpus = (JSON.parse(readFileSync(join(dir, 'corpus.json'), 'utf8')) as { malicious: Entry[] }).malicious;
  });

  it('flags every file of the corpus, naming the payload', () => {
    expect(corpus.length).toBeGreaterThanOrEqual(60);
    const { status, reports } = scan(corpus.map((e) => join(dir, e.file)));
    expect(status).toBe(1);
    const missed = reports.filter((r) => r.verdict !== 'dangerous').map((r) => `${relative(dir, r.file)}: ${r.verdict} ${r.error ?? ''}`);
    expect(missed).toEqual([]);
    corpus.forEach((entry, i) => {
      if (entry.payload.includes('.')) expect(reports[i]!.findings.map((f) => f.global), entry.file).toContain(entry.payload);
    });
  });

  it('reports what fooled other readers as suspicious: duplicate and case-colliding members, bytes after STOP, a bad CRC', () => {
    const { reports } = scan(['zip_duplicate_data_pkl.pth', 'zip_case_colliding.pth', 'zip_after_stop.pth', 'zip_bad_crc.pth', 'raw_after_stop.pkl'].map((f) => join(dir, 'malicious', f)));
    const notes = reports.map((r) => r.suspicious.join(' | '));
    expect(notes[0]).toMatch(/two members named archive\/data\.pkl/);
    expect(notes[1]).toMatch(/archive\/Data\.pkl and archive\/data\.pkl differ only in case|archive\/data\.pkl and archive\/Data\.pkl differ only in case/);
    expect(notes[2]).toMatch(/bytes after the pickle's STOP/);
    expect(notes[3]).toMatch(/CRC-32 does not match/);
    expect(notes[4]).toMatch(/bytes after the pickle's STOP/);
  });

  it('clears every benign fixture: state dicts, whole-model pickles, legacy files, safetensors, ONNX, npy', () => {
    const files = benignFixtures();
    expect(files.length).toBeGreaterThan(40);
    const { status, reports } = scan(files);
    const flagged = reports.filter((r) => r.verdict !== 'clean').map((r) => `${relative(ROOT, r.file)}: ${r.verdict} ${r.findings.map((f) => f.global).join(', ')} ${r.error ?? ''}`);
    expect(flagged).toEqual([]);
    expect(status).toBe(0);
  });

  it("whole-model pickles of a script's own classes and TorchScript are flagged, by name", () => {
    const { reports } = scan([...OWN_CLASSES].map((name) => fixture(name)));
    expect(reports.map((r) => r.verdict)).toEqual(['dangerous', 'dangerous', 'dangerous', 'dangerous']);
    expect(reports[0]!.findings.map((f) => f.global)).toContain('models.TinyResNet');
  });

  it('no payload ran, and nothing carried one into an output: every file through convert, refused or written without it; with --drop-unsafe, written as torch loads it', async () => {
    const outputs: string[] = [];
    for (const [i, entry] of corpus.entries()) {
      const out = join(dir, `plain${i}.pth`);
      // in process (the CLI's own entry point): the whole corpus twice through a new process each would take a minute
      const converted = modsurg(['convert', join(dir, entry.file), '-o', out]);
      // refused naming what it would not copy, or written without the payload (an unreferenced .pkl member is not part of the checkpoint)
      if (converted.status === 0) expect((modsurg(['scan', out])).status, entry.file).toBe(0);
      else expect([converted.status, converted.stderr.split('\n').filter((l) => l.startsWith('error: ')).length], entry.file).toEqual([2, 1]);
      rmSync(out, { force: true });
      const dropped = join(dir, `dropped${i}.pth`);
      const kept = modsurg(['convert', join(dir, entry.file), '-o', dropped, '--drop-unsafe']);
      if (kept.status === 0) {
        outputs.push(dropped);
        if (converted.status !== 0 && /cannot write/.test(converted.stderr)) expect(kept.stderr, entry.file).toMatch(/^warning: .*left out \d+ values? torch\.load\(weights_only=True\) would refuse: /);
      } else expect(kept.status, entry.file).toBe(2);
    }
    expect(outputs.length).toBeGreaterThan(corpus.length / 2);
    const judged = python(
      `import sys, torch
bad = []
for path in sys.argv[1:]:
    try:
        torch.load(path, weights_only=True)
    except Exception as e:
        bad.append(f"{path}: {e}")
print("\\n".join(bad))`,
      outputs,
    );
    expect(judged.stdout.trim(), judged.stderr).toBe('');
    expect(existsSync(marker)).toBe(false);
  });
});

describe('scan conventions', () => {
  it('exit 1 if any file is dangerous, else 2 if one is unreadable, else 0; one line per clean file; an unreadable one is an error line on stderr', () => {
    const evil = fixture('malicious.pth');
    expect(modsurg(['scan', fixture('resnet_sd.pth'), fixture('resnet_sd.safetensors')]).status).toBe(0);
    const missing = modsurg(['scan', fixture('resnet_sd.pth'), join(dir, 'missing.pth')]);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/^error: \S+missing\.pth: no such file\n$/);
    const both = modsurg(['scan', join(dir, 'missing.pth'), evil]);
    expect(both.status).toBe(1);
    expect(both.stdout).toMatch(/malicious\.pth: DANGER \(torch zip, 1 pickle\): loading it runs code\n {2}os\.system {2}\(GLOBAL at byte \d+ of \S+data\.pkl\)\n {2}os\.system {2}\(REDUCE at byte \d+ of \S+data\.pkl\)/);
    expect(modsurg(['scan', fixture('resnet_sd.pth')]).stdout).toMatch(/resnet_sd\.pth: clean \(torch zip, 1 pickle\)\n$/);
  });

  it('prints names escaped: a global made of terminal codes cannot erase the DANGER line', () => {
    const path = join(dir, 'escape.pkl');
    const name = 'x\x1b[2K\x1b[1A\r';
    writeFileSync(path, Buffer.concat([Buffer.from('\x80\x02cos\n', 'latin1'), Buffer.from(`${name}\n`, 'latin1'), Buffer.from(')R.', 'latin1')]));
    const run = modsurg(['scan', path]);
    expect(run.status).toBe(1);
    expect(run.stdout).not.toContain('\x1b');
    expect(run.stdout).toContain('os.x\\x1b[2K\\x1b[1A\\x0d');
  });
});
