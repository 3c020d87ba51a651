import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixture, modsurg, scratchDir } from '../helpers/cli.js';
import { runInProcess } from '../helpers/in-process.js';

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
    const run = await runInProcess(['inspect']);
    expect(run.status).toBe(2);
    expect(one(run.stderr)).toBe('error: Missing 1 required arg: input (input file, or - for stdin)');
    expect(one((await runInProcess(['diff', fixture('resnet_sd.pth')])).stderr)).toBe('error: Missing 1 required arg: b (second checkpoint)');
  });
});

describe('paths and kinds of file', () => {
  it('a missing folder, a folder as the output, a checkpoint given to run: said as such before any work', async () => {
    mkdirSync(join(dir, 'adir'), { recursive: true });
    const nodir = join(dir, 'nodir', 'x.pth');
    expect(one((await runInProcess(['strip-prefix', fixture('resnet_dp.pth'), '-o', nodir])).stderr)).toBe(`error: ${nodir}: folder ${join(dir, 'nodir')} does not exist`);
    for (const input of [fixture('resnet_dp.pth'), fixture('resnet.onnx')]) {
      const run = await runInProcess(['convert', input, '-o', join(dir, 'adir')]);
      expect(run.status).toBe(2);
      expect(one(run.stderr)).toBe(`error: ${join(dir, 'adir')}: is a directory; name the file to write in it`);
    }
    for (const args of [['run', fixture('resnet_dp.pth')], ['verify', fixture('resnet_dp.pth'), fixture('resnet.onnx')], ['add-output', fixture('resnet_dp.pth'), '-o', join(dir, 'x.onnx'), '--tensor', 'x']]) {
      const run = await runInProcess(args);
      expect(run.status, args[0]).toBe(2);
      expect(one(run.stderr), args[0]).toBe(`error: ${fixture('resnet_dp.pth')}: is a PyTorch checkpoint, not an ONNX model (torch.onnx.export makes one)`);
    }
    expect(existsSync(join(dir, 'x.onnx'))).toBe(false);
  });
});

describe('prefixes', () => {
  it("--prefix module (no dot) warns and suggests module.; add-prefix net too", async () => {
    const strip = await runInProcess(['strip-prefix', fixture('resnet_dp.pth'), '--prefix', 'module', '-o', join(dir, 'a.pth')]);
    expect(strip.status).toBe(0);
    expect(one(strip.stderr)).toBe("warning: --prefix 'module' has no trailing dot, so keys become '.conv1.weight'; did you mean --prefix 'module.'?");
    const add = await runInProcess(['add-prefix', fixture('resnet_sd.pth'), '--prefix', 'net', '-o', join(dir, 'b.pth')]);
    expect(one(add.stderr)).toBe("warning: --prefix 'net' has no trailing dot, so keys become 'netconv1.weight'; did you mean --prefix 'net.'?");
    expect((await runInProcess(['strip-prefix', fixture('resnet_dp.pth'), '-o', join(dir, 'c.pth')])).stderr).toBe('');
  });
});
