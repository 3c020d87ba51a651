import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixture, modsurg, scratchDir } from '../helpers/cli.js';

/** The manners of the CLI a new user meets first: help, typos, missing arguments, paths, prefixes. */
const dir = scratchDir();
const one = (stderr: string): string => {
  const lines = stderr.split('\n').filter((l) => l !== '');
  expect(lines, stderr).toHaveLength(1);
  return lines[0]!;
};

describe('help and typos', () => {
  it('modsurg help lists the commands; modsurg help inspect is inspect --help', () => {
    const help = modsurg(['help']);
    expect(help.status).toBe(0);
    for (const command of ['inspect', 'scan', 'strip-prefix', 'convert', 'replace-head', 'run']) expect(help.stdout).toContain(command);
    const inspect = modsurg(['help', 'inspect']);
    expect(inspect.status).toBe(0);
    expect(inspect.stdout).toBe(modsurg(['inspect', '--help']).stdout);
    expect(inspect.stdout).toMatch(/--repr/);
  });

  it('a typo gets one error line with the command it was probably meant to be, exit 2', () => {
    const typo = modsurg(['inpsect', fixture('resnet_sd.pth')]);
    expect(typo.status).toBe(2);
    expect(one(typo.stderr)).toBe("error: 'inpsect' is not a modsurg command; did you mean 'inspect'? (modsurg help lists them)");
    expect(one(modsurg(['frobnicate']).stderr)).toBe("error: 'frobnicate' is not a modsurg command (modsurg help lists them)");
  });

  it('a missing argument is named, with what it is, on one line', async () => {
    const run = modsurg(['inspect']);
    expect(run.status).toBe(2);
    expect(one(run.stderr)).toBe('error: Missing 1 required arg: input (input file, or - for stdin)');
    expect(one((modsurg(['diff', fixture('resnet_sd.pth')])).stderr)).toBe('error: Missing 1 required arg: b (second checkpoint)');
  });
});

describe('paths and kinds of file', () => {
  it('a missing folder, a folder as the output, a checkpoint given to run: said as such before any work', async () => {
    mkdirSync(join(dir, 'adir'), { recursive: true });
    const nodir = join(dir, 'nodir', 'x.pth');
    expect(one((modsurg(['strip-prefix', fixture('resnet_dp.pth'), '-o', nodir])).stderr)).toBe(`error: ${nodir}: folder ${join(dir, 'nodir')} does not exist`);
    for (const input of [fixture('resnet_dp.pth'), fixture('resnet.onnx')]) {
      const run = modsurg(['convert', input, '-o', join(dir, 'adir')]);
      expect(run.status).toBe(2);
      expect(one(run.stderr)).toBe(`error: ${join(dir, 'adir')}: is a directory; name the file to write in it`);
    }
    for (const args of [['run', fixture('resnet_dp.pth')], ['verify', fixture('resnet_dp.pth'), fixture('resnet.onnx')], ['add-output', fixture('resnet_dp.pth'), '-o', join(dir, 'x.onnx'), '--tensor', 'x']]) {
      const run = modsurg(args);
      expect(run.status, args[0]).toBe(2);
      expect(one(run.stderr), args[0]).toBe(`error: ${fixture('resnet_dp.pth')}: is a PyTorch checkpoint, not an ONNX model (torch.onnx.export makes one)`);
    }
    expect(existsSync(join(dir, 'x.onnx'))).toBe(false);
  });
});

describe('prefixes', () => {
  it("--prefix module (no dot) warns and suggests module.; add-prefix net too", async () => {
    const strip = modsurg(['strip-prefix', fixture('resnet_dp.pth'), '--prefix', 'module', '-o', join(dir, 'a.pth')]);
    expect(strip.status).toBe(0);
    expect(one(strip.stderr)).toBe("warning: --prefix 'module' has no trailing dot, so keys become '.conv1.weight'; did you mean --prefix 'module.'?");
    const add = modsurg(['add-prefix', fixture('resnet_sd.pth'), '--prefix', 'net', '-o', join(dir, 'b.pth')]);
    expect(one(add.stderr)).toBe("warning: --prefix 'net' has no trailing dot, so keys become 'netconv1.weight'; did you mean --prefix 'net.'?");
    expect((modsurg(['strip-prefix', fixture('resnet_dp.pth'), '-o', join(dir, 'c.pth')])).stderr).toBe('');
  });
});

