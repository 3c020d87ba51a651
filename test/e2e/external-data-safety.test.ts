import { copyFileSync, existsSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { fixture, modsurg, scratchDir, succeeds } from '../helpers/cli.js';
import { ORACLE_PYTHON, ORACLE_SKIP, python } from '../helpers/oracle.js';

/**
 * External data from strangers: a model's data location must name a regular file inside the model's
 * folder once links are resolved, or nothing reads it — not an edit, not convert, not onnxruntime under
 * `run`. A link to a secret, a FIFO (which would hang a read), absolute paths, `..`, backslashes and
 * devices are refused in one error line, before a byte is read.
 */
const dir = scratchDir();
const MODEL = 'hub_timm_vit_dynamo.onnx';
const DATA = `${MODEL}.data`;

/** A folder holding the fixture model, its data file made by `makeData(path)`. */
function modelWith(name: string, makeData: (path: string) => void): string {
  const folder = join(dir, name);
  mkdirSync(folder);
  copyFileSync(fixture(`realworld/${MODEL}`), join(folder, MODEL));
  makeData(join(folder, DATA));
  return join(folder, MODEL);
}

const secret = join(dir, 'secret.bin');
writeFileSync(secret, Buffer.alloc(64 << 10, 0x41));

const refuses = (args: string[], message: RegExp): void => {
  const run = modsurg(args);
  expect(run.status, run.stderr).toBe(2);
  expect(run.stderr).toMatch(message);
  expect(run.stderr.trim().split('\n')).toHaveLength(1);
};

describe('external data outside the model folder is never read', () => {
  it('a data file that is a link out of the folder: refused by convert, every edit and run', () => {
    const model = modelWith('link-out', (path) => symlinkSync(secret, path));
    const out = join(dir, 'out-link');
    mkdirSync(out);
    const outside = /external data file .*hub_timm_vit_dynamo\.onnx\.data is a link to .*secret\.bin, outside the model's folder; refusing to read it/;
    refuses(['convert', model, '--inline', '-o', join(out, 'a.onnx')], outside);
    refuses(['convert', model, '-o', join(out, 'w.safetensors')], outside);
    refuses(['add-output', model, '--module', 'blocks.0', '-o', join(out, 'b.onnx')], outside);
    refuses(['run', model], outside);
    expect(readdirSync(out)).toEqual([]);
  });

  it('a link that stays inside the folder is followed', () => {
    const model = modelWith('link-in', (path) => {
      copyFileSync(fixture(`realworld/${DATA}`), `${path}.real`);
      symlinkSync(`${DATA}.real`, path);
    });
    succeeds(['convert', model, '--inline', '-o', join(dir, 'inlined.onnx'), '-q']);
  });

  it('a FIFO as the data file is refused at once, not read (which would hang)', () => {
    const model = modelWith('fifo', (path) => execFileSync('mkfifo', [path]));
    const started = Date.now();
    refuses(['convert', model, '--inline', '-o', join(dir, 'fifo.onnx')], /hub_timm_vit_dynamo\.onnx\.data is not a regular file; refusing to read it/);
    expect(Date.now() - started).toBeLessThan(20_000);
  });
});

describe.skipIf(!ORACLE_PYTHON)(`locations that name no file in the folder${ORACLE_SKIP}`, () => {
  const withLocation = (name: string, location: string): string => {
    const model = modelWith(name, (path) => copyFileSync(fixture(`realworld/${DATA}`), path));
    const edited = python(
      `import sys, onnx
m = onnx.load(sys.argv[1], load_external_data=False)
for t in m.graph.initializer:
    for e in t.external_data:
        if e.key == "location":
            e.value = sys.argv[2]
onnx.save(m, sys.argv[1])`,
      [model, location],
    );
    expect(edited.status, edited.stderr).toBe(0);
    return model;
  };

  it.each([
    ['absolute', '/etc/passwd', /external data location '\/etc\/passwd' is absolute/],
    ['a device', '/dev/zero', /external data location '\/dev\/zero' is absolute/],
    ['dot-dot', '../secret.bin', /external data location '\.\.\/secret\.bin' escapes the model's folder/],
    ['backslashes', '..\\secret.bin', /holds a backslash or a NUL; ONNX locations are relative POSIX paths/],
  ])('%s: refused by inspect, convert and run', (name, location, message) => {
    const model = withLocation(name, location);
    refuses(['inspect', model], message);
    refuses(['convert', model, '--inline', '-o', join(dir, `${name}.onnx`)], message);
    refuses(['run', model], message);
    expect(existsSync(join(dir, `${name}.onnx`))).toBe(false);
  });
});
