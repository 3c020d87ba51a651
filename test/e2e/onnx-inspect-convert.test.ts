import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixture, modsurg, scratchDir, succeeds } from '../helpers/cli.js';
import { FORWARD_ATOL, ORACLE_PYTHON, ORACLE_SKIP, oracle, python } from '../helpers/oracle.js';

/** `inspect` and `convert` on ONNX models, end to end; the written models are judged by onnx and onnxruntime. */
const dir = scratchDir();
const out = (...parts: string[]): string => join(dir, ...parts);

const run = succeeds;

/** In process (the CLI's own entry point, as bin/run.js calls it): many refusals need no Node start-up each. */
async function fails(args: string[], message: RegExp): Promise<void> {
  const result = modsurg(args);
  expect(result.status).toBe(2);
  expect(result.stderr).toMatch(message);
  expect(result.stderr.trim().split('\n')).toHaveLength(1);
}

/** Runs Python with the oracle and parses the JSON it prints last. */
function py<T>(code: string, args: string[] = []): T {
  const result = python(code, args);
  expect(result.status, result.stderr).toBe(0);
  return JSON.parse(result.stdout.trim().split('\n').pop()!) as T;
}

/** onnxruntime runs the model on the fixture input and matches the fixture output; onnx's checker (on the loaded model) passes. */
function runsLike(model: string, input: string, expected: string): void {
  const verdict = oracle('run_onnx.py', [model, '--input', fixture(input), '--expect', fixture(expected), '--check']);
  expect(verdict.ok, JSON.stringify(verdict)).toBe(true);
}

/** onnx.checker.check_model by path with full_check: it reads and checks every external data reference. */
function checksByPath(model: string): void {
  const verdict = py<{ ok: boolean; error?: string }>(
    `import json, sys, onnx
try:
    onnx.checker.check_model(sys.argv[1], full_check=True)
    print(json.dumps({"ok": True}))
except Exception as e:
    print(json.dumps({"ok": False, "error": str(e)[:500]}))`,
    [model],
  );
  expect(verdict, model).toEqual({ ok: true });
}

const externalRefs = (model: string): { name: string; location: string; offset: number; length: number }[] =>
  py(
    `import json, sys, onnx
m = onnx.load(sys.argv[1], load_external_data=False)
refs = []
for t in m.graph.initializer:
    if t.data_location == onnx.TensorProto.EXTERNAL:
        e = {x.key: x.value for x in t.external_data}
        refs.append({"name": t.name, "location": e["location"], "offset": int(e.get("offset", 0)), "length": int(e["length"])})
print(json.dumps(refs))`,
    [model],
  );

describe('inspect on ONNX models', () => {
  it('text: header, inputs/outputs with symbolic dims, ops, parameters, the module tree', () => {
    const { stdout } = run(['inspect', fixture('unet.onnx'), '--depth', '1']);
    expect(stdout).toMatch(/unet\.onnx: ONNX, 35\.5 KB \(IR 8, opset 17, producer pytorch 2\.13\.0\)/);
    expect(stdout).toContain('  input  float32[batch, 3, 16, 16]');
    expect(stdout).toContain('  output  float32[batch, 2, 16, 16]');
    expect(stdout).toMatch(/^ops: Constant ×46, Unsqueeze ×16, /m);
    expect(stdout).toContain('parameters: 22 initializers, 4,210 parameters');
    expect(stdout).toContain('    (up2): Module(…)  69 nodes, 440 params');
  });

  it('--json: format, header, io, ops, tensors, totals, modules', () => {
    const report = JSON.parse(run(['inspect', fixture('resnet_dynamo.onnx'), '--json']).stdout) as Record<string, unknown>;
    expect(report).toMatchObject({
      format: 'onnx',
      irVersion: 10,
      opsets: [{ domain: '', version: 20 }],
      producer: { name: 'pytorch', version: '2.13.0+cpu' },
      command: 'inspect',
      inputs: [fixture('resnet_dynamo.onnx')],
      output: null,
      ok: true,
      graphInputs: [{ name: 'input', dtype: 'float32', shape: ['batch', 3, 16, 16] }],
      graphOutputs: [{ name: 'output', dtype: 'float32', shape: ['batch', 10] }],
      ops: { Conv: 10, Relu: 9, Add: 4, ReduceMean: 1, Reshape: 1, Gemm: 1 },
      totals: { tensors: 24, params: 2886, bytes: 11560, dtypes: { float32: 22, int64: 2 } },
      modules: { path: '', kind: 'TinyResNet', nodes: 26 },
    });
    expect((report.tensors as unknown[])[0]).toEqual({ name: 'conv1.weight', dtype: 'float32', shape: [4, 3, 3, 3], bytes: 432 });
  });

  it('reads stdin, and -q prints nothing', () => {
    expect(run(['inspect', '-'], readFileSync(fixture('resnet.onnx'))).stdout).toMatch(/^-: ONNX, 16\.4 KB/);
    expect(run(['inspect', fixture('resnet.onnx'), '-q']).stdout).toBe('');
  });
});

