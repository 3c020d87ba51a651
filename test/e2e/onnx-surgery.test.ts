import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { fixture, modsurg, ROOT, scratchDir, succeeds } from '../helpers/cli.js';
import { ORACLE_PYTHON, ORACLE_SKIP, oracle } from '../helpers/oracle.js';

/**
 * ONNX surgery judged by real onnx and onnxruntime: every edited model passes
 * onnx.checker.check_model(full_check=True), gives PyTorch's numbers for the same modification
 * (within 1e-4), and equals the input proto for proto outside the edited part.
 */
const dir = scratchDir();
const out = (name: string): string => join(dir, name);
const HEAD = 'fc1=Linear(8,6),relu1=ReLU(),dropout1=Dropout(0.5),fc2=Linear(6,3),output=Softmax(dim=1)';
const ALLOPS = "fc1=Linear(8,16),bn=BatchNorm1d(16),act1=GELU(approximate='tanh'),fc2=Linear(16,12),ln=LayerNorm(12,eps=1e-5),act2=SiLU(),act3=LeakyReLU(0.1),fc3=Linear(12,4),out=LogSoftmax(dim=1)";
const MISC = 'flat=Flatten(),fc1=Linear(8,12),act1=GELU(),fc2=Linear(12,6),act2=Tanh(),skip=Identity(),fc3=Linear(6,3),out=Sigmoid()';

function run(args: string[]): void {
  succeeds(args);
}

/** Runs the model with onnxruntime after the full checker, and compares with PyTorch's outputs. */
function agrees(model: string, inputs: string[], expects: string[]): void {
  const verdict = oracle('run_onnx.py', [model, ...inputs.flatMap((i) => ['--input', i]), ...expects.flatMap((e) => ['--expect', e]), '--atol', '1e-4', '--check']);
  expect(verdict.diffs ?? [], JSON.stringify(verdict)).toEqual([]);
  expect(verdict.checker).toBe('ok');
  expect(verdict.ok).toBe(true);
}

function unchangedOutside(original: string, edited: string, ...flags: string[]): void {
  const verdict = oracle('onnx_equal_parts.py', [original, edited, ...flags]);
  expect(verdict.diffs ?? [], JSON.stringify(verdict)).toEqual([]);
  expect(verdict.ok).toBe(true);
}

const resnetInput = `input=${fixture('resnet_input.npy')}`;

