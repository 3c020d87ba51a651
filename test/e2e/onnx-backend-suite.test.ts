import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readOnnxModel, encodeOnnxModel } from '../../src/graph/model.js';
import { summarizeOnnx } from '../../src/graph/summary.js';
import { FileSource } from '../../src/io/byte-source.js';
import { materialize } from '../../src/io/pieces.js';
import { parseInputSpec } from '../../src/runtime/inputs.js';
import { parseProviderChoice } from '../../src/runtime/providers.js';
import { loadReferences, type Reference } from '../../src/runtime/references.js';
import { compareOutputs, referenceTensors, runModel } from '../../src/runtime/run-model.js';
import { modsurg, scratchDir } from '../helpers/cli.js';
import { ORACLE_PYTHON, ORACLE_SKIP, oracle, python } from '../helpers/oracle.js';

/**
 * The ONNX project's own backend test suite (test/oracle/backend_suite.py writes it: the node tests onnx's
 * test-data writer makes, and the simple and pytorch-* cases the onnx wheel ships): 2,000 small models
 * with inputs and expected outputs. Every case Python onnxruntime passes with tensor inputs and outputs
 * must pass `modsurg run --compare` at the suite's own tolerance; models the Node binding cannot run
 * (sequences, optionals) are refused plainly; every model is read and written back byte for byte.
 *
 * All cases go through the code `run --compare` runs (runModel, loadReferences, compareOutputs) in this
 * process, so the suite stays quick; a sample goes through the built CLI as a user runs it.
 */
interface Dataset {
  ort: string;
  inputs?: string;
  expected?: string;
}
interface Case {
  kind: string;
  name: string;
  dir: string;
  io: string;
  float8: boolean;
  ort_loads: boolean;
  datasets: Dataset[];
}

const SUITE_TOLERANCE = { atol: 1e-7, rtol: 1e-3 };
const dir = scratchDir();
let cases: Case[] = [];

