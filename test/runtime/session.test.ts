import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseInputSpec } from '../../src/runtime/inputs.js';
import { readGraphSignature } from '../../src/runtime/signature.js';
import { nodesOffProvider, placementFromProfile } from '../../src/runtime/placement.js';
import { cudaMajorFor, diagnoseProvider, parseProviderChoice } from '../../src/runtime/providers.js';
import { runModel } from '../../src/runtime/run-model.js';
import { encodeTinyModel } from '../../src/runtime/tiny-model.js';
import { fixture, scratch, writeModel } from './helpers.js';

const cpu = parseProviderChoice('cpu');
const noInputs = { seed: 0, dims: new Map<string, number>(), shapes: new Map<string, number[]>(), ranges: { all: undefined, byName: new Map() }, strict: false };

describe('the ONNX signature reader and the tiny model writer', () => {
  it('reads back the inputs and outputs it wrote, symbolic dims included', () => {
    const bytes = encodeTinyModel({
      inputs: [
        { name: 'x', dtype: 'float32', shape: ['batch', 3] },
        { name: 'w', dtype: 'float32', shape: [3] },
      ],
      outputs: [{ name: 'y', dtype: 16, shape: ['batch', ''] }],
      nodes: [{ op: 'Mul', inputs: ['x', 'w'], outputs: ['y'] }],
      initializers: [{ name: 'w', dtype: 'float32', dims: [3], values: [1, 2, 3] }],
    });
    const signature = readGraphSignature(bytes);
    // an initializer listed as an input is not something to feed
    expect(signature.inputs).toEqual([{ name: 'x', elemType: 1, shape: ['batch', 3] }]);
    expect(signature.outputs).toEqual([{ name: 'y', elemType: 16, shape: ['batch', ''] }]);
  });

  it('reads the fixtures the way onnx does', () => {
    const signature = readGraphSignature(readFileSync(fixture('resnet.onnx')));
    expect(signature.inputs).toEqual([{ name: 'input', elemType: 1, shape: ['batch', 3, 16, 16] }]);
    expect(signature.outputs.map((o) => o.name)).toEqual(['output']);
  });

  it('rejects bytes that are not protobuf', () => {
    expect(() => readGraphSignature(Buffer.from([0x0a, 0xff, 0xff]))).toThrow(/truncated|malformed/);
  });
});