describe.skipIf(!ORACLE_PYTHON)(`ONNX surgery gives PyTorch's numbers${ORACLE_SKIP}`, () => {
  for (const model of ['resnet', 'resnet_dynamo']) {
    it(`replace-head on ${model}.onnx: the seed's Sequential head, --classes, every layer kind`, () => {
      run(['replace-head', fixture(`${model}.onnx`), '--at', 'fc', '--head', HEAD, '--weights', fixture('head_weights.safetensors'), '-o', out(`${model}_head.onnx`)]);
      agrees(out(`${model}_head.onnx`), [resnetInput], [`output=${fixture('resnet_head_output.npy')}`]);
      run(['replace-head', fixture(`${model}.onnx`), '--classes', '5', '--weights', fixture('classes5_weights.safetensors'), '-o', out(`${model}_c5.onnx`)]);
      agrees(out(`${model}_c5.onnx`), [resnetInput], [`output=${fixture('resnet_classes5_output.npy')}`]);
      run(['replace-head', fixture(`${model}.onnx`), '--head', ALLOPS, '--weights', fixture('allops_head_weights.safetensors'), '-o', out(`${model}_allops.onnx`)]);
      agrees(out(`${model}_allops.onnx`), [resnetInput], [`output=${fixture('resnet_allops_output.npy')}`]);
      run(['replace-head', fixture(`${model}.onnx`), '--head', MISC, '--weights', fixture('misc_head_weights.safetensors'), '-o', out(`${model}_misc.onnx`)]);
      agrees(out(`${model}_misc.onnx`), [resnetInput], [`output=${fixture('resnet_misc_output.npy')}`]);
    });
  }

  it('replace-head changes nothing outside the head (classic exporter)', () => {
    unchangedOutside(fixture('resnet.onnx'), out('resnet_head.onnx'), '--ignore-node', '/fc/*', '--ignore-initializer', 'fc.*', '--ignore-output', 'output', '--allow-added', 'nodes', '--allow-added', 'initializers', '--no-dead-nodes');
  });

  it('replace-head without --weights: seeded default init, repeatable', () => {
    run(['replace-head', fixture('resnet.onnx'), '--classes', '7', '--seed', '11', '-o', out('seed_a.onnx')]);
    run(['replace-head', fixture('resnet.onnx'), '--classes', '7', '--seed', '11', '-o', out('seed_b.onnx')]);
    unchangedOutside(out('seed_a.onnx'), out('seed_b.onnx'));
    const verdict = oracle('run_onnx.py', [out('seed_a.onnx'), '--input', resnetInput, '--check']);
    expect(verdict.ok).toBe(true);
    expect((verdict.outputs as Record<string, { shape: number[] }>).output!.shape).toEqual([2, 7]);
  });

  for (const model of ['resnet', 'resnet_dynamo']) {
    it(`add-input on ${model}.onnx: head(cat(flatten(avgpool), add_variable.unsqueeze(1)))`, () => {
      run(['add-input', fixture(`${model}.onnx`), '--name', 'add_variable', '--shape', 'batch', '--at', 'avgpool', '--pre', 'Flatten(1)', '--head', 'fc=Linear(9,10)', '--weights', fixture('addinput_weights.safetensors'), '-o', out(`${model}_ai.onnx`)]);
      agrees(out(`${model}_ai.onnx`), [resnetInput, `add_variable=${fixture('add_variable.npy')}`], [`output=${fixture('resnet_addinput_output.npy')}`]);
    });
  }

  it('add-input --keep-outputs keeps the old output beside the new one', () => {
    run(['add-input', fixture('resnet.onnx'), '--name', 'add_variable', '--at', 'avgpool', '--pre', 'Flatten(1)', '--head', 'fc=Linear(?,10)', '--weights', fixture('addinput_weights.safetensors'), '--keep-outputs', '-o', out('ai_keep.onnx')]);
    agrees(out('ai_keep.onnx'), [resnetInput, `add_variable=${fixture('add_variable.npy')}`], [`output=${fixture('resnet_addinput_output.npy')}`, `output_original=${fixture('resnet_output.npy')}`]);
  });

  for (const model of ['resnet', 'resnet_dynamo']) {
    it(`add-output --module layer2 on ${model}.onnx: a typed second output with layer2's values`, () => {
      run(['add-output', fixture(`${model}.onnx`), '--module', 'layer2', '--as', 'layer2', '-o', out(`${model}_two.onnx`)]);
      agrees(out(`${model}_two.onnx`), [resnetInput], [`output=${fixture('resnet_output.npy')}`, `layer2=${fixture('resnet_layer2.npy')}`]);
    });
  }

  it('add-output keeps the original outputs first and the graph unchanged', () => {
    run(['add-output', fixture('resnet.onnx'), '--module', 'layer2', '-o', out('two_plain.onnx')]);
    // the output is named after the module, through an Identity node: nothing else changes
    unchangedOutside(fixture('resnet.onnx'), out('two_plain.onnx'), '--allow-added', 'outputs', '--allow-added', 'nodes');
  });

  it('add-output --module up2 exposes the U-Net decoder stage', () => {
    run(['add-output', fixture('unet.onnx'), '--module', 'up2', '--as', 'up2', '-o', out('unet_up2.onnx')]);
    agrees(out('unet_up2.onnx'), [`input=${fixture('unet_input.npy')}`], [`output=${fixture('unet_output.npy')}`, `up2=${fixture('unet_up2.npy')}`]);
  });

  it('load-weights puts fine-tuned weights into the initializers; nothing else changes', () => {
    run(['load-weights', fixture('resnet_unfolded.onnx'), '--weights', fixture('resnet_finetuned_sd.pth'), '--strict', '-o', out('finetuned.onnx')]);
    agrees(out('finetuned.onnx'), [resnetInput], [`output=${fixture('resnet_finetuned_output.npy')}`]);
    unchangedOutside(fixture('resnet_unfolded.onnx'), out('finetuned.onnx'), '--ignore-values', '*');
  });

  it('load-weights with tied weights stored once', () => {
    run(['load-weights', fixture('tied_unfolded.onnx'), '--weights', fixture('tied_finetuned_sd.pth'), '--strict', '-o', out('tied.onnx')]);
    agrees(out('tied.onnx'), [`input=${fixture('tied_input.npy')}`], [`output=${fixture('tied_finetuned_output.npy')}`]);
  });
});

