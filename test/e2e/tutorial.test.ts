import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixture, modsurg, scratchDir, succeeds } from '../helpers/cli.js';
import { agreesWithTorch, expectOk, ORACLE_PYTHON, ORACLE_SKIP, oracle } from '../helpers/oracle.js';

/**
 * The tutorial's modifications exactly as it writes them: the whole network wrapped as `Model(net)`, an
 * extra input or an extra output computed after `x = self.net(x)` (the 1000 logits, the graph output
 * itself), on both exporters' ONNX and on the checkpoint. Judged by real torch (fixtures/realworld.py made
 * the references by doing the edit in PyTorch), onnx.checker and onnxruntime.
 */
const dir = scratchDir();
const out = (name: string): string => join(dir, name);
const rw = (name: string): string => fixture(`realworld/${name}`);

const run = (args: string[]): string => succeeds(args).stdout;
const ok = expectOk;
const agrees = agreesWithTorch;

const input = { input: rw('tutorial_input.npy') };
const EXTRA_HEAD = ['--pre', 'relu=ReLU(),dropout=Dropout(0.5)', '--head', 'fc_add=Linear(1001,10),output=Softmax(dim=1)', '--weights', rw('tutorial_fc_add.pth')];
const X10_HEAD = ['--head', 'relu=ReLU(),dropout=Dropout(0.5),fc1=Linear(1000,10),output=Softmax(dim=1)', '--weights', rw('tutorial_fc1.pth')];

