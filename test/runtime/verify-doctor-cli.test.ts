import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { diagnoseProvider } from '../../src/runtime/providers.js';
import { cli, errorLines, fixture, scratch, writeModel } from './helpers.js';

/** `modsurg verify` and `modsurg doctor` end to end. */

const dir = scratch();
const cudaInstalled = diagnoseProvider('cuda').providerFiles.every((f) => f.path !== undefined);

interface VerifyJson {
  kind: string;
  reference: { model: string; ep: string };
  candidate: { model: string; ep: string };
  feeds: { name: string; shape: number[] }[];
  comparison: { pass: boolean; outputs: { name: string; pass: boolean; maxAbsErr: number; mismatches: number }[]; notCompared: string[] };
  onlyInReference: string[];
  ok: boolean;
}

/** y = x * k (+ an extra output when asked): twins that agree for k = 2 and differ otherwise. */
function scaleModel(name: string, k: number, extraOutput = false): string {
  return writeModel(dir, name, {
    inputs: [{ name: 'x', dtype: 'float32', shape: ['batch', 4] }],
    outputs: [{ name: 'y', dtype: 'float32', shape: ['batch', 4] }, ...(extraOutput ? [{ name: 'z', dtype: 'float32' as const, shape: ['batch', 4] }] : [])],
    nodes: [
      { op: 'Mul', inputs: ['x', 'k'], outputs: ['y'] },
      ...(extraOutput ? [{ op: 'Neg', inputs: ['x'], outputs: ['z'] }] : []),
    ],
    initializers: [{ name: 'k', dtype: 'float32', dims: [], values: [k] }],
  });
}

describe('verify', () => {
  it('passes the classic and the dynamo export of the same ResNet on the same random inputs (exit 0)', () => {
    const run = cli(['verify', fixture('resnet.onnx'), fixture('resnet_dynamo.onnx'), '--ep', 'cpu', '--dim', 'batch=4', '--json']);
    expect(run.status, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout) as VerifyJson;
    expect(report).toMatchObject({ kind: 'models', ok: true, reference: { ep: 'cpu' }, candidate: { ep: 'cpu' } });
    expect(report.feeds).toEqual([expect.objectContaining({ name: 'input', shape: [4, 3, 16, 16] })]);
    expect(report.comparison.outputs[0]).toMatchObject({ name: 'output', pass: true, mismatches: 0 });
  });

  it('passes on given inputs and prints the comparison', () => {
    const run = cli(['verify', fixture('resnet.onnx'), fixture('resnet_dynamo.onnx'), '--ep', 'cpu', '-i', `input=${fixture('resnet_input.npy')}`]);
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toContain('compare candidate with reference');
    expect(run.stdout).toContain('all 1 compared outputs match');
  });

  it('fails a twin that computes something else (exit 1), comparing only shared outputs', () => {
    const run = cli(['verify', scaleModel('double.onnx', 2), scaleModel('triple.onnx', 3, true), '--ep', 'cpu', '--json']);
    expect(run.status).toBe(1);
    expect(errorLines(run)).toEqual([]);
    const report = JSON.parse(run.stdout) as VerifyJson;
    expect(report.ok).toBe(false);
    expect(report.comparison.outputs.map((o) => o.name)).toEqual(['y']);
    expect(report.comparison.notCompared).toEqual(['z']);
  });

  it('passes identical twins', () => {
    const run = cli(['verify', scaleModel('a.onnx', 2), scaleModel('b.onnx', 2, true), '--ep', 'cpu', '--atol', '0', '--rtol', '0']);
    expect(run.status, run.stdout + run.stderr).toBe(0);
  });

  it('compares one model on two providers with --ep-compare (cpu,cpu is deterministic)', () => {
    const run = cli(['verify', fixture('unet.onnx'), '--ep-compare', 'cpu,cpu', '--json']);
    expect(run.status, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout) as VerifyJson;
    expect(report).toMatchObject({ kind: 'providers', ok: true, reference: { ep: 'cpu', model: fixture('unet.onnx') }, candidate: { ep: 'cpu' } });
  });

  it.skipIf(cudaInstalled)('--ep-compare cuda,cpu without the CUDA provider is an error naming the missing library (exit 2)', () => {
    const run = cli(['verify', fixture('resnet.onnx'), '--ep-compare', 'cuda,cpu']);
    expect(run.status).toBe(2);
    expect(errorLines(run)).toHaveLength(1);
    expect(errorLines(run)[0]).toMatch(/--ep cuda: CUDA provider not installed: .*libonnxruntime_providers_cuda\.so/);
  });

  it.each([
    ['no second model', ['verify', fixture('resnet.onnx')], 'give two models'],
    ['two models and --ep-compare', ['verify', fixture('resnet.onnx'), fixture('unet.onnx'), '--ep-compare', 'cuda,cpu'], 'give only one model'],
    ['a bad --ep-compare', ['verify', fixture('resnet.onnx'), '--ep-compare', 'cuda'], 'expected two providers'],
    ['an input neither model has', ['verify', fixture('resnet.onnx'), fixture('resnet_dynamo.onnx'), '-i', 'nope=zeros'], "the model has no input 'nope'"],
  ])('usage error: %s (exit 2)', (_what, args, message) => {
    const run = cli(args);
    expect(run.status).toBe(2);
    expect(errorLines(run)).toHaveLength(1);
    expect(errorLines(run)[0]).toContain(message);
  });

  it('refuses models that share no output name (exit 2)', () => {
    const other = writeModel(dir, 'other.onnx', {
      inputs: [{ name: 'x', dtype: 'float32', shape: ['batch', 4] }],
      outputs: [{ name: 'w', dtype: 'float32', shape: ['batch', 4] }],
      nodes: [{ op: 'Neg', inputs: ['x'], outputs: ['w'] }],
    });
    const run = cli(['verify', scaleModel('c.onnx', 2), other, '--ep', 'cpu']);
    expect(run.status).toBe(2);
    expect(errorLines(run)[0]).toContain('share no output name');
  });
});

