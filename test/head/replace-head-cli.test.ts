import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openInput } from '../../src/io/files.js';
import { readCheckpoint } from '../../src/checkpoint/files.js';
import { metadataOf, stateDictTensors } from '../../src/checkpoint/state-dict.js';
import { keyText, type PyDict } from '../../src/checkpoint/pickle/value.js';
import { fixture, modsurg, scratchDir } from '../helpers/cli.js';

/** replace-head as a user runs it: reports, errors, exit codes (no Python needed). */
const dir = scratchDir();
const out = (name: string): string => join(dir, name);
const SPEC = 'fc1=Linear(8,6),relu1=ReLU(),dropout1=Dropout(0.5),fc2=Linear(6,3),output=Softmax(dim=1)';

/** In process (the CLI's own entry point, as bin/run.js calls it): a dozen refusals need no dozen Node start-ups. */
async function fails(args: string[], line: string | RegExp, output = out('never.pth')): Promise<void> {
  const result = modsurg(['replace-head', ...args, '-o', output]);
  expect(result.status).toBe(2);
  const lines = result.stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  if (typeof line === 'string') expect(lines[0]).toBe(line);
  else expect(lines[0]).toMatch(line);
  expect(existsSync(output)).toBe(false);
}

function stateDictOf(file: string): PyDict {
  const source = openInput(file);
  try {
    return readCheckpoint(source).root as PyDict;
  } finally {
    source.close();
  }
}

