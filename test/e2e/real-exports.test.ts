import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixture, modsurg, scratchDir, succeeds } from '../helpers/cli.js';
import { agreesWithTorch, ORACLE_PYTHON, ORACLE_SKIP, oracle, python } from '../helpers/oracle.js';

/**
 * ONNX edits on the exports people really make of hub models (fixtures/hub.py: timm's own classes,
 * exported by torch 2.13): the classic exporter's Identity-shared initializers, the dynamo exporter's
 * flatten inside the classifier's scope, its transposed and merged weights. Judged by onnx.checker and
 * onnxruntime against PyTorch's outputs.
 */
const dir = scratchDir();
const out = (name: string): string => join(dir, name);
const rw = (name: string): string => fixture(`realworld/${name}`);

const run = (args: string[]): string => succeeds(args).stdout;
const agrees = (model: string, input: string, expected: Record<string, string>): { output_names: string[] } =>
  agreesWithTorch(model, { input }, expected) as unknown as { output_names: string[] };

describe.skipIf(!ORACLE_PYTHON)(`ONNX edits on real exports of timm models${ORACLE_SKIP}`, () => {
  it('add-output --module stages.2 on a classic export gives exactly one output, the stage\'s, named after it', () => {
    run(['add-output', rw('hub_timm_convnext.onnx'), '--module', 'stages.2', '-o', out('convnext_stage.onnx')]);
    const verdict = agrees(out('convnext_stage.onnx'), rw('hub_input.npy'), { logits: rw('hub_timm_convnext_logits.npy'), 'stages.2': rw('hub_timm_convnext_stages2.npy') });
    expect(verdict.output_names).toEqual(['logits', 'stages.2']);
  });

  it('replace-head on a classic export keeps the initializers other modules share through Identity nodes', () => {
    run(['replace-head', rw('hub_timm_convnext.onnx'), '--classes', '3', '--seed', '1', '-o', out('convnext_3.onnx')]);
    const verdict = oracle('run_onnx.py', [out('convnext_3.onnx'), '--input', `input=${rw('hub_input.npy')}`, '--check']);
    expect(verdict.diffs ?? [], JSON.stringify(verdict)).toEqual([]);
    expect((verdict.outputs as Record<string, { shape: number[] }>).logits!.shape).toEqual([2, 3]);
  });

  it("replace-head on timm's MobileNetV3, dynamo export: the new head receives what the old Linear received", () => {
    const stdout = run(['replace-head', rw('hub_timm_mobilenetv3_dynamo.onnx'), '--classes', '10', '--weights', rw('hub_timm_mobilenetv3_head10.safetensors'), '-o', out('mnv3_10.onnx')]);
    expect(stdout).toMatch(/replaced module 'classifier' \(Gemm; reads view_1, writes logits\)/);
    agrees(out('mnv3_10.onnx'), rw('hub_input.npy'), { logits: rw('hub_timm_mobilenetv3_head10_output.npy') });
  });

  for (const model of ['hub_timm_vit_dynamo.onnx', 'hub_timm_vit.onnx']) {
    it(`load-weights puts a fine-tuned ViT into ${model}: transposed weights, merged initializers, a dropped bias`, () => {
      const stdout = run(['load-weights', rw(model), '--weights', rw('hub_timm_vit_finetuned.safetensors'), '-o', out(`vit_${model}`)]);
      expect(stdout).toMatch(/^32 of 32 checkpoint tensors loaded into .*\(\d+ by following the graph, 8 of them transposed\)$/m);
      expect(stdout).toMatch(/the exporter had merged 8 keys into blocks\.0\.norm1\.bias, their values being equal when exported/);
      agrees(out(`vit_${model}`), rw('hub_vit_input.npy'), { logits: rw('hub_timm_vit_finetuned_output.npy') });
    });
  }

  it('load-weights fails when keys have no place (each with its reason), unless --partial; --strict wants every named initializer', () => {
    const partial = out('partial.safetensors');
    const made = python(
      'import sys; from safetensors.torch import load_file, save_file; sd = load_file(sys.argv[1]); ' +
        'save_file({**{k: v for k, v in sd.items() if k.startswith("head.")}, "extra.weight": sd["head.weight"].clone()}, sys.argv[2])',
      [rw('hub_timm_vit_finetuned.safetensors'), partial],
    );
    expect(made.status, made.stderr).toBe(0);
    const refused = modsurg(['load-weights', rw('hub_timm_vit_dynamo.onnx'), '--weights', partial, '-o', out('p.onnx')]);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toMatch(/^error: .*partial\.safetensors: 1 of 3 checkpoint keys cannot be loaded: extra\.weight: no initializer of that name, and the graph has no nodes of module 'extra' \(--partial loads the others\)\n$/);
    const loaded = modsurg(['load-weights', rw('hub_timm_vit_dynamo.onnx'), '--weights', partial, '--partial', '-o', out('p.onnx')]);
    expect(loaded.status).toBe(0);
    expect(loaded.stderr).toMatch(/^warning: 1 of 3 checkpoint keys cannot be loaded: extra\.weight/);
    expect(loaded.stdout).toMatch(/^2 of 3 checkpoint tensors loaded/m);
    const strict = modsurg(['load-weights', rw('hub_timm_vit_dynamo.onnx'), '--weights', partial, '--partial', '--strict', '-o', out('s.onnx')]);
    expect(strict.status).toBe(2);
    expect(strict.stderr).toMatch(/initializers named like state-dict keys get no value from the checkpoint: patch_embed\.proj\.weight, patch_embed\.proj\.bias, blocks\.0\.norm1\.weight/);
  });

  it('tied weights are called tied only where the checkpoint holds one tensor', () => {
    const stdout = run(['load-weights', fixture('tied_unfolded.onnx'), '--weights', fixture('tied_finetuned_sd.pth'), '-o', out('tied.onnx')]);
    expect(stdout).toMatch(/a\.weight and b\.weight are one tensor in the checkpoint \(tied\): one initializer holds it/);
  });
});
