import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixture, modsurg, scratchDir } from '../helpers/cli.js';
import { FORWARD_ATOL, ORACLE_PYTHON, ORACLE_SKIP, oracle, type OracleResult } from '../helpers/oracle.js';

/**
 * replace-head judged by real PyTorch: bit for bit (and _metadata) against the state dicts torch saved
 * after `net.fc = nn.Sequential(OrderedDict(...))`, and strict loads plus forward passes into the model
 * changed the same way (test/oracle/load_head.py).
 */
const dir = scratchDir();
const out = (name: string): string => join(dir, name);

interface SurgeryCase {
  spec: string | null;
  classes: number | null;
  weights: string;
  expected_state_dict: string;
  expected_output: string;
  input: string;
}
const manifest = JSON.parse(readFileSync(fixture('manifest.json'), 'utf8')) as { surgery?: Record<string, SurgeryCase> };
const cases = Object.entries(manifest.surgery ?? {}).filter(([name]) => name.startsWith('replace-head:'));
const SPEC = 'fc1=Linear(8,6),relu1=ReLU(),dropout1=Dropout(0.5),fc2=Linear(6,3),output=Softmax(dim=1)';

function run(args: string[]): string {
  const result = modsurg(['replace-head', ...args]);
  expect(result.stderr).not.toMatch(/error:/);
  expect(result.status).toBe(0);
  return result.stdout;
}

function ok(verdict: OracleResult): void {
  expect(verdict.diffs ?? [], JSON.stringify(verdict)).toEqual([]);
  expect(verdict.ok, JSON.stringify(verdict)).toBe(true);
}

const headFlags = (c: SurgeryCase): string[] => (c.spec !== null ? ['--head', c.spec] : ['--classes', String(c.classes)]);