describe('ONNX pipelines', () => {
  it('add-output … -o - | run - : the brief\'s pipeline, compared with PyTorch', () => {
    const bin = join(ROOT, 'bin/run.js');
    const result = spawnSync(
      'bash',
      ['-c', `node ${bin} add-output ${fixture('resnet.onnx')} --module layer2 --as layer2 -o - -q | node ${bin} run - -i input=${fixture('resnet_input.npy')} --compare layer2=${fixture('resnet_layer2.npy')} --atol 1e-4 -q; echo "\${PIPESTATUS[*]}"`],
      { encoding: 'utf8' },
    );
    expect(result.stdout.trim()).toBe('0 0');
  });
});

describe('ONNX surgery errors', () => {
  it('load-weights fails on keys that have no place, says why for each, and hints at the prefix', () => {
    const result = modsurg(['load-weights', fixture('resnet_unfolded.onnx'), '--weights', fixture('resnet_dp.pth'), '-o', out('x.onnx')]);
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(
      /^error: .*resnet_dp\.pth: 52 of 62 checkpoint keys cannot be loaded \(they start with 'module\.': try modsurg strip-prefix first\): module\.conv1\.weight: no initializer of that name, and the graph has no nodes of module 'module\.conv1'; .* \(--partial loads the others\)\n$/,
    );
  });

  it('load-weights refuses a model whose BatchNorm was folded into the convolutions', () => {
    for (const model of ['resnet.onnx', 'resnet_dynamo.onnx']) {
      const result = modsurg(['load-weights', fixture(model), '--weights', fixture('resnet_finetuned_sd.pth'), '-o', out('x.onnx')]);
      expect(result.status, model).toBe(2);
      expect(result.stderr).toMatch(/the exporter folded BatchNorm into the convolutions/);
    }
  });

  it('load-weights refuses a shape that does not fit', () => {
    const result = modsurg(['load-weights', fixture('resnet_unfolded.onnx'), '--weights', fixture('resnet_classes5_sd.pth'), '-o', out('x.onnx')]);
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/fc\.weight: shape \[5, 8\] does not fit initializer fc\.weight of shape \[10, 8\]/);
  });

  it('add-output names a tensor that does not exist', () => {
    const result = modsurg(['add-output', fixture('resnet.onnx'), '--tensor', 'nope', '-o', out('x.onnx')]);
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/error: .*resnet\.onnx: no tensor named 'nope' in the graph/);
  });

  it('replace-head names a module that does not exist, and a head that does not fit', () => {
    const missing = modsurg(['replace-head', fixture('resnet.onnx'), '--at', 'head', '--classes', '3', '-o', out('x.onnx')]);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/resnet\.onnx: no nodes of module 'head' in the graph \(top-level modules: .*fc/);
    const misfit = modsurg(['replace-head', fixture('resnet.onnx'), '--head', 'Linear(16,3)', '-o', out('x.onnx')]);
    expect(misfit.status).toBe(2);
    expect(misfit.stderr).toMatch(/Linear expects 16 input features/);
  });

  it('add-input asks for --pre when T is not [batch, features]', () => {
    const result = modsurg(['add-input', fixture('resnet.onnx'), '--name', 'v', '--at', 'avgpool', '--head', 'Linear(?,10)', '-o', out('x.onnx')]);
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/is \[batch, 8, 1, 1\], not \[batch, features\]; add --pre 'Flatten\(1\)'/);
  });
});