describe('reports', () => {
  it('success is reported only once the output is in place: a write that fails reports none', async () => {
    const { readZip } = await import('../fuzz/mutate.js');
    const seed = readFileSync(fixture('resnet_dp.pth'));
    const storage = readZip(seed).find((m) => /\/data\/\d+$/.test(m.name) && m.data.length > 0)!;
    const corrupt = Buffer.from(seed);
    // a flipped byte in a stored tensor: found by its CRC-32 only while it is copied, long after the keys were renamed
    corrupt[storage.data.byteOffset - seed.byteOffset] ^= 0xff;
    const path = join(dir, 'corrupt.pth');
    writeFileSync(path, corrupt);
    // (to safetensors, whose writer reads every tensor: a torch zip output would copy it verbatim, CRC and all)
    for (const args of [['strip-prefix', path, '-o', join(dir, 'never.safetensors')], ['convert', path, '-o', join(dir, 'never.safetensors')]]) {
      const run = modsurg(args);
      expect(run.status, args[0]).toBe(2);
      expect(run.stdout, args[0]).toBe('');
      expect(one(run.stderr)).toMatch(/corrupt\.pth: zip member \S+ is corrupt \(CRC-32 mismatch\)$/);
    }
    expect(existsSync(join(dir, 'never.safetensors'))).toBe(false);
  });

  it('-q silences the notes (ran on: cpu …) and the report; warnings stay', async () => {
    const loud = modsurg(['run', fixture('resnet.onnx'), '--ep', 'cpu']);
    expect(loud.stderr).toMatch(/^ran on: cpu/m);
    const quiet = modsurg(['run', fixture('resnet.onnx'), '--ep', 'cpu', '-q']);
    expect([quiet.status, quiet.stdout, quiet.stderr]).toEqual([0, '', '']);
    const warned = modsurg(['strip-prefix', fixture('resnet_sd.pth'), '-o', join(dir, 'q.pth'), '-q']);
    expect(warned.stdout).toBe('');
    expect(one(warned.stderr)).toMatch(/^warning: no key starts with 'module\.'/);
  });
});

describe('words', () => {
  it("help speaks to users: no 'seed tutorial', and load-weights says how to export a model it can fill", () => {
    const commands = [...modsurg(['help']).stdout.matchAll(/^ {2}([a-z][a-z-]+) {2,}/gm)].map((m) => m[1]!).filter((c) => c !== 'help');
    expect(commands.length).toBeGreaterThanOrEqual(16);
    for (const command of commands) {
      const help = modsurg([command, '--help']).stdout;
      expect(help, command).not.toMatch(/seed tutorial|the seed's|The seed's/i);
    }
    const loadWeights = modsurg(['load-weights', '--help']).stdout.replace(/\s+/g, ' ');
    expect(loadWeights).toContain('dynamo=False, do_constant_folding=False');
    expect(loadWeights).not.toMatch(/the dynamo exporter stores/);
  });

  it("an ONNX model's tree has no stray first lines: a module's own ops get a line of their own", async () => {
    const classic = (modsurg(['inspect', fixture('resnet.onnx')])).stdout;
    expect(classic).toContain('  Model(\n    (own ops): Flatten\n    (conv1): Conv');
    const dynamo = (modsurg(['inspect', fixture('resnet_dynamo.onnx')])).stdout;
    expect(dynamo).toMatch(/ {2}TinyResNet\(\n {4}\(own ops\): Reshape {2}int64: \S+\[2\]\n/);
    for (const text of [classic, dynamo]) expect(text).not.toMatch(/\w\( {2}\S/);
  });
});