describe.skipIf(!ORACLE_PYTHON)(`convert ONNX initializers to checkpoints${ORACLE_SKIP}`, () => {
  it('resnet_unfolded.onnx → safetensors: every initializer is its state-dict tensor, bit for bit', () => {
    run(['convert', fixture('resnet_unfolded.onnx'), '-o', out('unfolded.safetensors')]);
    const verdict = py<{ missing: string[]; extra: string[]; different: string[]; same: number; format: string }>(
      `import json, sys, torch
from safetensors import safe_open
from safetensors.torch import load_file
got = load_file(sys.argv[1])
ref = torch.load(sys.argv[2], weights_only=True)
with safe_open(sys.argv[1], "pt") as f:
    fmt = f.metadata().get("format")
same = [k for k in got if k in ref and got[k].dtype == ref[k].dtype and got[k].shape == ref[k].shape
        and torch.equal(got[k].view(torch.uint8) if got[k].dim() else got[k], ref[k].view(torch.uint8) if ref[k].dim() else ref[k])]
print(json.dumps({"missing": [k for k in ref if k not in got], "extra": [k for k in got if k not in ref],
                  "different": [k for k in got if k in ref and k not in same], "same": len(same), "format": fmt}))`,
      [out('unfolded.safetensors'), fixture('resnet_sd.pth')],
    );
    expect(verdict.extra).toEqual([]);
    expect(verdict.different).toEqual([]);
    expect(verdict.same).toBe(52);
    // the exporter keeps no initializer for BN's step counters
    expect(verdict.missing.every((k) => k.endsWith('num_batches_tracked'))).toBe(true);
    expect(verdict.format).toBe('pt');
  });

  it('→ .pth: an OrderedDict in graph order that torch.load(weights_only=True) reads', () => {
    run(['convert', fixture('resnet_dynamo.onnx'), '-o', out('dynamo.pth')]);
    const keys = py<string[]>(`import json, sys, torch
sd = torch.load(sys.argv[1], weights_only=True)
print(json.dumps([type(sd).__name__] + list(sd)))`, [out('dynamo.pth')]);
    const graphOrder = py<string[]>(`import json, sys, onnx
print(json.dumps([t.name for t in onnx.load(sys.argv[1]).graph.initializer]))`, [fixture('resnet_dynamo.onnx')]);
    expect(keys).toEqual(['OrderedDict', ...graphOrder]);
  });

  it('typed fields (int32_data, int64_data, uint64_data, double_data, float_data) decode as onnx reads them', () => {
    const model = out('typed.onnx');
    py(
      `import json, sys, numpy as np, onnx
from onnx import helper, TensorProto as T
P = T
inits = [
    helper.make_tensor("f32", T.FLOAT, [2, 2], [1.5, -2.0, 3.25, 0.0]),
    helper.make_tensor("i8", T.INT8, [3], [-128, 0, 127]),
    helper.make_tensor("u8", T.UINT8, [2], [0, 255]),
    helper.make_tensor("i16", T.INT16, [2], [-32768, 32767]),
    helper.make_tensor("u16", T.UINT16, [2], [0, 65535]),
    helper.make_tensor("i32", T.INT32, [2], [-2147483648, 2147483647]),
    helper.make_tensor("i64", T.INT64, [3], [-9223372036854775808, 9223372036854775807, -1]),
    helper.make_tensor("u32", T.UINT32, [2], [0, 4294967295]),
    helper.make_tensor("u64", T.UINT64, [2], [0, 18446744073709551615]),
    helper.make_tensor("b", T.BOOL, [3], [True, False, True]),
    helper.make_tensor("f16", T.FLOAT16, [3], np.array([1.0, -0.5, 65504.0], dtype=np.float16)),
    helper.make_tensor("bf16", T.BFLOAT16, [2], [1.0, -3.0]),
    helper.make_tensor("f64", T.DOUBLE, [2], [0.1, -1e300]),
    helper.make_tensor("c64", T.COMPLEX64, [2], [1 + 2j, -3 - 4j]),
    helper.make_tensor("c128", T.COMPLEX128, [1], [5 - 6j]),
    helper.make_tensor("e4m3", T.FLOAT8E4M3FN, [2], [1.0, -2.0]),
    helper.make_tensor("scalar", T.FLOAT, [], [7.0]),
]
assert not any(t.HasField("raw_data") for t in inits)
g = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "typed",
    [helper.make_tensor_value_info("x", T.FLOAT, [1])], [helper.make_tensor_value_info("y", T.FLOAT, [1])], inits)
onnx.save(helper.make_model(g), sys.argv[1])
print("{}")`,
      [model],
    );
    run(['convert', model, '-o', out('typed.pth')]);
    const diffs = py<string[]>(
      `import json, sys, numpy as np, onnx, torch
from onnx import numpy_helper
sd = torch.load(sys.argv[2], weights_only=True)
diffs = []
for t in onnx.load(sys.argv[1]).graph.initializer:
    want = numpy_helper.to_array(t)
    got = sd[t.name]
    raw = got.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes() if got.numel() else b""
    if list(got.shape) != list(want.shape) or raw != np.ascontiguousarray(want).tobytes():
        diffs.append("%s: %s %s vs %s %s" % (t.name, got.dtype, list(got.shape), want.dtype, list(want.shape)))
print(json.dumps(diffs))`,
      [model, out('typed.pth')],
    );
    expect(diffs).toEqual([]);
  });

  it('an initializer torch cannot hold is refused by name', async () => {
    const model = out('int4.onnx');
    py(
      `import sys, onnx
from onnx import helper, TensorProto as T
g = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
    [helper.make_tensor_value_info("x", T.FLOAT, [1])], [helper.make_tensor_value_info("y", T.FLOAT, [1])],
    [helper.make_tensor("w4", T.INT4, [4], [1, -2, 3, -4])])
onnx.save(helper.make_model(g), sys.argv[1])
print("{}")`,
      [model],
    );
    await fails(['convert', model, '-o', out('int4.safetensors')], /^error: .*int4\.onnx: initializer 'w4': element type int4 has no PyTorch dtype/);
  });
});