describe.skipIf(!ORACLE_PYTHON)(`replace-head output loads in real torch${ORACLE_SKIP}`, () => {
  it('the fixtures have the replace-head cases', () => {
    expect(cases.map(([name]) => name)).toEqual(expect.arrayContaining(['replace-head:head', 'replace-head:classes5', 'replace-head:allops', 'replace-head:misc']));
  });

  it.each(cases)('%s: equals the state dict torch saved, bit for bit with _metadata, and computes its output', (name, c) => {
    const file = out(`${name.replace(':', '_')}.pth`);
    run([fixture('resnet_sd.pth'), '--at', 'fc', ...headFlags(c), '--weights', fixture(c.weights), '-o', file]);
    ok(oracle('compare_ckpt.py', [file, fixture(c.expected_state_dict)]));
    ok(oracle('load_head.py', [file, 'TinyResNet', ...headFlags(c), '--forward', fixture(c.input), '--expect', fixture(c.expected_output), '--atol', FORWARD_ATOL]));
  });

  it("without --weights, PyTorch's default initialisation loads strictly, with torch's own key order and _metadata", () => {
    const spec = "fc1=Linear(?,16),bn=BatchNorm1d(16),act1=GELU(approximate='tanh'),Dropout(0.1),fc2=Linear(16,12),ln=LayerNorm(12),LeakyReLU(0.1),out=Linear(12,4)";
    run([fixture('resnet_sd.pth'), '--head', spec, '--seed', '3', '-o', out('init.pth')]);
    const verdict = oracle('load_head.py', [out('init.pth'), 'TinyResNet', '--head', spec, '--forward', fixture('resnet_input.npy')]);
    ok(verdict);
    expect(verdict.output_shape).toEqual([2, 4]);
  });

  it('--seed makes the file reproducible; another seed gives other weights', () => {
    const args = [fixture('resnet_sd.pth'), '--head', SPEC, '--seed', '7'];
    run([...args, '-o', out('seed7a.pth')]);
    run([...args, '-o', out('seed7b.pth')]);
    run([fixture('resnet_sd.pth'), '--head', SPEC, '--seed', '8', '-o', out('seed8.pth')]);
    expect(readFileSync(out('seed7a.pth')).equals(readFileSync(out('seed7b.pth')))).toBe(true);
    expect(readFileSync(out('seed7a.pth')).equals(readFileSync(out('seed8.pth')))).toBe(false);
    ok(oracle('load_head.py', [out('seed7a.pth'), 'TinyResNet', '--head', SPEC]));
  });

  it('finds module.fc in a DataParallel state dict and loads into DataParallel(modified)', () => {
    const report = run([fixture('resnet_dp.pth'), '--head', 'fc1=Linear(?,6),relu1=ReLU,fc2=Linear(6,3)', '--seed', '1', '-o', out('dp.pth')]);
    expect(report).toContain('replaced module.fc (the classifier, by its name; pick another with --at)');
    ok(oracle('load_head.py', [out('dp.pth'), 'DataParallel(TinyResNet)', '--head', 'fc1=Linear(?,6),relu1=ReLU,fc2=Linear(6,3)', '--forward', fixture('resnet_input.npy')]));
    // the same weights file fits the DataParallel module path too
    run([fixture('resnet_dp.pth'), '--head', SPEC, '--weights', fixture('head_weights.safetensors'), '-o', out('dp_weights.pth')]);
    ok(oracle('load_head.py', [out('dp_weights.pth'), 'DataParallel(TinyResNet)', '--head', SPEC, '--forward', fixture('resnet_input.npy'), '--expect', fixture('resnet_head_output.npy'), '--atol', FORWARD_ATOL]));
  });

  it('--key model_state_dict edits the model of a training checkpoint and keeps everything else bit for bit', () => {
    const result = modsurg(['replace-head', fixture('training_ckpt.pth'), '--key', 'model_state_dict', '--classes', '5', '--seed', '2', '-o', out('train.pth')]);
    expect(result.status).toBe(0);
    expect(result.stderr).toMatch(/^warning: optimizer_state_dict: the optimizer state still describes the old head's parameters/m);
    ok(oracle('load_head.py', [out('train.pth'), 'TinyResNet', '--classes', '5', '--key', 'model_state_dict']));
    const others = ['epoch', 'optimizer_state_dict', 'loss', 'best_acc', 'tags', 'history', 'flags', 'blob', 'shape', 'device', 'dtype'];
    for (const key of others) ok(oracle('compare_ckpt.py', [out('train.pth'), fixture('training_ckpt.pth'), '--out-key', key, '--ref-key', key]));
  });

  it('acts on a Lightning checkpoint, a whole-model pickle, fp16 and safetensors inputs', () => {
    run([fixture('lightning_ckpt.pth'), '--classes', '3', '--seed', '4', '-o', out('lightning.ckpt')]);
    ok(oracle('load_head.py', [out('lightning.ckpt'), 'Lightning(TinyResNet)', '--classes', '3', '--key', 'state_dict', '--at', 'model.fc']));

    run([fixture('resnet_model.pth'), '--head', SPEC, '--weights', fixture('head_weights.safetensors'), '-o', out('from_model.pth')]);
    ok(oracle('compare_ckpt.py', [out('from_model.pth'), fixture('resnet_head_sd.pth'), '--no-metadata']));

    run([fixture('resnet_fp16.pth'), '--head', SPEC, '--seed', '5', '-o', out('fp16.pth')]);
    const fp16 = oracle('load_head.py', [out('fp16.pth'), 'TinyResNet', '--head', SPEC]);
    ok(fp16);
    expect(fp16.dtypes).toEqual(['float16', 'int64']);
    run([fixture('resnet_fp16.pth'), '--head', SPEC, '--weights', fixture('head_weights.safetensors'), '-o', out('fp16_weights.pth')]);
    ok(oracle('load_head.py', [out('fp16_weights.pth'), 'TinyResNet', '--head', SPEC, '--forward', fixture('resnet_input.npy'), '--expect', fixture('resnet_head_output.npy'), '--atol', '5e-2']));

    run([fixture('resnet_sd.safetensors'), '--classes', '5', '--weights', fixture('classes5_weights.safetensors'), '-o', out('from_st.safetensors')]);
    run([out('from_st.safetensors'), '--classes', '5', '--weights', fixture('classes5_weights.safetensors'), '-o', out('from_st.pth')]);
    ok(oracle('compare_ckpt.py', [out('from_st.pth'), fixture('resnet_classes5_sd.pth'), '--no-metadata', '--any-order', '--mapping-any']));
  });
});
