import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { onnxTypes } from '../../src/graph/onnx-schema.js';
import { readOnnxModel } from '../../src/graph/model.js';
import { BufferSource } from '../../src/io/byte-source.js';
import { boundaryCastCopy } from '../../src/runtime/boundary-cast.js';
import { numericTensor } from '../../src/runtime/dtypes.js';
import { encodeTinyModel } from '../../src/runtime/tiny-model.js';
import { readNpyFile, readNpzFile } from '../../src/runtime/tensor-files.js';
import { ORACLE_PYTHON, ORACLE_SKIP, python } from '../helpers/oracle.js';
import { cli, errorLines, fixture, scratch } from './helpers.js';

/**
 * bfloat16 graph inputs and outputs, which onnxruntime-node has no tensor type for: `run` and `verify`
 * run an in-memory copy of the model with Cast nodes at its boundary, feeding and fetching float32.
 * The models and NumPy's answers come from test/runtime/data/make_bf16_models.py.
 */

const CAST = 'Cast';

describe('the float32-boundary copy of a bfloat16 model', () => {
  const castTo = (node: { attribute?: { name?: string; i?: number }[] }): number | undefined => node.attribute?.find((a) => a.name === 'to')?.i;

  it('declares bfloat16 inputs and outputs float32 under the same names, with Casts next to them, and leaves the original bytes alone', () => {
    const bytes = Buffer.from(
      encodeTinyModel({
        inputs: [
          { name: 'x', dtype: 16, shape: [2, 'n'] },
          { name: 'k', dtype: 'float32', shape: [1] },
        ],
        outputs: [
          { name: 'y', dtype: 16, shape: [2, 'n'] },
          { name: 'z', dtype: 'float32', shape: [2, 'n'] },
        ],
        nodes: [
          // a tensor already called x_bfloat16: the new names must not clash with it
          { op: 'Identity', inputs: ['x'], outputs: ['x_bfloat16'] },
          { op: 'Identity', inputs: ['x_bfloat16'], outputs: ['y'] },
          { op: 'Cast', inputs: ['y'], outputs: ['z'], attributes: { to: { kind: 'int', value: 1 } } },
        ],
      }),
    );
    const original = Buffer.from(bytes);
    const copy = boundaryCastCopy(bytes, '/models/m.onnx')!;
    expect(bytes.equals(original)).toBe(true);
    expect(copy.cast).toEqual({ inputs: ['x'], outputs: ['y'], types: { x: 'bfloat16', y: 'bfloat16' } });
    expect(copy.folder).toBe('/models');

    const graph = readOnnxModel(new BufferSource('copy', Buffer.from(copy.bytes)), undefined).graph;
    const type = (v: { proto: { name?: string; type?: { tensor_type?: { elem_type?: number; shape?: unknown } } } }) => [v.proto.name, v.proto.type?.tensor_type?.elem_type];
    expect(graph.inputs.map(type)).toEqual([['x', 1], ['k', 1]]);
    expect(graph.outputs.map(type)).toEqual([['y', 1], ['z', 1]]);
    expect(graph.inputs[0]!.proto.type!.tensor_type!.shape).toEqual({ dim: [{ dim_value: 2 }, { dim_param: 'n' }] });
    const nodes = graph.nodes.map((n) => ({ op: n.proto.op_type, input: n.proto.input, output: n.proto.output, to: castTo(n.proto) }));
    expect(nodes).toEqual([
      { op: CAST, input: ['x'], output: ['x_bfloat16_1'], to: 16 },
      { op: 'Identity', input: ['x_bfloat16_1'], output: ['x_bfloat16'], to: undefined },
      // y's producer and its other reader use the internal (bfloat16) name
      { op: 'Identity', input: ['x_bfloat16'], output: ['y_bfloat16'], to: undefined },
      { op: CAST, input: ['y_bfloat16'], output: ['z'], to: 1 },
      { op: CAST, input: ['y_bfloat16'], output: ['y'], to: 1 },
    ]);
    expect(graph.valueInfo.map(type)).toEqual([['x_bfloat16_1', 16], ['y_bfloat16', 16]]);
  });

  it('makes no copy of a model without bfloat16 inputs or outputs', () => {
    expect(boundaryCastCopy(readFileSync(fixture('resnet.onnx')), fixture('resnet.onnx'))).toBeUndefined();
  });

  it('refuses bfloat16 inside a sequence, which a Cast cannot convert', () => {
    const model = onnxTypes.ModelProto.encode(
      onnxTypes.ModelProto.fromObject({
        ir_version: 8,
        opset_import: [{ domain: '', version: 17 }],
        graph: {
          name: 'g',
          node: [{ op_type: 'SequenceLength', input: ['s'], output: ['n'] }],
          input: [{ name: 's', type: { sequence_type: { elem_type: { tensor_type: { elem_type: 16 } } } } }],
          output: [{ name: 'n', type: { tensor_type: { elem_type: 7, shape: { dim: [] } } } }],
        },
      }),
    ).finish();
    expect(() => boundaryCastCopy(Buffer.from(model), 'seq.onnx')).toThrow(/^input 's' holds bfloat16 or float8 inside a sequence, map or optional, which onnxruntime-node cannot feed or fetch and a Cast cannot convert/);
  });
});