describe('running models in-process', () => {
  const dir = scratch();

  it('runs every element type onnxruntime-node carries (Identity per type)', async () => {
    const types = ['float32', 'float64', 'float16', 'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64', 'bool'] as const;
    const path = writeModel(dir, 'identity.onnx', {
      inputs: types.map((t) => ({ name: `in_${t}`, dtype: t, shape: [2, 'n'] })),
      outputs: types.map((t) => ({ name: `out_${t}`, dtype: t, shape: [2, 'n'] })),
      nodes: types.map((t) => ({ op: 'Identity', inputs: [`in_${t}`], outputs: [`out_${t}`] })),
    });
    const result = await runModel({ modelPath: path, choice: cpu, inputSpecs: [], inputOptions: { ...noInputs, dims: new Map([['n', 3]]) } });
    for (const t of types) {
      const input = result.inputs.inputs.find((i) => i.name === `in_${t}`)!.tensor;
      expect(result.outputs.get(`out_${t}`), t).toEqual(input);
      expect(input.shape).toEqual([2, 3]);
    }
  });

  it('runs a model with a bfloat16 input through a float32 copy with a Cast, instead of failing with "Unsupported data type: 16"', async () => {
    const path = writeModel(dir, 'bf16.onnx', {
      inputs: [{ name: 'x_bf16', dtype: 16, shape: [3] }],
      outputs: [{ name: 'y', dtype: 'float32', shape: [3] }],
      nodes: [{ op: 'Cast', inputs: ['x_bf16'], outputs: ['y'], attributes: { to: { kind: 'int', value: 1 } } }],
    });
    const before = readFileSync(path);
    const result = await runModel({ modelPath: path, choice: cpu, inputSpecs: [parseInputSpec('x_bf16=ones')], inputOptions: noInputs });
    expect(result.boundaryCast).toEqual({ inputs: ['x_bf16'], outputs: [], types: { x_bf16: 'bfloat16' } });
    expect(result.inputs.inputs[0]).toMatchObject({ name: 'x_bf16', castFrom: 'bfloat16', tensor: { dtype: 'float32', shape: [3] } });
    expect(result.outputs.get('y')).toEqual({ dtype: 'float32', shape: [3], data: Float32Array.of(1, 1, 1) });
    expect(readFileSync(path).equals(before)).toBe(true);
  });

  it('refuses a bfloat16 input passed straight through to an output of the same name', async () => {
    const path = writeModel(dir, 'bf16-through.onnx', {
      inputs: [{ name: 'x', dtype: 16, shape: [3] }],
      outputs: [
        { name: 'x', dtype: 16, shape: [3] },
        { name: 'y', dtype: 'float32', shape: [3] },
      ],
      nodes: [{ op: 'Cast', inputs: ['x'], outputs: ['y'], attributes: { to: { kind: 'int', value: 1 } } }],
    });
    await expect(runModel({ modelPath: path, choice: cpu, inputSpecs: [], inputOptions: noInputs })).rejects.toThrow(
      /output 'x' is the bfloat16 input of the same name, passed straight through/,
    );
  });

  it('records which provider ran each node', async () => {
    const result = await runModel({ modelPath: fixture('resnet.onnx'), choice: cpu, inputSpecs: [], inputOptions: noInputs });
    expect(result.ep).toBe('cpu');
    expect(result.placement!.nodes.length).toBeGreaterThan(5);
    expect(Object.keys(result.placement!.byProvider)).toEqual(['CPUExecutionProvider']);
    expect(result.cpuFallbackNodes).toBeUndefined();
  });

  it('times runs after the first, calling back between them', async () => {
    const seen: number[] = [];
    const result = await runModel({
      modelPath: fixture('resnet.onnx'),
      choice: cpu,
      inputSpecs: [parseInputSpec(`input=${fixture('resnet_input.npy')}`)],
      inputOptions: noInputs,
      warmup: 2,
      repeat: 5,
      onTimedRun: (done) => seen.push(done),
    });
    expect(seen).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(result.timings.latencyMs!.runs).toBe(5);
    expect(result.timings.latencyMs!.min).toBeLessThanOrEqual(result.timings.latencyMs!.p50);
  });

  // On a machine with the CUDA provider installed, gpu.test.ts covers these instead.
  const cudaInstalled = diagnoseProvider('cuda').providerFiles.every((f) => f.path !== undefined);

  it.skipIf(cudaInstalled)('falls back from CUDA to the CPU under auto when the CUDA provider is missing, and says why', async () => {
    const result = await runModel({ modelPath: fixture('resnet.onnx'), choice: parseProviderChoice('auto'), inputSpecs: [], inputOptions: noInputs });
    expect(result.ep).toBe('cpu');
    expect(result.skipped.map((s) => s.provider)).toEqual(['cuda']);
    expect(result.skipped[0]!.reason).toMatch(/CUDA provider not installed: .*libonnxruntime_providers_/);
  });

  it.skipIf(cudaInstalled)('refuses an explicit provider that cannot load, naming what is missing and how to install it', async () => {
    await expect(runModel({ modelPath: fixture('resnet.onnx'), choice: parseProviderChoice('cuda'), inputSpecs: [], inputOptions: noInputs })).rejects.toThrow(
      /--ep cuda: CUDA provider not installed: libonnxruntime_providers_shared\.so and libonnxruntime_providers_cuda\.so missing .*; to install: ONNXRUNTIME_NODE_INSTALL=1 node .*install\.js \(modsurg doctor/,
    );
  });

  it('names a missing input file', async () => {
    const missing = runModel({ modelPath: fixture('resnet.onnx'), choice: cpu, inputSpecs: [parseInputSpec('input=nowhere.npy')], inputOptions: noInputs });
    await expect(missing).rejects.toMatchObject({ message: 'no such file', file: 'nowhere.npy' });
  });

  it('names a missing or broken model file', async () => {
    await expect(runModel({ modelPath: 'nowhere.onnx', choice: cpu, inputSpecs: [], inputOptions: noInputs })).rejects.toMatchObject({ file: 'nowhere.onnx', message: 'no such file' });
    const broken = writeModel(dir, 'broken.onnx', { inputs: [], outputs: [], nodes: [] });
    await expect(runModel({ modelPath: broken, choice: cpu, inputSpecs: [], inputOptions: noInputs })).rejects.toThrow(/onnxruntime cannot load the model/);
  });
});

describe('providers', () => {
  it('parses --ep', () => {
    expect(parseProviderChoice('auto')).toEqual({ candidates: ['cuda', 'cpu'], fallback: true, requested: 'auto' });
    expect(parseProviderChoice('CUDA')).toEqual({ candidates: ['cuda'], fallback: false, requested: 'cuda' });
    expect(parseProviderChoice('webgpu, cpu')).toMatchObject({ candidates: ['webgpu', 'cpu'], fallback: true });
    expect(() => parseProviderChoice('tpu')).toThrow(/unknown execution provider 'tpu'/);
    expect(() => parseProviderChoice(',')).toThrow(/no provider/);
  });

  it('knows which CUDA major each onnxruntime needs', () => {
    expect(cudaMajorFor('1.30.0')).toBe(13);
    expect(cudaMajorFor('1.29.0')).toBe(13);
    expect(cudaMajorFor('1.22.0')).toBe(12);
  });

  it('reads node placements from a profiling trace', () => {
    const trace = [
      { cat: 'Session', name: 'model_run' },
      { cat: 'Node', name: 'Conv_0_kernel_time', args: { provider: 'CUDAExecutionProvider', op_name: 'Conv' } },
      { cat: 'Node', name: 'Shape_1_kernel_time', args: { provider: 'CPUExecutionProvider', op_name: 'Shape' } },
      { cat: 'Node', name: 'Conv_0_fence_before', args: { provider: 'CUDAExecutionProvider', op_name: 'Conv' } },
    ];
    const placement = placementFromProfile(trace);
    expect(placement.byProvider).toEqual({ CUDAExecutionProvider: 1, CPUExecutionProvider: 1 });
    expect(nodesOffProvider(placement, 'CUDAExecutionProvider')).toEqual([{ name: 'Shape_1', op: 'Shape', provider: 'CPUExecutionProvider' }]);
    expect(placementFromProfile({ not: 'a trace' }).nodes).toEqual([]);
  });
});

describe('signatures and native causes', () => {
  const dir = scratch();

  it('falls back to the model file when a session has no metadata (older onnxruntime-node)', async () => {
    const { signatureOf } = await import('../../src/runtime/signature.js');
    const path = writeModel(dir, 'meta.onnx', {
      inputs: [{ name: 'x', dtype: 'int32', shape: ['n', 2] }],
      outputs: [{ name: 'y', dtype: 'int32', shape: ['n', 2] }],
      nodes: [{ op: 'Identity', inputs: ['x'], outputs: ['y'] }],
    });
    const session = { inputNames: ['x'], outputNames: ['y'], inputMetadata: undefined, outputMetadata: undefined } as unknown as Parameters<typeof signatureOf>[0];
    expect(signatureOf(session, path)).toEqual({
      inputs: [{ name: 'x', dtype: 'int32', shape: ['n', 2] }],
      outputs: [{ name: 'y', dtype: 'int32', shape: ['n', 2] }],
    });
  });

  it('pulls the failing library out of onnxruntime\'s log', async () => {
    const { nativeCause } = await import('../../src/runtime/doctor.js');
    const log =
      '\x1b[1;31m2026-11-28 [E:onnxruntime:onnxruntime-node, provider_bridge_ort.cc:2146 Create] ... FAIL : Failed to load library /opt/x/libonnxruntime_providers_cuda.so with error: libcublasLt.so.13: cannot open shared object file: No such file or directory\n\x1b[m';
    expect(nativeCause(log)).toBe(' (onnxruntime: Failed to load library libonnxruntime_providers_cuda.so with error: libcublasLt.so.13: cannot open shared object file: No such file or directory)');
    expect(nativeCause('CUDA failure 100: no CUDA-capable device is detected ; GPU=0')).toBe(' (onnxruntime: CUDA failure 100: no CUDA-capable device is detected)');
    expect(nativeCause('nothing useful')).toBe('');
  });
});
