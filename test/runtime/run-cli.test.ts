import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeTensor } from '../../src/runtime/dtypes.js';
import { encodeNpy } from '../../src/runtime/npy.js';
import { diagnoseProvider } from '../../src/runtime/providers.js';
import { readNpyFile, readNpzFile } from '../../src/runtime/tensor-files.js';
import { cli, errorLines, fixture, scratch, writeModel } from './helpers.js';

/** `modsurg run` end to end on the fixture models (made by PyTorch) and on tiny models built in the test. */

const dir = scratch();
const cudaInstalled = diagnoseProvider('cuda').providerFiles.every((f) => f.path !== undefined);

interface RunJson {
  model: string;
  ep: string;
  skippedProviders: { provider: string; reason: string; missing: string[] }[];
  feeds: { name: string; dtype: string; shape: number[]; source: string }[];
  outputs: { name: string; dtype: string; shape: number[]; stats: { min: number; max: number; mean: number; first: number[]; argmax?: number[] } }[];
  timings: { sessionCreateMs: number; firstRunMs: number; warmup: number; repeat: number; latencyMs: { runs: number; p50: number; p90: number; min: number } | undefined };
  comparison?: { pass: boolean; atol: number; rtol: number; outputs: { name: string; pass: boolean; maxAbsErr: number; mismatches: number; requiredAtol: number | null; cosine: number }[] };
  ok: boolean;
  nodesByProvider: Record<string, number> | null;
  cpuFallbackNodes: unknown[] | null;
}

/** Expect a failure with exit 2 and exactly one `error:` line containing `text`. */
function expectInputError(args: string[], text: RegExp | string): void {
  const run = cli(args);
  expect(run.status, run.stderr).toBe(2);
  const lines = errorLines(run);
  expect(lines, run.stderr).toHaveLength(1);
  if (typeof text === 'string') expect(lines[0]).toContain(text);
  else expect(lines[0]).toMatch(text);
}

describe('run matches PyTorch on the fixtures', () => {
  it.each([
    ['resnet.onnx', 'resnet_input.npy', 'resnet_output.npy'],
    ['resnet_dynamo.onnx', 'resnet_input.npy', 'resnet_output.npy'],
    ['unet.onnx', 'unet_input.npy', 'unet_output.npy'],
  ])('%s: outputs equal the PyTorch reference (exit 0)', (model, input, output) => {
    const run = cli(['run', fixture(model), '--ep', 'cpu', '--input', `input=${fixture(input)}`, '--compare', `output=${fixture(output)}`, '--json']);
    expect(run.status, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout) as RunJson;
    expect(report.ep).toBe('cpu');
    expect(report.ok).toBe(true);
    expect(report.comparison!.outputs).toHaveLength(1);
    expect(report.comparison!.outputs[0]).toMatchObject({ name: 'output', pass: true, mismatches: 0 });
    expect(report.comparison!.outputs[0]!.maxAbsErr).toBeLessThan(1e-5);
    expect(report.comparison!.outputs[0]!.cosine).toBeGreaterThan(0.99999);
    expect(report.feeds[0]).toMatchObject({ name: 'input', dtype: 'float32', source: fixture(input) });
  });

  it('prints a table with stats and the argmax of 2-D scores, and the comparison', () => {
    const run = cli(['run', fixture('resnet.onnx'), '-i', fixture('resnet_input.npy'), '--compare', fixture('resnet_output.npy')]);
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/outputs\n\s+name\s+dtype\s+shape\s+min\s+max\s+mean\s+first values\s+argmax/);
    expect(run.stdout).toMatch(/output\s+float32\s+\[2,10\]/);
    expect(run.stdout).toContain('all 1 compared outputs match');
    expect(run.stderr).toMatch(/^ran on: (cpu|cuda)/m);
  });

  it('exits 1 when an output is outside the tolerance, and says where and what atol would pass', () => {
    const reference = readNpyFile(fixture('resnet_output.npy'));
    const nudged = Float32Array.from(reference.data as Float32Array);
    nudged[13] = nudged[13]! + 0.01; // row 1, column 3
    const path = join(dir, 'nudged.npy');
    writeFileSync(path, encodeNpy(makeTensor('float32', reference.shape, nudged)));
    const args = ['run', fixture('resnet.onnx'), '--ep', 'cpu', '-i', `input=${fixture('resnet_input.npy')}`, '--compare', `output=${path}`];
    const text = cli(args);
    expect(text.status).toBe(1);
    expect(errorLines(text)).toEqual([]);
    expect(text.stdout).toContain('largest error at [1,3]');
    expect(text.stdout).toContain('1 of 1 compared outputs differ');
    const report = JSON.parse(cli([...args, '--json']).stdout) as RunJson;
    expect(report.ok).toBe(false);
    expect(report.comparison!.outputs[0]).toMatchObject({ pass: false, mismatches: 1 });
    expect(report.comparison!.outputs[0]!.requiredAtol).toBeGreaterThan(0.009);
    expect(report.comparison!.outputs[0]!.requiredAtol).toBeLessThan(0.01);
  });

  it('exits 1 against the wrong reference (unet output vs resnet reference shape)', () => {
    const run = cli(['run', fixture('unet.onnx'), '-i', fixture('unet_input.npy'), '--compare', `output=${fixture('resnet_output.npy')}`]);
    expect(run.status).toBe(1);
    expect(run.stdout).toMatch(/FAIL shape \[1,2,16,16\] vs expected \[2,10\]/);
  });
});

