import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { modsurg, scratchDir } from '../helpers/cli.js';
import { FORWARD_ATOL, ORACLE_PYTHON, ORACLE_SKIP, oracle, python } from '../helpers/oracle.js';

/**
 * Valid but unusual protobuf encodings of one model, as onnx and onnxruntime accept them: the GraphProto
 * split across two records (protobuf merges them), the top-level fields in another order, an overlong
 * varint. modsurg must read each as the same model, copy it byte for byte, run it, and edit it.
 */
const dir = scratchDir();
const at = (name: string): string => join(dir, name);
const variants = ['split_graph', 'graph_first', 'overlong_varint'];

describe.skipIf(!ORACLE_PYTHON)(`unusual but valid ONNX encodings${ORACLE_SKIP}`, () => {
  beforeAll(() => {
    const made = python(
      [
        'import sys, os, numpy as np, onnx',
        'from onnx import helper as h, numpy_helper, TensorProto as T',
        'out = sys.argv[1]',
        'w = numpy_helper.from_array(np.arange(12, dtype=np.float32).reshape(3, 4) / 10, "w")',
        'g = h.make_graph([h.make_node("MatMul", ["x", "w"], ["m"]), h.make_node("Relu", ["m"], ["y"])], "g",',
        '    [h.make_tensor_value_info("x", T.FLOAT, ["batch", 3])], [h.make_tensor_value_info("y", T.FLOAT, ["batch", 4])], [w])',
        'model = h.make_model(g, opset_imports=[h.make_opsetid("", 17)], producer_name="test"); model.ir_version = 8',
        'onnx.save(model, os.path.join(out, "plain.onnx"))',
        'np.save(os.path.join(out, "x.npy"), np.array([[1, -2, 3], [0.5, 0.25, -1]], dtype=np.float32))',
        'def field(num, payload): return _tag(num, 2) + _varint(len(payload)) + payload',
        'def _varint(n):',
        '    b = bytearray()',
        '    while True:',
        '        c = n & 0x7f; n >>= 7',
        '        b.append(c | (0x80 if n else 0))',
        '        if not n: return bytes(b)',
        'def _tag(num, wire): return _varint(num * 8 + wire)',
        'head = model.SerializeToString(); graph = model.graph',
        'rest = onnx.ModelProto(); rest.CopyFrom(model); rest.ClearField("graph")',
        'nodes = onnx.GraphProto(); nodes.node.extend(graph.node); nodes.name = graph.name',
        'io = onnx.GraphProto(); io.initializer.extend(graph.initializer); io.input.extend(graph.input); io.output.extend(graph.output)',
        'open(os.path.join(out, "split_graph.onnx"), "wb").write(rest.SerializeToString() + field(7, nodes.SerializeToString()) + field(7, io.SerializeToString()))',
        'open(os.path.join(out, "graph_first.onnx"), "wb").write(field(7, graph.SerializeToString()) + rest.SerializeToString())',
        'open(os.path.join(out, "overlong_varint.onnx"), "wb").write(bytes([0x08, 0x88, 0x80, 0x80, 0x00]) + rest.SerializeToString()[2:] + field(7, graph.SerializeToString()))',
        'for name in ("split_graph", "graph_first", "overlong_varint"):',
        '    m = onnx.load(os.path.join(out, name + ".onnx")); onnx.checker.check_model(m, full_check=True)',
        '    assert m.SerializeToString() == head, name',
        'print("ok")',
      ].join('\n'),
      [dir],
    );
    expect(made.stdout.trim(), made.stderr).toBe('ok');
  });

  it.each(variants)('%s: inspect reads the model onnx reads; convert copies it byte for byte', (name) => {
    const inspect = modsurg(['inspect', at(`${name}.onnx`), '--json']);
    expect(inspect.stderr).toBe('');
    const summary = JSON.parse(inspect.stdout) as { irVersion: number; nodes: number; graphInputs: { name: string }[]; graphOutputs: { name: string }[]; totals: { params: number } };
    expect(summary).toMatchObject({ irVersion: 8, nodes: 2, totals: { params: 12 } });
    expect(summary.graphInputs.map((i) => i.name)).toEqual(['x']);
    expect(summary.graphOutputs.map((o) => o.name)).toEqual(['y']);
    expect(modsurg(['convert', at(`${name}.onnx`), '-o', at(`${name}_copy.onnx`)]).status).toBe(0);
    expect(readFileSync(at(`${name}_copy.onnx`)).equals(readFileSync(at(`${name}.onnx`)))).toBe(true);
  });

  it.each(variants)('%s: run gives onnxruntime\'s outputs, and an edit writes a model that loads', (name) => {
    const reference = modsurg(['run', at('plain.onnx'), '--ep', 'cpu', '-i', `x=${at('x.npy')}`, '--output-dir', dir, '-q']);
    expect(reference.status, reference.stderr).toBe(0);
    const run = modsurg(['run', at(`${name}.onnx`), '--ep', 'cpu', '-i', `x=${at('x.npy')}`, '--compare', `y=${join(dir, 'y.npy')}`, '--atol', FORWARD_ATOL, '-q']);
    expect(run.status, run.stderr).toBe(0);
    expect(modsurg(['add-output', at(`${name}.onnx`), '--tensor', 'm', '-o', at(`${name}_two.onnx`)]).status).toBe(0);
    const verdict = oracle('run_onnx.py', [at(`${name}_two.onnx`), '--input', `x=${at('x.npy')}`, '--check']);
    expect(verdict.diffs ?? [], JSON.stringify(verdict)).toEqual([]);
    expect(verdict.output_names).toEqual(['y', 'm']);
  });
});