describe.skipIf(!ORACLE_PYTHON)(`external data in and out${ORACLE_SKIP}`, () => {
  const cases: [model: string, input: string, output: string][] = [
    ['resnet.onnx', 'resnet_input.npy', 'resnet_output.npy'],
    ['resnet_dynamo.onnx', 'resnet_input.npy', 'resnet_output.npy'],
    ['unet.onnx', 'unet_input.npy', 'unet_output.npy'],
  ];
  for (const [model, input, expected] of cases) {
    it(`${model}: --external-data runs in onnxruntime and passes the checker; --inline gives back the original bytes`, () => {
      const folder = out(model.replace('.onnx', '_ext'));
      mkdirSync(folder);
      const ext = join(folder, 'model.onnx');
      run(['convert', fixture(model), '--external-data', '-o', ext]);
      expect(readdirSync(folder).sort()).toEqual(['model.onnx', 'model.onnx.data']);
      const refs = externalRefs(ext);
      expect(refs.length).toBeGreaterThan(0);
      expect(refs.every((r) => r.location === 'model.onnx.data' && r.length >= 1024)).toBe(true);
      runsLike(ext, input, expected);
      checksByPath(ext);
      const back = out(model.replace('.onnx', '_back.onnx'));
      run(['convert', ext, '--inline', '-o', back]);
      expect(readFileSync(back).equals(readFileSync(fixture(model)))).toBe(true);
    });
  }

  it('--size-threshold 0 and --data-file: every initializer in the named file, packed back to back', () => {
    const folder = out('all');
    mkdirSync(join(folder, 'weights'), { recursive: true });
    const ext = join(folder, 'm.onnx');
    const report = JSON.parse(run(['convert', fixture('resnet.onnx'), '--external-data', '--size-threshold', '0', '--data-file', 'weights/w.bin', '-o', ext, '--json']).stdout);
    expect(report).toMatchObject({ format: 'onnx', dataFile: 'weights/w.bin', external: 22, inlined: 0, dataBytes: 2882 * 4 });
    const refs = externalRefs(ext);
    expect(refs.length).toBe(22);
    let end = 0;
    for (const r of refs) {
      expect(r).toMatchObject({ location: 'weights/w.bin', offset: end });
      end += r.length;
    }
    runsLike(ext, 'resnet_input.npy', 'resnet_output.npy');
    checksByPath(ext);
  });

  it('a tensor over 1 MiB starts on a 64 KiB boundary; the model still computes the same', () => {
    const big = out('big.onnx');
    py(
      `import sys, numpy as np, onnx
from onnx import helper, numpy_helper, TensorProto as T
rng = np.random.default_rng(0)
w = numpy_helper.from_array(rng.standard_normal((512, 640)).astype(np.float32), "w")
b = numpy_helper.from_array(rng.standard_normal((640,)).astype(np.float32), "b")
s = numpy_helper.from_array(rng.standard_normal((300,)).astype(np.float32), "s")
g = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Add", ["h", "b"], ["y"])], "big",
    [helper.make_tensor_value_info("x", T.FLOAT, [2, 512])], [helper.make_tensor_value_info("y", T.FLOAT, [2, 640])], [s, b, w])
onnx.save(helper.make_model(g, ir_version=8, opset_imports=[helper.make_opsetid("", 17)]), sys.argv[1])
np.save(sys.argv[2], rng.standard_normal((2, 512)).astype(np.float32))
import onnxruntime as ort
y = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"]).run(None, {"x": np.load(sys.argv[2])})[0]
np.save(sys.argv[3], y)
print("{}")`,
      [big, out('big_x.npy'), out('big_y.npy')],
    );
    mkdirSync(out('bigext'));
    const ext = out('bigext', 'big.onnx');
    run(['convert', big, '--external-data', '-o', ext]);
    expect(externalRefs(ext).map((r) => [r.name, r.offset])).toEqual([['s', 0], ['b', 1200], ['w', 65536]]);
    const verdict = oracle('run_onnx.py', [ext, '--input', `x=${out('big_x.npy')}`, '--expect', `y=${out('big_y.npy')}`, '--atol', FORWARD_ATOL, '--rtol', '1e-6', '--check']);
    expect(verdict.ok, JSON.stringify(verdict)).toBe(true);
    checksByPath(ext);
    run(['convert', ext, '--inline', '-o', out('big_back.onnx')]);
    expect(readFileSync(out('big_back.onnx')).equals(readFileSync(big))).toBe(true);
  });

  it('a model with external data, copied elsewhere: its data file is rewritten beside the copy', () => {
    mkdirSync(out('src'));
    mkdirSync(out('dst'));
    run(['convert', fixture('unet.onnx'), '--external-data', '-o', out('src', 'unet.onnx')]);
    const before = readFileSync(out('src', 'unet.onnx.data'));
    const { stdout } = run(['convert', out('src', 'unet.onnx'), '-o', out('dst', 'copy.onnx')]);
    expect(stdout).toMatch(/initializers \(.*\) in copy\.onnx\.data/);
    expect(readdirSync(out('dst')).sort()).toEqual(['copy.onnx', 'copy.onnx.data']);
    expect(externalRefs(out('dst', 'copy.onnx')).every((r) => r.location === 'copy.onnx.data')).toBe(true);
    expect(readFileSync(out('dst', 'copy.onnx.data')).equals(before)).toBe(true);
    runsLike(out('dst', 'copy.onnx'), 'unet_input.npy', 'unet_output.npy');
    // in place: the model and its data file are replaced together
    run(['convert', out('src', 'unet.onnx'), '-o', out('src', 'unet.onnx')]);
    runsLike(out('src', 'unet.onnx'), 'unet_input.npy', 'unet_output.npy');
    expect(readdirSync(out('src')).sort()).toEqual(['unet.onnx', 'unet.onnx.data']);
  });

  it('inspect names the data file', () => {
    mkdirSync(out('insp'));
    run(['convert', fixture('resnet.onnx'), '--external-data', '-o', out('insp', 'r.onnx')]);
    const { stdout } = run(['inspect', out('insp', 'r.onnx')]);
    expect(stdout).toMatch(/^external data: r\.onnx\.data \(\d+ initializers, /m);
    const report = JSON.parse(run(['inspect', out('insp', 'r.onnx'), '--json']).stdout);
    expect(report.externalData[0].location).toBe('r.onnx.data');
  });
});

describe('convert ONNX: what it refuses', () => {
  const ext = out('refuse', 'm.onnx');
  mkdirSync(out('refuse'));
  run(['convert', fixture('resnet.onnx'), '--external-data', '-o', ext]);

  it('stdout carries external data inline (a stream has no folder beside it); --external-data to stdout is refused', async () => {
    expect(run(['convert', ext, '-o', '-']).stdoutBytes.equals(readFileSync(fixture('resnet.onnx')))).toBe(true);
    await fails(['convert', fixture('resnet.onnx'), '--external-data', '-o', '-'], /^error: -: stdout cannot carry external data; write to a file, or use --inline/);
    expect(run(['convert', ext, '--inline', '-o', '-']).stdoutBytes.equals(readFileSync(fixture('resnet.onnx')))).toBe(true);
    expect(run(['convert', fixture('resnet.onnx'), '-o', '-']).stdoutBytes.equals(readFileSync(fixture('resnet.onnx')))).toBe(true);
  });

  it('a model with external data read from stdin', () => {
    const result = modsurg(['convert', '-', '--inline', '-o', out('x.onnx')], { input: readFileSync(ext) });
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/cannot be found for a model read from stdin/);
  });

  it('flags that do not apply', async () => {
    await fails(['convert', fixture('resnet_sd.pth'), '-o', out('x.onnx')], /cannot write a checkpoint as ONNX/);
    await fails(['convert', fixture('resnet_sd.pth'), '--external-data', '-o', out('x.pth')], /--external-data applies to ONNX models only/);
    await fails(['convert', fixture('resnet.onnx'), '--inline', '-o', out('x.safetensors')], /--inline applies to ONNX output only/);
    await fails(['convert', fixture('resnet.onnx'), '--dtype', 'float16', '-o', out('x.onnx')], /--dtype cannot change an ONNX model/);
    await fails(['convert', fixture('resnet.onnx'), '--key', 'x', '-o', out('x.safetensors')], /--key applies to checkpoints/);
    await fails(['convert', fixture('resnet.onnx'), '--size-threshold', '0', '-o', out('x.onnx')], /^error: --size-threshold needs --external-data/);
    await fails(['convert', fixture('resnet.onnx'), '--inline', '--external-data', '-o', out('x.onnx')], /^error: --inline and --external-data contradict each other/);
    await fails(['convert', fixture('resnet.onnx'), '--inline', '--data-file', 'w.data', '-o', out('x.onnx')], /^error: --data-file needs --external-data/);
    await fails(['convert', fixture('resnet.onnx'), '--data-file', 'w.data', '-o', out('x.onnx')], /--data-file needs --external-data/);
    await fails(['convert', fixture('resnet.onnx'), '--external-data', '--data-file', '../w.data', '-o', out('x.onnx')], /escapes the model's folder/);
    await fails(['convert', fixture('resnet.onnx'), '--external-data', '--data-file', '/tmp/w.data', '-o', out('x.onnx')], /is absolute/);
  });

  it('a failed write leaves neither the model nor its data file, nor temporaries', () => {
    const folder = out('atomic');
    mkdirSync(join(folder, 'm.onnx.data'), { recursive: true }); // a folder where the data file should go
    const result = modsurg(['convert', fixture('resnet.onnx'), '--external-data', '-o', join(folder, 'm.onnx')]);
    expect(result.status).toBe(2);
    expect(readdirSync(folder)).toEqual(['m.onnx.data']);
    expect(readdirSync(join(folder, 'm.onnx.data'))).toEqual([]);
  });
});