describe('run: inputs and outputs', () => {
  it('reports the JSON document the issue asks for, with timings', () => {
    const run = cli(['run', fixture('resnet.onnx'), '--dim', 'batch=3', '--repeat', '3', '--warmup', '1', '--json', '--ep', 'cpu']);
    expect(run.status, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout) as RunJson;
    expect(report).toMatchObject({ model: fixture('resnet.onnx'), ep: 'cpu', nodesByProvider: { CPUExecutionProvider: expect.any(Number) }, cpuFallbackNodes: null });
    expect(report.feeds).toEqual([{ name: 'input', dtype: 'float32', shape: [3, 3, 16, 16], source: 'random [-1, 1) seed 0' }]);
    expect(report.outputs[0]).toMatchObject({ name: 'output', dtype: 'float32', shape: [3, 10] });
    expect(report.outputs[0]!.stats.argmax).toHaveLength(3);
    expect(report.timings).toMatchObject({ warmup: 1, repeat: 3, latencyMs: { runs: 3 } });
    expect(report.timings.sessionCreateMs).toBeGreaterThan(0);
  });

  it('gives the same random inputs for the same seed, and others for another seed', () => {
    const first = (seed: string): number[] => (JSON.parse(cli(['run', fixture('resnet.onnx'), '--seed', seed, '--json', '--ep', 'cpu']).stdout) as RunJson).outputs[0]!.stats.first;
    expect(first('3')).toEqual(first('3'));
    expect(first('3')).not.toEqual(first('4'));
  });

  it('writes NAME.npy per output, an .npz of outputs and one of inputs, which replay to the same outputs', () => {
    const out = join(dir, 'outs');
    const run = cli(['run', fixture('unet.onnx'), '--ep', 'cpu', '--output-dir', out, '--save', join(dir, 'o.npz'), '--save-inputs', join(dir, 'i.npz'), '--seed', '9']);
    expect(run.status, run.stderr).toBe(0);
    expect(readNpyFile(join(out, 'output.npy'))).toMatchObject({ dtype: 'float32', shape: [1, 2, 16, 16] });
    expect(readNpzFile(join(dir, 'o.npz')).get('output')).toEqual(readNpyFile(join(out, 'output.npy')));
    const replay = cli(['run', fixture('unet.onnx'), '--ep', 'cpu', '--input', join(dir, 'i.npz'), '--compare', out, '--atol', '0', '--rtol', '0']);
    expect(replay.status, replay.stdout + replay.stderr).toBe(0);
    const fromNpz = cli(['run', fixture('unet.onnx'), '--ep', 'cpu', '--input', join(dir, 'i.npz'), '--compare', join(dir, 'o.npz'), '--atol', '0', '--rtol', '0']);
    expect(fromNpz.status).toBe(0);
  });

  it('takes JSON nested arrays and zeros/ones, with the model\'s dtype', () => {
    const model = writeModel(dir, 'ints.onnx', {
      inputs: [
        { name: 'ids', dtype: 'int64', shape: ['batch', 'seq'] },
        { name: 'mask', dtype: 'bool', shape: ['batch', 'seq'] },
        { name: 'h', dtype: 'float16', shape: ['batch', 'seq'] },
      ],
      outputs: [
        { name: 'ids_out', dtype: 'int64', shape: ['batch', 'seq'] },
        { name: 'mask_out', dtype: 'bool', shape: ['batch', 'seq'] },
        { name: 'h_out', dtype: 'float16', shape: ['batch', 'seq'] },
      ],
      nodes: [
        { op: 'Identity', inputs: ['ids'], outputs: ['ids_out'] },
        { op: 'Not', inputs: ['mask'], outputs: ['mask_out'] },
        { op: 'Identity', inputs: ['h'], outputs: ['h_out'] },
      ],
    });
    writeFileSync(join(dir, 'ids.json'), '[[101, 2023, 102]]');
    const run = cli(['run', model, '--ep', 'cpu', '-i', `ids=${join(dir, 'ids.json')}`, '-i', 'mask=zeros', '--range', 'h=2:4', '--json']);
    expect(run.status, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout) as RunJson;
    const byName = Object.fromEntries(report.outputs.map((o) => [o.name, o]));
    expect(byName.ids_out!.stats.first).toEqual([101, 2023, 102]);
    expect(byName.mask_out).toMatchObject({ dtype: 'bool', shape: [1, 3], stats: { first: [1, 1, 1] } });
    expect(byName.h_out!.dtype).toBe('float16');
    expect(byName.h_out!.stats.min).toBeGreaterThanOrEqual(2);
    expect(report.feeds.map((i) => i.shape)).toEqual([[1, 3], [1, 3], [1, 3]]);
  });

  it('draws whole numbers in --range for integer inputs', () => {
    const model = writeModel(dir, 'tokens.onnx', {
      inputs: [{ name: 'input_ids', dtype: 'int64', shape: ['batch', 'seq'] }],
      outputs: [{ name: 'y', dtype: 'int64', shape: ['batch', 'seq'] }],
      nodes: [{ op: 'Identity', inputs: ['input_ids'], outputs: ['y'] }],
    });
    const run = cli(['run', model, '--ep', 'cpu', '--dim', 'batch=2', '--dim', 'seq=256', '--range', 'input_ids=0:30522', '--json']);
    const stats = (JSON.parse(run.stdout) as RunJson).outputs[0]!.stats;
    expect(stats.min).toBeGreaterThanOrEqual(0);
    expect(stats.max).toBeLessThan(30522);
    expect(stats.first.every(Number.isInteger)).toBe(true);
  });
});