interface DoctorJson {
  node: string;
  onnxruntime: { version: string; files: string[] };
  gpu: { devices: unknown[]; note: string };
  providers: { name: string; works: boolean; reason?: string; missing: string[]; install: string[] }[];
}

describe('doctor', () => {
  it('exits 0 and says what works here', () => {
    const run = cli(['doctor']);
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^node v\d+/m);
    expect(run.stdout).toMatch(/^onnxruntime-node \d+\.\d+\.\d+/m);
    expect(run.stdout).toMatch(/^\s+cpu\s+works/m);
    expect(run.stdout).toMatch(/^summary: /m);
  });

  it('--json: the CPU provider works; versions and the GPU are reported', () => {
    const run = cli(['doctor', '--json']);
    expect(run.status).toBe(0);
    const report = JSON.parse(run.stdout) as DoctorJson;
    expect(report.node).toBe(process.version);
    expect(report.onnxruntime.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(report.providers.map((p) => p.name).sort()).toEqual(['cpu', 'cuda', 'webgpu']);
    expect(report.providers.find((p) => p.name === 'cpu')).toMatchObject({ works: true });
  });

  const noGpu = !['/usr/bin/nvidia-smi', '/usr/local/bin/nvidia-smi'].some(existsSync) && !(process.env.PATH ?? '').split(':').some((d) => existsSync(`${d}/nvidia-smi`));

  it.skipIf(!noGpu || cudaInstalled)('on a machine without a GPU or the CUDA provider, says so plainly and how to install it', () => {
    const run = cli(['doctor']);
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('gpu: no NVIDIA GPU found (nvidia-smi is not on PATH)');
    expect(run.stdout).toMatch(/cuda\s+no\s+CUDA provider not installed: libonnxruntime_providers_shared\.so and libonnxruntime_providers_cuda\.so missing/);
    expect(run.stdout).toContain('summary: no GPU provider works here (no GPU); models run on the CPU');
    expect(run.stdout).toContain('ONNXRUNTIME_NODE_INSTALL=1 node');
    const report = JSON.parse(cli(['doctor', '--json']).stdout) as DoctorJson;
    const cuda = report.providers.find((p) => p.name === 'cuda')!;
    expect(cuda.works).toBe(false);
    expect(cuda.missing).toEqual(expect.arrayContaining(['libonnxruntime_providers_shared.so', 'libonnxruntime_providers_cuda.so', 'libcuda.so.1']));
    expect(report.gpu.devices).toEqual([]);
  });
});
