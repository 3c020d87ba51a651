import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { fixture, modsurg, ROOT, scratchDir } from '../helpers/cli.js';
import { ORACLE_PYTHON, ORACLE_SKIP, python } from '../helpers/oracle.js';

/** The command-line conventions every command keeps: streams, exit codes, error lines, atomic output. */
const dir = scratchDir();
const out = (name: string): string => join(dir, name);
const oneErrorLine = (stderr: string): void => {
  const lines = stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^error: /);
  expect(stderr).not.toMatch(/\n\s+at /); // no stack trace
};

describe('bad input', () => {
  const lfs = out('lfs.pth');
  writeFileSync(lfs, 'version https://git-lfs.github.com/spec/v1\noid sha256:4d7a2146\nsize 102400\n');
  const html = out('page.pth');
  writeFileSync(html, '<!DOCTYPE html><html><head><title>Sign in</title></head><body></body></html>\n');
  const truncated = out('truncated.pth');
  writeFileSync(truncated, readFileSync(fixture('resnet_sd.pth')).subarray(0, 20_000));
  const truncatedLegacy = out('truncated_legacy.pth');
  writeFileSync(truncatedLegacy, readFileSync(fixture('resnet_legacy.pth')).subarray(0, 15_000));

  const cases: [string, string[], RegExp][] = [
    ['a git-lfs pointer', ['inspect', lfs], /^error: .*lfs\.pth: not a PyTorch checkpoint \(looks like a git-lfs pointer file; run `git lfs pull`/],
    ['an HTML page saved as .pth', ['inspect', html], /^error: .*page\.pth: not a PyTorch checkpoint \(looks like an HTML page/],
    ['a truncated zip checkpoint', ['strip-prefix', truncated, '-o', out('x.pth')], /^error: .*truncated\.pth: .*truncated/],
    ['a truncated legacy checkpoint', ['convert', truncatedLegacy, '-o', out('x.pth')], /^error: .*truncated_legacy\.pth: .*(truncated|end of file)/],
    ['a missing file', ['inspect', out('nope.pth')], /^error: .*nope\.pth: no such file/],
    ['a directory', ['inspect', dir], /^error: .*: is a folder without a shard index \(\*\.index\.json\); name the checkpoint file in it\n$/],
    ['a TorchScript archive', ['inspect', fixture('torchscript.pt')], /^error: .*torchscript\.pt: is a TorchScript archive/],
    ['an unknown output extension', ['convert', fixture('resnet_sd.pth'), '-o', out('x.weights')], /^error: .*x\.weights: cannot tell the output format/],
    ['a --key that does not exist', ['strip-prefix', fixture('training_ckpt.pth'), '--key', 'model', '-o', out('x.pth')], /^error: .*training_ckpt\.pth: no key 'model' under the top level \(keys there: epoch, model_state_dict/],
    ['a --key that is no state dict', ['strip-prefix', fixture('training_ckpt.pth'), '--key', 'epoch', '-o', out('x.pth')], /^error: .*training_ckpt\.pth: 'epoch' is a int, not a state dict/],
    ['an unknown flag', ['inspect', fixture('resnet_sd.pth'), '--colour'], /^error: Nonexistent flag: --colour/],
    ['a missing argument', ['strip-prefix'], /^error: Missing 1 required arg/],
  ];
  for (const [what, args, message] of cases) {
    it(`${what}: one error line, exit 2`, () => {
      const result = modsurg(args);
      expect(result.status).toBe(2);
      expect(result.stderr).toMatch(message);
      oneErrorLine(result.stderr);
    });
  }

  it('--debug adds the stack', () => {
    const result = modsurg(['inspect', lfs, '--debug']);
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/\n\s+at /);
  });

  it('leaves no output and no temporary file behind on error', () => {
    const target = join(dir, 'clean');
    mkdirSync(target);
    const result = modsurg(['convert', fixture('numpy_scalar.pth'), '-o', join(target, 'out.pth')]);
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/cannot write numpy\._core\.multiarray\.scalar at acc/);
    expect(readdirSync(target)).toEqual([]);
  });
});

describe('streams', () => {
  it('pipes: strip-prefix - -o - | add-prefix - -o - gives back the input', () => {
    const stripped = modsurg(['strip-prefix', '-', '-o', '-'], { input: readFileSync(fixture('resnet_dp.pth')) });
    expect(stripped.status).toBe(0);
    expect(stripped.stdoutBytes.subarray(0, 4).toString('latin1')).toBe('PK\x03\x04');
    expect(stripped.stderr).toMatch(/62 of 62 keys stripped/); // the report goes to stderr when stdout is data
    const added = modsurg(['add-prefix', '-', '-o', '-'], { input: stripped.stdoutBytes });
    writeFileSync(out('piped.pth'), added.stdoutBytes);
    const diff = modsurg(['diff', out('piped.pth'), fixture('resnet_dp.pth')]);
    expect(diff.stdout).toMatch(/equal: 62 keys compared/);
    expect(diff.status).toBe(0);
  });

  it('works in a real shell pipeline (stdin still being written)', () => {
    const bin = join(ROOT, 'bin/run.js');
    const result = spawnSync('bash', ['-c', `node ${bin} strip-prefix ${fixture('resnet_dp_model.pth')} -o - -q | node ${bin} inspect - --json`], { encoding: 'utf8' });
    expect(result.stderr).toBe('');
    expect(JSON.parse(result.stdout).tensors[0].name).toBe('conv1.weight');
  });

  it.skipIf(!ORACLE_PYTHON)(`stays quiet when the reader of stdout goes away (| head -c)${ORACLE_SKIP}`, () => {
    const big = out('big.pth');
    python('import sys, torch; torch.save({"w": torch.zeros(1 << 20)}, sys.argv[1])', [big]);
    const bin = join(ROOT, 'bin/run.js');
    const result = spawnSync('bash', ['-c', `node ${bin} convert ${big} -o - | head -c 100 > /dev/null; echo "\${PIPESTATUS[0]}"`], { encoding: 'utf8' });
    expect(result.stderr).toBe('');
    expect(result.stdout.trim()).toBe('2');
  });

  it('on stdout the output format is the input format', () => {
    const result = modsurg(['convert', '-', '-o', '-'], { input: readFileSync(fixture('resnet_sd.safetensors')) });
    expect(result.status).toBe(0);
    expect(result.stdoutBytes.readBigUInt64LE(0)).toBeGreaterThan(0n);
    expect(result.stdoutBytes[8]).toBe(0x7b); // '{' of the safetensors header
  });

  it('-q silences the report, --json prints one document', () => {
    const quiet = modsurg(['strip-prefix', fixture('resnet_dp.pth'), '-o', out('q.pth'), '-q']);
    expect(quiet.stdout + quiet.stderr).toBe('');
    const json = modsurg(['strip-prefix', fixture('resnet_dp.pth'), '-o', out('q.pth'), '--json']);
    expect(JSON.parse(json.stdout)).toMatchObject({ format: 'torch', stateDicts: [{ path: '', keys: 62, changed: 62 }] });
  });

  it('warns when no key has the prefix, and still writes', () => {
    const result = modsurg(['strip-prefix', fixture('resnet_sd.pth'), '-o', out('same.pth')]);
    expect(result.status).toBe(0);
    expect(result.stderr).toMatch(/warning: no key starts with 'module\.' \(the keys start with 'layer2\.' \(30\), 'layer1\.' \(24\), 'bn1\.' \(5\), …\); nothing changed/);
  });

  it('writes over its own input through a rename', () => {
    const file = out('inplace.pth');
    copyFileSync(fixture('resnet_dp.pth'), file);
    expect(modsurg(['strip-prefix', file, '-o', file]).status).toBe(0);
    expect(modsurg(['diff', file, fixture('resnet_sd.pth')]).status).toBe(0);
  });

  it('never modifies the input', () => {
    const before = readFileSync(fixture('resnet_dp.pth'));
    modsurg(['strip-prefix', fixture('resnet_dp.pth'), '-o', out('x2.pth')]);
    expect(readFileSync(fixture('resnet_dp.pth')).equals(before)).toBe(true);
  });
});

describe('commands', () => {
  it('diff: 0 when equal, 1 when different, with a prefix hint', () => {
    expect(modsurg(['diff', fixture('resnet_sd.pth'), fixture('resnet_legacy.pth')]).status).toBe(0);
    const different = modsurg(['diff', fixture('resnet_dp.pth'), fixture('resnet_sd.pth')]);
    expect(different.status).toBe(1);
    expect(different.stdout).toMatch(/hint: the keys differ only by the prefix 'module\.'/);
    const json = JSON.parse(modsurg(['diff', fixture('resnet_sd.pth'), fixture('resnet_fp16.pth'), '--json']).stdout);
    expect(json).toMatchObject({ command: 'diff', inputs: [fixture('resnet_sd.pth'), fixture('resnet_fp16.pth')], output: null, ok: false, warnings: [] });
    expect(json.differences[0]).toMatchObject({ kind: 'dtype', key: 'conv1.weight', a: 'float32', b: 'float16' });
  });

  it('diff --atol counts small value changes as equal', () => {
    modsurg(['convert', fixture('resnet_sd.pth'), '--dtype', 'float16', '-o', out('h.pth')]);
    modsurg(['convert', out('h.pth'), '--dtype', 'float32', '-o', out('h32.pth')]);
    const exact = modsurg(['diff', fixture('resnet_sd.pth'), out('h32.pth'), '--json']);
    expect(exact.status).toBe(1);
    const worst = Math.max(...JSON.parse(exact.stdout).differences.map((d: { maxAbsDiff: number }) => d.maxAbsDiff));
    expect(worst).toBeGreaterThan(0);
    expect(worst).toBeLessThan(1e-2);
    expect(modsurg(['diff', fixture('resnet_sd.pth'), out('h32.pth'), '--atol', '1e-2']).status).toBe(0);
  });

  it.skipIf(!ORACLE_PYTHON)(`diff across float dtypes compares the values, as torch measures them; --atol decides${ORACLE_SKIP}`, () => {
    const fp16 = fixture('resnet_fp16.pth');
    const measured = python(
      'import json, sys, torch; a = torch.load(sys.argv[1]); b = torch.load(sys.argv[2]); ' +
        'print(json.dumps({k: float((a[k].double() - b[k].double()).abs().max()) for k in a if a[k].is_floating_point()}))',
      [fixture('resnet_sd.pth'), fp16],
    );
    expect(measured.status, measured.stderr).toBe(0);
    const torchGap = JSON.parse(measured.stdout) as Record<string, number>;
    const plain = modsurg(['diff', fixture('resnet_sd.pth'), fp16, '--json']);
    expect(plain.status).toBe(1);
    const report = JSON.parse(plain.stdout) as { differences: { kind: string; key: string; values?: { maxAbsDiff: number } }[] };
    const casts = report.differences.filter((d) => d.kind === 'dtype');
    expect(casts).toHaveLength(Object.keys(torchGap).length);
    for (const d of casts) expect(d.values!.maxAbsDiff).toBeCloseTo(torchGap[d.key]!, 12);
    const worst = Math.max(...Object.values(torchGap));
    const within = modsurg(['diff', fixture('resnet_sd.pth'), fp16, '--atol', String(worst * 1.01)]);
    expect(within.status, within.stdout).toBe(0);
    expect(within.stdout).toMatch(/= fc\.weight  dtype float32 → float16, values within --atol \(max abs diff /);
    expect(modsurg(['diff', fixture('resnet_sd.pth'), fp16, '--atol', String(worst * 0.5)]).status).toBe(1);
  });

  it('diff --ignore-prefix compares keys without a wrapper prefix', () => {
    expect(modsurg(['diff', fixture('resnet_dp.pth'), fixture('resnet_sd.pth')]).status).toBe(1);
    const result = modsurg(['diff', fixture('resnet_dp.pth'), fixture('resnet_sd.pth'), '--ignore-prefix', 'module.']);
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/^equal: 62 keys compared$/m);
  });

  it('rename --dry-run prints old → new and writes nothing; a clash is an error', () => {
    const dry = modsurg(['rename', fixture('resnet_sd.pth'), '--map', '^layer(\\d)\\.=>stage$1.', '--dry-run']);
    expect(dry.status).toBe(0);
    expect(dry.stdout).toMatch(/layer1\.0\.conv1\.weight → stage1\.0\.conv1\.weight/);
    const clash = modsurg(['rename', fixture('resnet_sd.pth'), '--map', '^layer\\d\\.=>layer.', '-o', out('clash.pth')]);
    expect(clash.status).toBe(2);
    expect(clash.stderr).toMatch(/would both be renamed to/);
  });

  it('rename --map-file reads rules, one a line', () => {
    writeFileSync(out('rules.txt'), '# stage names\n^layer1\\.=>stage1.\n\n^layer2\\.=>stage2.\n');
    const result = modsurg(['rename', fixture('resnet_sd.pth'), '--map-file', out('rules.txt'), '-o', out('staged.pth'), '--json']);
    expect(JSON.parse(result.stdout).stateDicts[0].changed).toBe(54); // 24 keys in layer1, 30 in layer2
  });

  it('inspect shows the module tree, totals and prefixes; --json has format, tensors and totals', () => {
    const text = modsurg(['inspect', fixture('resnet_dp.pth')]);
    expect(text.stdout).toMatch(/62 tensors, 3,072 parameters/);
    expect(text.stdout).toMatch(/every key starts with 'module\.'/);
    expect(text.stdout).toMatch(/\(conv1\): Conv2d\(3, 4, kernel_size=\(3, 3\), bias=False\)/);
    expect(text.stdout).toMatch(/\(fc\): Linear\(in_features=8, out_features=10, bias=True\)/);
    const json = JSON.parse(modsurg(['inspect', fixture('resnet_sd.pth'), '--json']).stdout);
    expect(json.format).toBe('torch');
    expect(json.totals).toMatchObject({ tensors: 62, params: 3072 });
    expect(json.tensors[0]).toEqual({ name: 'conv1.weight', dtype: 'float32', shape: [4, 3, 3, 3], stateDict: '' });
  });

  it('inspect names the classes of a whole-model pickle and warns about its globals', () => {
    const result = modsurg(['inspect', fixture('resnet_model.pth'), '--depth', '2']);
    expect(result.stdout).toMatch(/^\s*TinyResNet\(/m);
    expect(result.stdout).toMatch(/\(0\): BasicBlock\(/);
    expect(result.stderr).toMatch(/warning: DANGER: loading this file runs code: models\.TinyResNet, models\.BasicBlock \(outside the allowlist of modsurg scan/);
    expect(result.stderr).toMatch(/warning: this file references 6 globals outside torch's weights_only allowlist \(torch\.nn\.modules\.conv\.Conv2d/);
  });

  it('inspect warns loudly about code-running globals and runs none', () => {
    const result = modsurg(['inspect', fixture('malicious.pth')]);
    expect(result.status).toBe(0);
    expect(result.stderr).toMatch(/DANGER: loading this file runs code: os\.system/);
    expect(result.stdout).not.toMatch(/pwned\n/);
  });

  it('inspect shows a training checkpoint\'s structure', () => {
    const result = modsurg(['inspect', fixture('training_ckpt.pth'), '--depth', '0']);
    expect(result.stdout).toMatch(/epoch: int 7/);
    expect(result.stdout).toMatch(/shape: torch\.Size\(\(2, 3\)\)/);
    expect(result.stdout).toMatch(/state dict 'model_state_dict': 62 tensors/);
  });

  it('every command has --help with an example; --version prints the version', () => {
    for (const command of ['inspect', 'strip-prefix', 'add-prefix', 'rename', 'convert', 'diff']) {
      const help = modsurg([command, '--help']);
      expect(help.status, command).toBe(0);
      expect(help.stdout, command).toMatch(/EXAMPLES/);
    }
    const version = modsurg(['--version']);
    expect(version.stdout).toMatch(/modsurg\/0\.\d+\.\d+/);
  });
});