describe('run: every input error exits 2 with one error line, before running', () => {
  const f64 = join(dir, 'f64.npy');
  writeFileSync(f64, encodeNpy(makeTensor('float64', [1, 3, 16, 16], new Float64Array(768))));
  const i32 = join(dir, 'i32.npy');
  writeFileSync(i32, encodeNpy(makeTensor('int32', [1], new Int32Array(1))));
  const bf16Model = writeModel(dir, 'bf16.onnx', {
    inputs: [{ name: 'x', dtype: 16, shape: [1] }],
    outputs: [{ name: 'y', dtype: 'float32', shape: [1] }],
    nodes: [{ op: 'Cast', inputs: ['x'], outputs: ['y'], attributes: { to: { kind: 'int', value: 1 } } }],
  });
  it.each([
    ['a float64 file for a float32 input', () => ['run', fixture('resnet.onnx'), '-i', `input=${f64}`], "input 'input': expected float32 [batch,3,16,16], given float64 [1,3,16,16] (wrong dtype)"],
    ['a mis-shaped input', () => ['run', fixture('resnet.onnx'), '-i', `input=${fixture('unet_output.npy')}`], /input 'input': expected float32 \[batch,3,16,16\], given float32 \[1,2,16,16\] \(dimension 1 is 2, the model fixes it at 3\)/],
    ['an input the model lacks', () => ['run', fixture('resnet.onnx'), '-i', 'pixels=zeros'], "the model has no input 'pixels' (its inputs: input)"],
    ['a missing input with --strict', () => ['run', fixture('resnet.onnx'), '--strict'], /input 'input' \(float32 \[batch,3,16,16\]\) is not given, and --strict/],
    ['an input file that does not exist', () => ['run', fixture('resnet.onnx'), '-i', 'input=missing.npy'], 'error: missing.npy: no such file'],
    ['a model that does not exist', () => ['run', 'missing.onnx'], 'error: missing.onnx: no such file'],
    ['an unknown input form', () => ['run', fixture('resnet.onnx'), '-i', 'input=data.csv'], "'data.csv' is not random, zeros, ones"],
    ['a --dim clashing with a file', () => ['run', fixture('resnet.onnx'), '-i', `input=${fixture('resnet_input.npy')}`, '--dim', 'batch=4'], "'batch' is 2, but --dim batch=4 made it 4"],
    ['a Fortran-order .npy', () => ['run', fixture('resnet.onnx'), '-i', `input=${join(import.meta.dirname, 'data/npy/fortran.npy')}`], /fortran\.npy: Fortran-order/],
    ['a --compare output the model lacks', () => ['run', fixture('resnet.onnx'), '--compare', `logits=${fixture('resnet_output.npy')}`], "--compare: the model has no output 'logits' (its outputs: output)"],
    ['an unknown --ep', () => ['run', fixture('resnet.onnx'), '--ep', 'tpu'], "unknown execution provider 'tpu'"],
    ['an int32 file for a bfloat16 input (fed as float32)', () => ['run', bf16Model, '-i', `x=${i32}`], "input 'x': expected bfloat16 (as float32) [1], given int32 [1] (wrong dtype: give bfloat16 inputs as float32, float16 or float64)"],
    ['a --range for an input the model lacks', () => ['run', fixture('resnet.onnx'), '--range', 'input=0:1', '--range', 'nope=0:1'], "--range nope=…: the model has no input 'nope'"],
  ])('%s', (_what, args, message) => {
    expectInputError(args(), message);
  });

  it.skipIf(cudaInstalled)('--ep cuda without the CUDA provider names the missing library and how to install it', () => {
    const run = cli(['run', fixture('resnet.onnx'), '--ep', 'cuda']);
    expect(run.status).toBe(2);
    expect(errorLines(run)).toHaveLength(1);
    expect(errorLines(run)[0]).toMatch(/--ep cuda: CUDA provider not installed: libonnxruntime_providers_shared\.so and libonnxruntime_providers_cuda\.so missing/);
    expect(errorLines(run)[0]).toContain('ONNXRUNTIME_NODE_INSTALL=1 node');
  });

  it.skipIf(cudaInstalled)('--ep auto falls back to the CPU and says why: on stderr, or in the report with --json', () => {
    expect(cli(['run', fixture('resnet.onnx')]).stderr).toMatch(/^ran on: cpu \(CUDA provider not installed: /m);
    const run = cli(['run', fixture('resnet.onnx'), '--json']);
    expect(run.status, run.stderr).toBe(0);
    // with --json stderr carries nothing but a JSON error
    expect(run.stderr).toBe('');
    const report = JSON.parse(run.stdout) as RunJson;
    expect(report.ep).toBe('cpu');
    expect(report.skippedProviders[0]).toMatchObject({ provider: 'cuda', missing: expect.arrayContaining(['libonnxruntime_providers_cuda.so']) });
  });
});
