import { describe, expect, it } from 'vitest';
import { cli, fixture } from './runtime/helpers.js';

/**
 * The GPU check: CUDA against the CPU and against PyTorch on the fixture models. It runs only where the
 * CUDA execution provider really loads (as `modsurg doctor` proves on a tiny model); elsewhere the
 * whole suite is skipped, with the reason in its name. On the GPU machines, which have no dev
 * dependencies, scripts/gpu-check.sh does the same through the CLI alone.
 */

interface DoctorJson {
  providers: { name: string; works: boolean; reason?: string }[];
}

function cudaStatus(): { works: boolean; reason: string } {
  const run = cli(['doctor', '--json']);
  if (run.status !== 0) return { works: false, reason: `modsurg doctor failed: ${run.stderr.trim().split('\n')[0]}` };
  const cuda = (JSON.parse(run.stdout) as DoctorJson).providers.find((p) => p.name === 'cuda');
  return { works: cuda?.works === true, reason: cuda?.reason ?? 'doctor did not report CUDA' };
}

const cuda = cudaStatus();
const suite = cuda.works ? describe : describe.skip;
const title = cuda.works ? 'GPU check (CUDA provider loads)' : `GPU check (skipped: CUDA provider not loadable here: ${cuda.reason})`;
// Said out loud, since a skipped suite is easy to miss in a summary.
if (!cuda.works) console.info(title);

const models = [
  { model: 'resnet.onnx', input: 'resnet_input.npy', output: 'resnet_output.npy' },
  { model: 'resnet_dynamo.onnx', input: 'resnet_input.npy', output: 'resnet_output.npy' },
  { model: 'unet.onnx', input: 'unet_input.npy', output: 'unet_output.npy' },
];

/** Ops whose kernels CUDA has; if one of these ran on the CPU the GPU run is not what it claims. */
const HEAVY_OPS = /^(Conv|FusedConv|Gemm|FusedGemm|MatMul|FusedMatMul|ConvTranspose|BatchNormalization|Resize)$/;

interface PlacedNode {
  name: string;
  op: string;
  provider: string;
}

suite(title, () => {
  it.each(models)('run --ep cuda on $model matches PyTorch within 1e-4', ({ model, input, output }) => {
    const run = cli(['run', fixture(model), '--ep', 'cuda', '-i', `input=${fixture(input)}`, '--compare', `output=${fixture(output)}`, '--atol', '1e-4', '--json']);
    expect(run.status, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout) as { ep: string; pass: boolean; cpuFallbackNodes: PlacedNode[] };
    expect(report.ep).toBe('cuda');
    expect(report.pass).toBe(true);
  });

  it.each(models)('verify --ep-compare cuda,cpu on $model agrees within 1e-4, with the heavy nodes on the GPU', ({ model, input }) => {
    const run = cli(['verify', fixture(model), '--ep-compare', 'cuda,cpu', '-i', `input=${fixture(input)}`, '--atol', '1e-4', '--json']);
    expect(run.status, run.stdout + run.stderr).toBe(0);
    const report = JSON.parse(run.stdout) as { pass: boolean; candidate: { ep: string; cpuFallbackNodes: PlacedNode[] | null } };
    expect(report.pass).toBe(true);
    expect(report.candidate.ep).toBe('cuda');
    const fallback = report.candidate.cpuFallbackNodes ?? [];
    // Shape arithmetic stays on the CPU by design; report it, fail only for compute nodes.
    if (fallback.length > 0) console.info(`${model}: nodes not on CUDA: ${fallback.map((n) => `${n.name} (${n.op})`).join(', ')}`);
    expect(fallback.filter((n) => HEAVY_OPS.test(n.op))).toEqual([]);
  });
});

describe('GPU check gate', () => {
  it(`knows whether CUDA loads here (${cuda.works ? 'yes' : `no: ${cuda.reason}`})`, () => {
    expect(typeof cuda.works).toBe('boolean');
  });
});
