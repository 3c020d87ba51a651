import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixture, modsurg, ROOT, scratchDir, succeeds } from '../helpers/cli.js';
import { agreesWithTorch, ORACLE_PYTHON, ORACLE_SKIP } from '../helpers/oracle.js';

/**
 * torch 2.x's default export keeps its weights in model.onnx.data. Every ONNX edit must write a model that
 * loads wherever it is written: its own data file beside it in another folder, inline on stdout, the
 * input's data file where it stays valid (the input's folder). Judged by onnxruntime loading the written
 * model by its path, and onnx.checker.
 */
const dir = scratchDir();
const at = (...parts: string[]): string => join(dir, ...parts);
const rw = (name: string): string => fixture(`realworld/${name}`);
const sha = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');

// a copy of the dynamo export with its data file, so that "the input's own folder" is one the test owns
const source = at('in');
mkdirSync(source);
for (const name of ['tutorial_net_dynamo.onnx', 'tutorial_net_dynamo.onnx.data']) copyFileSync(rw(name), join(source, name));
const model = join(source, 'tutorial_net_dynamo.onnx');
const before = { model: sha(model), data: sha(`${model}.data`) };

const run = succeeds;

function loads(file: string, expected: Record<string, string>, inputs: Record<string, string> = { input: rw('tutorial_input.npy') }): string[] {
  return agreesWithTorch(file, inputs, expected).external_data as string[];
}

const edits: { name: string; args: (output: string) => string[]; expected: Record<string, string>; inputs?: Record<string, string> }[] = [
  { name: 'add-output', args: (o) => ['add-output', model, '--module', 'layer2', '-o', o], expected: { logits: rw('tutorial_logits.npy') } },
  {
    name: 'add-output --head',
    args: (o) => ['add-output', model, '--tensor', 'logits', '--head', 'relu=ReLU(),fc1=Linear(1000,10),output=Softmax(dim=1)', '--weights', rw('tutorial_fc1.pth'), '--as', 'x10', '-o', o],
    expected: { logits: rw('tutorial_logits.npy'), x10: rw('tutorial_x10.npy') },
  },
  { name: 'replace-head', args: (o) => ['replace-head', model, '--classes', '4', '--seed', '1', '-o', o], expected: {} },
  {
    name: 'add-input',
    args: (o) => ['add-input', model, '--name', 'add_variable', '--at', 'logits', '--pre', 'ReLU()', '--head', 'fc_add=Linear(1001,10),output=Softmax(dim=1)', '--weights', rw('tutorial_fc_add.pth'), '-o', o],
    expected: { logits: rw('tutorial_extra_input_output.npy') },
    inputs: { input: rw('tutorial_input.npy'), add_variable: rw('tutorial_add_variable.npy') },
  },
];

describe.skipIf(!ORACLE_PYTHON)(`every ONNX edit writes a model that loads where it is written${ORACLE_SKIP}`, () => {
  for (const edit of edits) {
    it(`${edit.name}: another folder gets OUT.onnx.data; the input's folder keeps the input's data file; --inline gets none`, () => {
      const slug = edit.name.replace(/\W+/g, '_');
      mkdirSync(at(slug));
      const elsewhere = at(slug, 'out.onnx');
      run(edit.args(elsewhere));
      expect(readdirSync(at(slug)).sort()).toEqual(['out.onnx', 'out.onnx.data']);
      expect(loads(elsewhere, edit.expected, edit.inputs)).toEqual(['out.onnx.data']);

      const beside = join(source, `${slug}.onnx`);
      const result = run(edit.args(beside));
      expect(result.stdout).toMatch(/the model still reads the input's data file/);
      expect(existsSync(`${beside}.data`)).toBe(false);
      expect(loads(beside, edit.expected, edit.inputs)).toEqual(['tutorial_net_dynamo.onnx.data']);

      const inline = at(slug, 'inline.onnx');
      run([...edit.args(inline), '--inline']);
      expect(existsSync(`${inline}.data`)).toBe(false);
      expect(loads(inline, edit.expected, edit.inputs)).toEqual([]);
      expect({ model: sha(model), data: sha(`${model}.data`) }).toEqual(before);
    });
  }

  it('-o - carries the external data inline, so `| modsurg run -` works', () => {
    const bin = join(ROOT, 'bin/run.js');
    const result = spawnSync(
      'bash',
      ['-c', `node ${bin} add-output ${model} --module layer2 -o - -q | node ${bin} run - -i input=${rw('tutorial_input.npy')} --compare logits=${rw('tutorial_logits.npy')} --atol 1e-4 -q; echo "\${PIPESTATUS[*]}"`],
      { encoding: 'utf8' },
    );
    expect(result.stderr).toBe('');
    expect(result.stdout.trim()).toBe('0 0');
    const piped = run(['replace-head', model, '--classes', '3', '--seed', '2', '-o', '-', '-q']);
    const file = at('piped.onnx');
    run(['convert', '-', '-o', file], piped.stdoutBytes);
    expect(loads(file, {})).toEqual([]);
  });

  it('load-weights: new values for external initializers go into a data file beside the output, also in place', () => {
    mkdirSync(at('lw'));
    const unfolded = at('lw', 'unfolded.onnx');
    run(['convert', fixture('resnet_unfolded.onnx'), '--external-data', '--size-threshold', '0', '-o', unfolded]);
    const resnetInput = { input: fixture('resnet_input.npy') };
    mkdirSync(at('lw', 'out'));
    const loaded = at('lw', 'out', 'finetuned.onnx');
    run(['load-weights', unfolded, '--weights', fixture('resnet_finetuned_sd.pth'), '-o', loaded]);
    expect(loads(loaded, { output: fixture('resnet_finetuned_output.npy') }, resnetInput)).toEqual(['finetuned.onnx.data']);
    // in place: the data file is rewritten while the old one is still being read
    run(['load-weights', unfolded, '--weights', fixture('resnet_finetuned_sd.pth'), '-o', unfolded]);
    expect(loads(unfolded, { output: fixture('resnet_finetuned_output.npy') }, resnetInput)).toEqual(['unfolded.onnx.data']);
    expect(readdirSync(at('lw')).sort()).toEqual(['out', 'unfolded.onnx', 'unfolded.onnx.data']);
  });
});

describe('where an ONNX edit cannot write', () => {
  const fails = (args: string[], message: RegExp, input?: Buffer): void => {
    const result = modsurg(args, input === undefined ? {} : { input });
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
  };
  it('a missing folder, a folder as the output, a model from stdin whose data cannot be found', () => {
    fails(['add-output', model, '--module', 'layer2', '-o', at('nodir', 'x.onnx')], new RegExp(`^error: ${at('nodir', 'x.onnx')}: folder ${at('nodir')} does not exist$`, 'm'));
    fails(['add-output', model, '--module', 'layer2', '-o', dir], /: is a directory; name the file to write in it/);
    fails(['add-output', '-', '--module', 'layer2', '-o', at('x.onnx')], /keeps its data in 'tutorial_net_dynamo.onnx.data', which cannot be found for a model read from stdin/, readFileSync(model));
    expect(existsSync(at('x.onnx'))).toBe(false);
  });
});