describe.skipIf(!ORACLE_PYTHON)(`the ONNX backend test suite${ORACLE_SKIP}`, () => {
  beforeAll(() => {
    const made = oracle('backend_suite.py', [join(dir, 'suite')]);
    expect(made.ok, JSON.stringify(made)).toBe(true);
    cases = JSON.parse(readFileSync(String(made.manifest), 'utf8')) as Case[];
  }, 300_000);

  const passing = (): { c: Case; d: Dataset }[] => cases.flatMap((c) => c.datasets.filter((d) => d.ort === 'pass').map((d) => ({ c, d })));

  it('is the whole suite: node, simple and pytorch cases, most of them run by Python onnxruntime', () => {
    expect(cases.length).toBeGreaterThan(1900);
    expect(new Set(cases.map((c) => c.kind))).toEqual(new Set(['node', 'simple', 'pytorch-converted', 'pytorch-operator']));
    expect(passing().length).toBeGreaterThan(1400);
    // the kinds the Node binding once failed on are in it
    expect(passing().filter(({ c }) => c.float8).length).toBeGreaterThanOrEqual(48);
    expect(passing().filter(({ c }) => /string|strnorm|regex|label_encoder_string/.test(c.name)).length).toBeGreaterThanOrEqual(20);
  });

  it('every case Python onnxruntime passes with tensor inputs and outputs passes run --compare (atol 1e-7, rtol 1e-3)', async () => {
    const failures: string[] = [];
    for (const { c, d } of passing()) {
      try {
        let references: Map<string, Reference> | undefined;
        const result = await runModel({
          modelPath: join(c.dir, 'model.onnx'),
          choice: parseProviderChoice('cpu'),
          inputSpecs: [parseInputSpec(d.inputs!)],
          inputOptions: { seed: 0, dims: new Map(), shapes: new Map(), ranges: { all: undefined, byName: new Map() }, strict: true },
          beforeRun: (signature) => {
            references = loadReferences([d.expected!], signature.outputs.map((o) => o.name));
          },
        });
        const comparison = compareOutputs(result.outputs, referenceTensors(references!), SUITE_TOLERANCE);
        if (!comparison.pass) failures.push(`${c.kind}/${c.name}: ${comparison.outputs.filter((o) => !o.pass).map((o) => o.name).join(', ')} differ`);
      } catch (error) {
        failures.push(`${c.kind}/${c.name}: ${(error as Error).message}`);
      }
    }
    expect(failures).toEqual([]);
  }, 300_000);

  it('through the CLI (its entry point, in process): float8 and string cases and a sample of the rest', async () => {
    const all = passing();
    const sample = [
      ...all.filter(({ c }) => c.float8).filter((_, i) => i % 8 === 0),
      ...all.filter(({ c }) => /^test_(string_concat|regex_full_match|equal_string)/.test(c.name)).filter((_, i) => i % 3 === 0),
      ...all.filter((_, i) => i % 150 === 0),
    ];
    expect(sample.length).toBeGreaterThan(18);
    const failures: string[] = [];
    for (const { c, d } of sample) {
      const result = modsurg(['run', join(c.dir, 'model.onnx'), '--ep', 'cpu', '--strict', '-i', d.inputs!, '--compare', d.expected!, '--atol', '1e-7', '--rtol', '1e-3', '-q']);
      if (result.status !== 0) failures.push(`${c.name}: exit ${result.status} ${result.stderr.trim()}`);
    }
    expect(failures).toEqual([]);
  }, 300_000);

  it('models with sequence or optional inputs and outputs are refused with one plain line', async () => {
    const containers = cases.filter((c) => (c.io === 'sequence' || c.io === 'optional') && c.ort_loads);
    expect(containers.length).toBeGreaterThanOrEqual(20);
    for (const c of containers) {
      await expect(runModel({ modelPath: join(c.dir, 'model.onnx'), choice: parseProviderChoice('cpu'), inputSpecs: [], inputOptions: { seed: 0, dims: new Map(), shapes: new Map(), ranges: { all: undefined, byName: new Map() }, strict: false } }), c.name).rejects.toThrow(
        /is (a sequence|an optional|optional)[^:]*, not a tensor: onnxruntime-node can only (feed|fetch) tensors, so modsurg cannot run this model/,
      );
    }
    const cli = modsurg(['run', join(containers[0]!.dir, 'model.onnx'), '--ep', 'cpu']);
    expect(cli.status).toBe(2);
    expect(cli.stderr.trim().split('\n')).toHaveLength(1);
  }, 120_000);

  it('add-output types what onnx shape inference types: float16 graphs, sequence-valued tensors', () => {
    const pick = (name: string): Case => cases.find((c) => c.name === name)!;
    const attention = pick('test_attention_4d_fp16_expanded');
    const sequences = pick('test_sequence_model1');
    for (const [c, tensor] of [
      [attention, 'Attention_test_attention_4d_fp16_expanded_function_QReshaped'],
      [sequences, 'Seq_2'],
    ] as const) {
      const out = join(dir, `${c.name}_out.onnx`);
      const result = modsurg(['add-output', join(c.dir, 'model.onnx'), '--tensor', tensor, '-o', out]);
      expect(result.stderr, c.name).toBe('');
      // the declared type of the new output is onnx's own inference, and the model passes the full checker
      const verdict = python(
        [
          'import sys, onnx',
          'm = onnx.load(sys.argv[1]); onnx.checker.check_model(m, full_check=True)',
          'inferred = {v.name: v.type for v in onnx.shape_inference.infer_shapes(onnx.load(sys.argv[2])).graph.value_info}',
          'declared = next(o.type for o in m.graph.output if o.name == sys.argv[3])',
          'print(declared == inferred[sys.argv[3]])',
        ].join('\n'),
        [out, join(c.dir, 'model.onnx'), tensor],
      );
      expect(verdict.stdout.trim(), verdict.stderr).toBe('True');
    }
  });

  it('every model is read, summarized and written back byte for byte', () => {
    const failures: string[] = [];
    for (const c of cases) {
      const path = join(c.dir, 'model.onnx');
      const source = new FileSource(path, path);
      try {
        const model = readOnnxModel(source, path);
        summarizeOnnx(model);
        if (!materialize(encodeOnnxModel(model)).equals(readFileSync(path))) failures.push(`${c.name}: not byte-identical`);
      } catch (error) {
        failures.push(`${c.name}: ${(error as Error).message}`);
      } finally {
        source.close();
      }
    }
    expect(failures).toEqual([]);
    const copied = join(dir, 'copy.onnx');
    for (const c of cases.filter((_, i) => i % 400 === 0)) {
      const result = modsurg(['convert', join(c.dir, 'model.onnx'), '-o', copied, '-q']);
      expect(result.status, result.stderr).toBe(0);
      expect(readFileSync(copied).equals(readFileSync(join(c.dir, 'model.onnx'))), c.name).toBe(true);
    }
  }, 120_000);
});
