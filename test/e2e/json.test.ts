import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixture, modsurg, scratchDir } from '../helpers/cli.js';

/**
 * Every command's --json report opens with the same envelope (docs/json.md): command, inputs, output,
 * ok, warnings, then its own fields; with --json a failure is a JSON object on stderr, exit 2.
 */
const dir = scratchDir();
const out = (name: string): string => join(dir, name);
const rw = (name: string): string => fixture(join('realworld', name));

/** One successful run of each command, with the inputs and output its envelope must name. */
const RUNS: { args: string[]; inputs: string[]; output: string | null; ok?: boolean }[] = [
  { args: ['inspect', fixture('resnet_sd.pth')], inputs: [fixture('resnet_sd.pth')], output: null },
  { args: ['inspect', fixture('resnet.onnx')], inputs: [fixture('resnet.onnx')], output: null },
  { args: ['scan', fixture('resnet_sd.pth'), fixture('malicious.pth')], inputs: [fixture('resnet_sd.pth'), fixture('malicious.pth')], output: null, ok: false },
  { args: ['strip-prefix', fixture('resnet_dp.pth'), '-o', out('a.pth')], inputs: [fixture('resnet_dp.pth')], output: out('a.pth') },
  { args: ['add-prefix', fixture('resnet_sd.pth'), '-o', out('b.pth')], inputs: [fixture('resnet_sd.pth')], output: out('b.pth') },
  { args: ['rename', fixture('resnet_sd.pth'), '--map', '^fc\\.=>head.', '-o', out('c.pth')], inputs: [fixture('resnet_sd.pth')], output: out('c.pth') },
  { args: ['convert', fixture('resnet_sd.pth'), '-o', out('d.safetensors')], inputs: [fixture('resnet_sd.pth')], output: out('d.safetensors') },
  { args: ['convert', fixture('resnet.onnx'), '-o', out('e.onnx')], inputs: [fixture('resnet.onnx')], output: out('e.onnx') },
  { args: ['diff', fixture('resnet_sd.pth'), fixture('resnet_legacy.pth')], inputs: [fixture('resnet_sd.pth'), fixture('resnet_legacy.pth')], output: null },
  { args: ['diff', fixture('resnet_sd.pth'), fixture('resnet_fp16.pth')], inputs: [fixture('resnet_sd.pth'), fixture('resnet_fp16.pth')], output: null, ok: false },
  { args: ['replace-head', fixture('resnet_sd.pth'), '--classes', '3', '-o', out('f.pth')], inputs: [fixture('resnet_sd.pth')], output: out('f.pth') },
  { args: ['add-module', fixture('resnet_sd.pth'), '--at', 'aux', '--layer', 'Linear(8,3)', '--seed', '1', '-o', out('g.pth')], inputs: [fixture('resnet_sd.pth')], output: out('g.pth') },
  { args: ['add-output', fixture('resnet.onnx'), '--module', 'layer1', '-o', out('h.onnx')], inputs: [fixture('resnet.onnx')], output: out('h.onnx') },
  {
    args: ['add-input', fixture('resnet.onnx'), '--name', 'add_variable', '--shape', 'batch', '--at', 'avgpool', '--pre', 'Flatten(1)', '--head', 'fc=Linear(9,10)', '--weights', fixture('addinput_weights.safetensors'), '-o', out('i.onnx')],
    inputs: [fixture('resnet.onnx'), fixture('addinput_weights.safetensors')],
    output: out('i.onnx'),
  },
  { args: ['load-weights', rw('hub_timm_vit.onnx'), '--weights', rw('hub_timm_vit_finetuned.safetensors'), '-o', out('j.onnx')], inputs: [rw('hub_timm_vit.onnx'), rw('hub_timm_vit_finetuned.safetensors')], output: out('j.onnx') },
  { args: ['run', fixture('resnet.onnx'), '--ep', 'cpu', '-i', `input=${fixture('resnet_input.npy')}`, '--compare', `output=${fixture('resnet_output.npy')}`], inputs: [fixture('resnet.onnx'), fixture('resnet_input.npy'), fixture('resnet_output.npy')], output: null },
  { args: ['verify', fixture('resnet.onnx'), fixture('resnet_dynamo.onnx'), '--ep', 'cpu'], inputs: [fixture('resnet.onnx'), fixture('resnet_dynamo.onnx')], output: null },
  { args: ['view', fixture('resnet.onnx'), '-o', out('k.html')], inputs: [fixture('resnet.onnx')], output: out('k.html') },
  { args: ['clean', dir], inputs: [dir], output: null },
  { args: ['doctor'], inputs: [], output: null },
];

describe('--json', () => {
  it('every command opens its report with command, inputs, output, ok, warnings', async () => {
    const commands = new Set<string>();
    for (const run of RUNS) {
      const result = modsurg([...run.args, '--json']);
      expect(result.status, `${run.args.join(' ')}: ${result.stderr}`).toBe(run.ok === false ? 1 : 0);
      expect(result.stderr, run.args[0]).toBe('');
      const report = JSON.parse(result.stdout) as Record<string, unknown>;
      expect(Object.keys(report).slice(0, 5), run.args[0]).toEqual(['command', 'inputs', 'output', 'ok', 'warnings']);
      expect(report, run.args.join(' ')).toMatchObject({ command: run.args[0], inputs: run.inputs, output: run.output, ok: run.ok ?? true });
      expect(Array.isArray(report.warnings)).toBe(true);
      commands.add(run.args[0]!);
    }
    // every command the CLI has is in the list above
    const help = modsurg(['help']).stdout;
    const listed = [...help.matchAll(/^ {2}([a-z][a-z-]+) {2,}/gm)].map((m) => m[1]!).filter((c) => c !== 'help');
    expect([...commands].sort()).toEqual([...new Set(listed)].sort());
  }, 120_000);

  it('warnings go into the report, not onto stderr as text', async () => {
    const result = modsurg(['strip-prefix', fixture('resnet_sd.pth'), '-o', out('w.pth'), '--json']);
    expect(result.stderr).toBe('');
    expect((JSON.parse(result.stdout) as { warnings: string[] }).warnings).toEqual([expect.stringMatching(/^no key starts with 'module\.'/)]);
  });

  it('a failure is a JSON object on stderr, exit 2, nothing on stdout: the envelope with the error', async () => {
    const missing = out('missing.pth');
    for (const args of [['inspect', missing], ['convert', missing, '-o', out('x.pth')], ['run', fixture('resnet_dp.pth')], ['scan', missing]]) {
      const result = modsurg([...args, '--json']);
      expect(result.status, args[0]).toBe(2);
      if (args[0] === 'scan') continue; // scan reports an unreadable file in its report (files[].error), with exit 2
      expect(result.stdout, args[0]).toBe('');
      const error = JSON.parse(result.stderr) as Record<string, unknown>;
      expect(error, args[0]).toMatchObject({ command: args[0], ok: false, warnings: [], error: { message: expect.any(String), file: args[1] } });
    }
    // as a user runs it
    const real = modsurg(['inspect', missing, '--json']);
    expect(real.status).toBe(2);
    expect(JSON.parse(real.stderr)).toEqual({ command: 'inspect', ok: false, warnings: [], error: { message: 'no such file', file: missing } });
  });
});
