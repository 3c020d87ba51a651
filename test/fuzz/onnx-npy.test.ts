import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'vitest';
import { fixture, scratchDir } from '../helpers/cli.js';
import { ORACLE_PYTHON, ORACLE_SKIP } from '../helpers/oracle.js';
import { expectProper, fuzz, MUTANTS, seededMutants } from './harness.js';
import { npyMutant, onnxMutant, protobufBoundaries, Random, type Mutant } from './mutate.js';

/**
 * The ONNX reader fuzzed through inspect, convert (to ONNX and to a state dict) and add-output; the
 * `.npy` reader through run's inputs and scan. See harness.ts for what every run is held to.
 */
const dir = scratchDir();

describe.skipIf(!ORACLE_PYTHON)(`fuzzed ONNX and .npy readers${ORACLE_SKIP}`, () => {
  it(`ONNX: ${MUTANTS} mutants of an exported ResNet`, async () => {
    const seed = readFileSync(fixture('resnet.onnx'));
    const boundaries = protobufBoundaries(seed);
    const report = await fuzz({
      name: 'onnx',
      dir,
      extension: '.onnx',
      mutants: seededMutants(seed, boundaries, (random) => onnxMutant(seed, boundaries, random), 4),
      commands: (file, out) => [
        { args: ['inspect', file] },
        { args: ['convert', file, '-o', join(out, 'a.onnx')], output: join(out, 'a.onnx') },
        { args: ['convert', file, '-o', join(out, 'a.safetensors')], output: join(out, 'a.safetensors') },
        { args: ['add-output', file, '-o', join(out, 'b.onnx'), '--tensor', '/layer1/layer1.0/relu/Relu_output_0'], output: join(out, 'b.onnx') },
      ],
    });
    expectProper(report);
  });

  it(`.npy: ${Math.round(MUTANTS / 5)} mutants of a model input`, async () => {
    const seed = readFileSync(fixture('resnet_input.npy'));
    function* mutants(): Iterable<Mutant> {
      const random = new Random(5);
      for (let i = 0; i < MUTANTS / 5; i++) yield npyMutant(seed, random);
    }
    const report = await fuzz({
      name: 'npy',
      dir,
      extension: '.npy',
      mutants: mutants(),
      commands: (file) => [{ args: ['run', fixture('resnet.onnx'), '--input', `input=${file}`] }, { args: ['scan', file], answers: [1] }],
    });
    expectProper(report);
  });
});