describe.skipIf(!ORACLE_PYTHON)(`the tutorial's surgeries, as it writes them${ORACLE_SKIP}`, () => {
  for (const model of ['tutorial_net.onnx', 'tutorial_net_dynamo.onnx']) {
    it(`add-input after the whole network (${model}): softmax(fc_add(cat(relu(net(x)), add_variable.unsqueeze(1)), 1))`, () => {
      for (const at of ['logits', 'fc']) {
        const file = out(`${model}_extra_${at}.onnx`);
        run(['add-input', rw(model), '--name', 'add_variable', '--shape', 'batch', '--at', at, ...EXTRA_HEAD, '-o', file]);
        const verdict = agrees(file, { ...input, add_variable: rw('tutorial_add_variable.npy') }, { logits: rw('tutorial_extra_input_output.npy') });
        expect(verdict.output_names).toEqual(['logits']);
        expect((verdict.inputs as { name: string }[]).map((i) => i.name)).toEqual(['input', 'add_variable']);
      }
      const kept = out(`${model}_extra_kept.onnx`);
      run(['add-input', rw(model), '--name', 'add_variable', '--at', 'logits', ...EXTRA_HEAD, '--keep-outputs', '-o', kept]);
      const verdict = agrees(kept, { ...input, add_variable: rw('tutorial_add_variable.npy') }, { logits: rw('tutorial_extra_input_output.npy'), logits_original: rw('tutorial_logits.npy') });
      expect(verdict.output_names).toEqual(['logits', 'logits_original']);
    });

    it(`add-output --head: the tutorial's (x10, x1000) (${model})`, () => {
      const file = out(`${model}_x10.onnx`);
      run(['add-output', rw(model), '--tensor', 'logits', ...X10_HEAD, '--as', 'x10', '-o', file]);
      const verdict = agrees(file, input, { logits: rw('tutorial_logits.npy'), x10: rw('tutorial_x10.npy') });
      expect(verdict.output_names).toEqual(['logits', 'x10']);
      const aux = out(`${model}_aux.onnx`);
      run(['add-output', rw(model), '--module', 'layer2', '--head', 'flat=Flatten(),fc=Linear(?,3)', '--weights', rw('tutorial_aux.pth'), '--as', 'aux', '-o', aux]);
      agrees(aux, input, { logits: rw('tutorial_logits.npy'), aux: rw('tutorial_aux_output.npy') });
    });
  }

  it('the same two models as checkpoints: add-prefix net. | add-module, loading strictly into Model(net)', () => {
    const cases = [
      { at: 'fc_add', layer: 'Linear(1001,10)', weights: 'tutorial_fc_add.pth', reference: 'tutorial_extra_input_sd.pth', model: 'TutorialExtraInput(TinyResNet)' },
      { at: 'fc1', layer: 'Linear(1000,10)', weights: 'tutorial_fc1.pth', reference: 'tutorial_two_outputs_sd.pth', model: 'TutorialTwoOutputs(TinyResNet)' },
    ];
    for (const c of cases) {
      const prefixed = modsurg(['add-prefix', rw('tutorial_net.pth'), '--prefix', 'net.', '-o', '-', '-q']);
      expect(prefixed.status).toBe(0);
      const result = modsurg(['add-module', '-', '--at', c.at, '--layer', c.layer, '--weights', rw(c.weights), '-o', out(`${c.at}.pth`)], { input: prefixed.stdoutBytes });
      expect(result.stderr).toBe('');
      expect(result.status).toBe(0);
      expect(result.stdout).toContain(`added 2 keys: ${c.at}.weight`);
      // bit for bit: the ResNet's values under net., the new layer's from --weights, _metadata as torch's
      // (less the parameter-free ReLU / Dropout / Softmax, which leave nothing in a state dict)
      ok(oracle('compare_ckpt.py', [out(`${c.at}.pth`), rw(c.reference), '--metadata-subset']));
      ok(oracle('load_strict.py', [out(`${c.at}.pth`), c.model, '--num-classes', '1000']));
    }
  });

  it('add-module --head adds an nn.Sequential; without --weights, PyTorch default initialisation (seeded)', () => {
    const spec = 'fc1=Linear(1001,16),relu=ReLU(),fc2=Linear(16,10)';
    run(['add-prefix', rw('tutorial_net.pth'), '--prefix', 'net.', '-o', out('net.pth')]);
    const stdout = run(['add-module', out('net.pth'), '--at', 'fc_add', '--head', spec, '--seed', '5', '-o', out('seq.pth')]);
    expect(stdout).toContain('fc_add.fc1.weight [16, 1001] float32, fc_add.fc1.bias [16] float32, fc_add.fc2.weight [10, 16] float32, fc_add.fc2.bias [10] float32');
    expect(stdout).toContain('seed 5');
    ok(oracle('load_head.py', [out('seq.pth'), 'TutorialExtraInput(TinyResNet)', '--num-classes', '1000', '--at', 'fc_add', '--head', spec, '--no-layout']));
    ok(oracle('compare_ckpt.py', [out('seq.pth'), out('net.pth'), '--out-key', 'net.conv1.weight', '--ref-key', 'net.conv1.weight']));
  });
});

describe('add-module errors', () => {
  const fails = (args: string[], message: RegExp): void => {
    const result = modsurg(args);
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
  };
  it('a name in use is replace-head\'s job; counts must be given; ONNX is not a checkpoint', () => {
    fails(['add-module', fixture('resnet_sd.pth'), '--at', 'fc', '--layer', 'Linear(8,3)', '-o', out('x.pth')], /'fc' already exists \(fc.weight, fc.bias\); to put a new module in its place, use modsurg replace-head --at fc/);
    fails(['add-module', fixture('resnet_sd.pth'), '--at', 'extra', '--layer', 'Linear(?,3)', '-o', out('x.pth')], /cannot tell how many features/);
    fails(['add-module', fixture('resnet_sd.pth'), '--at', 'extra', '--layer', 'a=Linear(8,3)', '-o', out('x.pth')], /the layer takes its name from --at/);
    fails(['add-module', fixture('resnet_sd.pth'), '--at', 'extra', '-o', out('x.pth')], /one of --layer 'Linear\(1001,10\)' and --head SPEC/);
    fails(['add-module', fixture('resnet.onnx'), '--at', 'extra', '--layer', 'Linear(8,3)', '-o', out('x.pth')], /resnet\.onnx: is an ONNX model; add-module edits checkpoints/);
  });
});