describe('modsurg replace-head', () => {
  it('reports the module replaced, the keys removed and added, and the head as torch prints it', () => {
    const result = modsurg(['replace-head', fixture('resnet_sd.pth'), '--at', 'fc', '--head', SPEC, '--weights', fixture('head_weights.safetensors'), '-o', out('head.pth')]);
    expect(result.status).toBe(0);
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe(
      [
        'state dict: replaced fc',
        '  was: Linear(in_features=8, out_features=10, bias=True)',
        '  now: Sequential(',
        '         (fc1): Linear(in_features=8, out_features=6, bias=True)',
        '         (relu1): ReLU()',
        '         (dropout1): Dropout(p=0.5, inplace=False)',
        '         (fc2): Linear(in_features=6, out_features=3, bias=True)',
        '         (output): Softmax(dim=1)',
        '       )',
        '  removed 2 keys: fc.weight, fc.bias',
        '  added 4 keys: fc.fc1.weight [6, 8] float32, fc.fc1.bias [6] float32, fc.fc2.weight [3, 6] float32, fc.fc2.bias [3] float32',
        `new parameters from ${fixture('head_weights.safetensors')}`,
        '',
      ].join('\n'),
    );
    const dict = stateDictOf(out('head.pth'));
    expect(dict.entries.slice(-4).map(([k]) => keyText(k))).toEqual(['fc.fc1.weight', 'fc.fc1.bias', 'fc.fc2.weight', 'fc.fc2.bias']);
    expect(metadataOf(dict)!.entries.slice(-6).map(([k]) => keyText(k))).toEqual(['fc', 'fc.fc1', 'fc.relu1', 'fc.dropout1', 'fc.fc2', 'fc.output']);
  });

  it('says which module it chose and which seed it used, and repeats a run with that seed', () => {
    const first = modsurg(['replace-head', fixture('resnet_sd.pth'), '--classes', '4', '-o', out('random.pth')]);
    expect(first.status).toBe(0);
    expect(first.stdout).toContain('state dict: replaced fc (the classifier, by its name; pick another with --at)');
    const seed = /seed (\d+) \(repeat with --seed \1\)/.exec(first.stdout)?.[1];
    expect(seed).toBeDefined();
    expect(modsurg(['replace-head', fixture('resnet_sd.pth'), '--classes', '4', '--seed', seed!, '-o', out('repeat.pth')]).status).toBe(0);
    expect(readFileSync(out('repeat.pth')).equals(readFileSync(out('random.pth')))).toBe(true);
  });

  it('--json reports what changed; -q says nothing; -o - writes the file to stdout and the report to stderr', () => {
    const json = modsurg(['replace-head', fixture('resnet_dp.pth'), '--head', 'Linear(?,4),ReLU', '--seed', '9', '--json', '-o', out('dp.pth')]);
    expect(json.status).toBe(0);
    const report = JSON.parse(json.stdout) as Record<string, unknown>;
    expect(report).toMatchObject({
      format: 'torch',
      spec: 'Linear(?, 4),ReLU()',
      classes: null,
      init: { seed: 9 },
      stateDicts: [
        {
          path: '',
          at: 'module.fc',
          chosen: 'known-name',
          replaced: 'Linear(in_features=8, out_features=10, bias=True)',
          inFeatures: 8,
          outFeatures: 4,
          head: 'Sequential(\n  (0): Linear(in_features=8, out_features=4, bias=True)\n  (1): ReLU()\n)',
          removed: ['module.fc.weight', 'module.fc.bias'],
          added: [
            { key: 'module.fc.0.weight', dtype: 'float32', shape: [4, 8] },
            { key: 'module.fc.0.bias', dtype: 'float32', shape: [4] },
          ],
        },
      ],
    });
    const quiet = modsurg(['replace-head', fixture('resnet_sd.pth'), '--classes', '2', '-q', '-o', out('quiet.pth')]);
    expect([quiet.status, quiet.stdout, quiet.stderr]).toEqual([0, '', '']);
    const piped = modsurg(['replace-head', fixture('resnet_sd.pth'), '--classes', '2', '--seed', '1', '-o', '-']);
    expect(piped.status).toBe(0);
    expect(piped.stdoutBytes.subarray(0, 4).toString('latin1')).toBe('PK\x03\x04');
    expect(piped.stderr).toContain('replaced fc');
  });

  it('writes safetensors when asked, and keeps the other state dicts and entries of a training checkpoint', () => {
    expect(modsurg(['replace-head', fixture('resnet_sd.pth'), '--classes', '5', '--weights', fixture('classes5_weights.safetensors'), '-o', out('c5.safetensors')]).status).toBe(0);
    const tensors = new Map(stateDictTensors(stateDictOf(out('c5.safetensors'))));
    expect(tensors.get('fc.weight')!.shape).toEqual([5, 8]);
    const train = modsurg(['replace-head', fixture('training_ckpt.pth'), '--key', 'model_state_dict', '--classes', '5', '--seed', '1', '-o', out('train.pth')]);
    expect(train.status).toBe(0);
    expect(train.stdout).toContain('model_state_dict: replaced fc');
    expect(train.stderr).toBe("warning: optimizer_state_dict: the optimizer state still describes the old head's parameters; start a new optimizer for the new head\n");
  });

  it('gives one error line and writes nothing when something is wrong', async () => {
    await fails([fixture('resnet_sd.pth'), '--head', 'fc1=Linear(2048,12'], "error: --head: expected ')' at character 19: fc1=Linear(2048,12 ⟨here⟩");
    await fails([fixture('resnet_sd.pth'), '--head', 'fc1=Linear(2048,128)'], `error: ${fixture('resnet_sd.pth')}: fc1: Linear expects 2048 input features, the model gives 8 (fc.weight is [10, 8])`);
    await fails([fixture('resnet_sd.pth'), '--head', 'Conv2d(3)'], /^error: --head: unknown layer 'Conv2d' \(known: Linear, .*\) at character 1: ⟨here⟩ Conv2d\(3\)$/);
    await fails([fixture('resnet_sd.pth')], 'error: say what the new head is with one of --head SPEC and --classes N');
    await fails([fixture('resnet_sd.pth'), '--head', 'ReLU', '--classes', '2'], 'error: say what the new head is with one of --head SPEC and --classes N');
    await fails([fixture('resnet_sd.pth'), '--classes', '0'], 'error: --classes must be a positive integer, not 0');
    await fails([fixture('resnet_sd.pth'), '--classes', '2', '--seed', '-3'], 'error: --seed must be a non-negative integer, not -3');
    await fails([fixture('resnet_sd.pth'), '--classes', '5', '--seed', '1', '--weights', fixture('classes5_weights.safetensors')], 'error: --seed is for the default initialisation; with --weights the values come from the file');
    await fails([fixture('resnet_sd.pth'), '--classes', '2', '--at', 'head'], `error: ${fixture('resnet_sd.pth')}: --at head: no keys under 'head.' (Linear-looking modules here: fc)`);
    await fails([fixture('resnet_dp.pth'), '--classes', '2', '--at', 'fc'], `error: ${fixture('resnet_dp.pth')}: --at fc: no keys under 'fc.' (did you mean --at module.fc?)`);
    await fails(
      [fixture('resnet_sd.pth'), '--head', SPEC, '--weights', fixture('classes5_weights.safetensors')],
      `error: ${fixture('classes5_weights.safetensors')}: does not fit the head: missing fc1.weight, fc1.bias, fc2.weight, fc2.bias; not in the head: bias, weight (the head has fc1.weight, fc1.bias, fc2.weight, fc2.bias)`,
    );
    await fails([fixture('resnet_sd.pth'), '--classes', '4', '--weights', fixture('classes5_weights.safetensors')], `error: ${fixture('classes5_weights.safetensors')}: weight is [5, 8], the head needs [4, 8]`);
    await fails([fixture('resnet.onnx'), '--classes', '3', '--at', 'head'], `error: ${fixture('resnet.onnx')}: no nodes of module 'head' in the graph (top-level modules: conv1, relu, layer1, layer2, avgpool, fc)`);
    await fails([fixture('resnet_sd.pth'), '--classes', '3'], `error: ${out('x.onnx')}: cannot write a checkpoint as ONNX; export the model with torch.onnx.export`, out('x.onnx'));
  });
});