interface Json {
  ok: boolean;
  castThroughFloat32?: { inputs: string[]; outputs: string[]; types: Record<string, string> };
  feeds: { name: string; dtype: string; modelDtype?: string; source: string }[];
  outputs: { name: string; dtype: string; modelDtype?: string; shape: number[] }[];
  comparison?: { outputs: { name: string; pass: boolean; maxAbsErr: number; mismatches: number }[] };
}

const sha256 = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

describe.skipIf(!ORACLE_PYTHON)(`run and verify on bfloat16 models, against NumPy${ORACLE_SKIP}`, () => {
  const dir = scratch();
  const data = join(dir, 'models');
  const at = (name: string): string => join(data, name);
  const hashes = new Map<string, string>();
  let listing: string[] = [];

  beforeAll(() => {
    const made = python(readFileSync(join(import.meta.dirname, 'data/make_bf16_models.py'), 'utf8'), [data]);
    expect(made.status, made.stderr).toBe(0);
    listing = readdirSync(data).sort();
    for (const name of listing) if (/\.onnx(\.data)?$/.test(name)) hashes.set(name, sha256(at(name)));
  });

  const note = (model: string, what: string): string => `note: ${model} has bfloat16 inputs/outputs (${what}); ran a copy with Cast nodes converting through float32`;
  const noteLines = (stderr: string): string[] => stderr.split('\n').filter((line) => line.startsWith('note:'));

  it('run: inputs are rounded to bfloat16 (ties to even), outputs come back exactly, as NumPy computes; one note on stderr (in the report with --json)', () => {
    const model = at('mul2.onnx');
    const saved = join(dir, 'mul2-out.npz');
    const args = ['run', model, '--ep', 'cpu', '-i', `x=${at('x.npy')}`, '--compare', `y=${at('y_expected.npy')}`, '--atol', '0', '--rtol', '0', '--save', saved];
    expect(noteLines(cli(args).stderr)).toEqual([note(model, "input 'x', output 'y'")]);
    const run = cli([...args, '--json']);
    expect(run.status, run.stderr).toBe(0);
    expect(run.stderr).toBe('');
    const report = JSON.parse(run.stdout) as Json;
    expect(report.ok).toBe(true);
    expect(report.comparison!.outputs).toEqual([expect.objectContaining({ name: 'y', pass: true, mismatches: 0, maxAbsErr: 0 })]);
    expect(report.castThroughFloat32).toEqual({ inputs: ['x'], outputs: ['y'], types: { x: 'bfloat16', y: 'bfloat16' } });
    expect(report.feeds).toEqual([{ name: 'x', dtype: 'float32', modelDtype: 'bfloat16', shape: [4, 3], source: at('x.npy') }]);
    expect(report.outputs[0]).toMatchObject({ name: 'y', dtype: 'float32', modelDtype: 'bfloat16', shape: [4, 3] });
    // the saved output, bit for bit (NaN, inf and -0 included)
    const y = numericTensor(readNpzFile(saved).get('y')!, 'y');
    const expected = numericTensor(readNpyFile(at('y_expected.npy')), 'y_expected');
    expect(y.dtype).toBe('float32');
    expect(new Uint32Array(y.data.buffer, y.data.byteOffset, 12)).toEqual(new Uint32Array(expected.data.buffer, expected.data.byteOffset, 12));
  });

  it('run: the text report labels them bfloat16 (as float32)', () => {
    const run = cli(['run', at('mul2.onnx'), '--ep', 'cpu', '-i', `x=${at('x.npy')}`]);
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/\n {2}x +bfloat16 \(as float32\) \[4,3\] /);
    expect(run.stdout).toMatch(/\n {2}y +bfloat16 \(as float32\) +\[4,3\] /);
  });

  it.each(['exact.npy', 'exact64.npy', 'exact16.npy'])('run: a bfloat16 input takes float32, float64 and float16 files (%s)', (file) => {
    const run = cli(['run', at('mul2.onnx'), '--ep', 'cpu', '-i', `x=${at(file)}`, '--compare', at('exact_y.npy'), '--atol', '0', '--rtol', '0', '--json']);
    expect(run.status, run.stderr).toBe(0);
    expect((JSON.parse(run.stdout) as Json).feeds[0]).toMatchObject({ dtype: 'float32', modelDtype: 'bfloat16' });
  });

  it('run: an integer file for a bfloat16 input is refused before running', () => {
    const run = cli(['run', at('mul2.onnx'), '--ep', 'cpu', '-i', `x=${at('exact_int.npy')}`]);
    expect(run.status).toBe(2);
    expect(errorLines(run)).toEqual([`error: ${at('exact_int.npy')}: input 'x': expected bfloat16 (as float32) [batch,3], given int32 [2,3] (wrong dtype: give bfloat16 inputs as float32, float16 or float64)`]);
  });

  it('run: random inputs are made as float32; replayed through NumPy they give the same outputs', () => {
    const inputs = join(dir, 'random-in.npz');
    const outputs = join(dir, 'random-out.npz');
    const run = cli(['run', at('mul2.onnx'), '--ep', 'cpu', '--dim', 'batch=64', '--range', '-1000:1000', '--save-inputs', inputs, '--save', outputs, '--json']);
    expect(run.status, run.stderr).toBe(0);
    expect((JSON.parse(run.stdout) as Json).feeds[0]).toMatchObject({ dtype: 'float32', modelDtype: 'bfloat16', source: 'random [-1000, 1000) seed 0' });
    const check = python(
      `import json, sys, numpy as np
x = np.load(sys.argv[1])['x']; y = np.load(sys.argv[2])['y']
def bf16(a):
    u = a.astype(np.float32).view(np.uint32).astype(np.uint64)
    return (((u + 0x7FFF + ((u >> 16) & 1)) >> 16) << 16).astype(np.uint32).view(np.float32)
rounded = int((bf16(x) != x).sum())
print(json.dumps({"dtype": str(x.dtype), "equal": bool(np.array_equal(y, bf16(bf16(x) * np.float32(2)))), "rounded": rounded}))`,
      [inputs, outputs],
    );
    expect(check.status, check.stderr).toBe(0);
    const verdict = JSON.parse(check.stdout) as { dtype: string; equal: boolean; rounded: number };
    expect(verdict.dtype).toBe('float32');
    expect(verdict.equal).toBe(true);
    expect(verdict.rounded).toBeGreaterThan(100); // the inputs did need rounding
  });

  it('run: bfloat16 weights in external data, a bfloat16 output also read inside the graph', () => {
    const model = at('weights.onnx');
    const run = cli(['run', model, '--ep', 'cpu', '-i', at('xw.npy'), '--compare', at('weights_expected.npz'), '--atol', '0', '--rtol', '0', '--json']);
    expect(run.status, run.stderr).toBe(0);
    expect(run.stderr).toBe('');
    const report = JSON.parse(run.stdout) as Json;
    expect(report.castThroughFloat32).toEqual({ inputs: ['x'], outputs: ['y'], types: { x: 'bfloat16', y: 'bfloat16' } });
    expect(report.comparison!.outputs.map((o) => [o.name, o.pass, o.maxAbsErr])).toEqual([
      ['y', true, 0],
      ['z', true, 0],
    ]);
    expect(report.outputs.map((o) => [o.name, o.dtype, o.modelDtype])).toEqual([
      ['y', 'float32', 'bfloat16'],
      ['z', 'float32', undefined],
    ]);
  });

  it.each(['true', 'false'])('run: If branches that read the bfloat16 input from the outer scope (c=%s)', (c) => {
    const run = cli(['run', at('if.onnx'), '--ep', 'cpu', '-i', at(`if_${c}.npz`), '--compare', at(`if_${c}_y.npy`), '--atol', '0', '--rtol', '0']);
    expect(run.status, run.stdout + run.stderr).toBe(0);
    expect(noteLines(run.stderr)).toEqual([note(at('if.onnx'), "input 'x'")]);
  });

  it('run: a bfloat16 output that is a constant (an initializer)', () => {
    const run = cli(['run', at('const.onnx'), '--ep', 'cpu', '--compare', `k=${at('k_expected.npy')}`, '--atol', '0', '--rtol', '0', '--json']);
    expect(run.status, run.stderr).toBe(0);
    expect((JSON.parse(run.stdout) as Json).castThroughFloat32).toEqual({ inputs: [], outputs: ['k'], types: { k: 'bfloat16' } });
  });

  it('verify: a bfloat16 model against its float32 twin, on inputs bfloat16 holds exactly', () => {
    const run = cli(['verify', at('mul2.onnx'), at('mul2_f32.onnx'), '--ep', 'cpu', '-i', `x=${at('exact.npy')}`, '--atol', '0', '--rtol', '0', '--json']);
    expect(run.status, run.stdout + run.stderr).toBe(0);
    expect(run.stderr).toBe('');
    const report = JSON.parse(run.stdout) as { ok: boolean; reference: { castThroughFloat32?: unknown }; candidate: { castThroughFloat32?: unknown } };
    expect(report.ok).toBe(true);
    expect(report.reference.castThroughFloat32).toEqual({ inputs: ['x'], outputs: ['y'], types: { x: 'bfloat16', y: 'bfloat16' } });
    expect(report.candidate.castThroughFloat32).toBeUndefined();
  });

  it('verify: the twin the other way round, in text', () => {
    const run = cli(['verify', at('mul2_f32.onnx'), at('mul2.onnx'), '--ep', 'cpu', '-i', `x=${at('exact.npy')}`, '--atol', '0', '--rtol', '0']);
    expect(run.status, run.stdout + run.stderr).toBe(0);
    expect(run.stdout).toContain(`candidate: ${at('mul2.onnx')} on cpu (bfloat16 input 'x', output 'y' run as float32 through Casts)`);
    expect(run.stdout).toMatch(/\n {2}x +bfloat16 \(as float32\) \[2,3\] /);
  });

  it('verify --ep-compare cpu,cpu on a bfloat16 model: one note, a pass', () => {
    const run = cli(['verify', at('weights.onnx'), '--ep-compare', 'cpu,cpu', '--atol', '0', '--rtol', '0']);
    expect(run.status, run.stdout + run.stderr).toBe(0);
    expect(noteLines(run.stderr)).toEqual([note(at('weights.onnx'), "input 'x', output 'y'")]);
  });

  it('left every model file byte-identical and wrote nothing next to them', () => {
    expect(readdirSync(data).sort()).toEqual(listing);
    expect(hashes.size).toBe(6);
    for (const [name, hash] of hashes) expect(sha256(at(name)), name).toBe(hash);
  });
});
