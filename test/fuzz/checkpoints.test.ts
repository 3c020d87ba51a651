import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixture, scratchDir } from '../helpers/cli.js';
import { ORACLE_PYTHON, ORACLE_SKIP } from '../helpers/oracle.js';
import { fuzz, MUTANTS, refusedByReference, type FuzzCommand } from './harness.js';
import { blindMutant, nestingBomb, pickleEnds, Random, safetensorsBoundaries, safetensorsMutant, spliceItem, torchZipMutant, truncations, zipBoundaries, type Mutant } from './mutate.js';

/**
 * The checkpoint readers (torch zip, torch legacy, safetensors) fuzzed through the commands that use
 * them: inspect, scan, convert to each format, strip-prefix, diff. See harness.ts for what every run is
 * held to.
 */
const dir = scratchDir();

function* mutants(seed: Buffer, boundaries: number[], mutate: (random: Random) => Mutant, seedNumber: number): Iterable<Mutant> {
  const cuts = truncations(seed, boundaries, Math.floor(MUTANTS / 5));
  yield* cuts;
  const random = new Random(seedNumber);
  for (let i = cuts.length; i < MUTANTS; i++) yield mutate(random);
}

const checkpointCommands = (extension: string) => (file: string, out: string): FuzzCommand[] => [
  { args: ['inspect', file] },
  { args: ['scan', file], answers: [1] },
  { args: ['convert', file, '-o', join(out, 'a.safetensors')], output: join(out, 'a.safetensors') },
  { args: ['convert', file, '-o', join(out, 'a.pth')], output: join(out, 'a.pth') },
  { args: ['strip-prefix', file, '-o', join(out, `b${extension}`)], output: join(out, `b${extension}`) },
  { args: ['convert', file, '-o', join(out, 'c.pth'), '--format', 'torch-legacy'], output: join(out, 'c.pth') },
  { args: ['diff', file, file], answers: [1] },
];

function expectProper(report: Awaited<ReturnType<typeof fuzz>>): void {
  expect(report.failures, report.failures.join('\n')).toEqual([]);
  expect(refusedByReference(report.written), 'outputs the reference reader refuses').toEqual([]);
  // the mutants reached both outcomes: a fuzz whose every mutant is refused at the door tests little
  expect(report.byStatus[0] ?? 0).toBeGreaterThan(report.runs / 20);
  expect(report.byStatus[2] ?? 0).toBeGreaterThan(report.runs / 20);
}

describe.skipIf(!ORACLE_PYTHON)(`fuzzed checkpoint readers${ORACLE_SKIP}`, () => {
  it(`torch zip: ${MUTANTS} mutants of a DataParallel checkpoint`, async () => {
    const seed = readFileSync(fixture('resnet_dp.pth'));
    const boundaries = zipBoundaries(seed);
    const report = await fuzz({ name: 'zip', dir, extension: '.pth', mutants: mutants(seed, boundaries, (r) => torchZipMutant(seed, boundaries, r), 1), commands: checkpointCommands('.pth') });
    expectProper(report);
  });

  it(`torch legacy: ${MUTANTS} mutants of a legacy-format checkpoint`, async () => {
    const seed = readFileSync(fixture('resnet_legacy.pth'));
    const ends = pickleEnds(seed, 0, 5);
    const boundaries = [0, ...ends, ...ends.map((e) => e + 8)];
    const mutate = (random: Random): Mutant => {
      if (random.next() > 0.05) return blindMutant(seed, boundaries, random);
      const bomb = nestingBomb(random);
      const data = Buffer.from(seed.subarray(ends[2]!, ends[3]!));
      return { how: `${bomb.how} in the data pickle`, bytes: Buffer.concat([seed.subarray(0, ends[2]!), spliceItem(data, bomb.value), seed.subarray(ends[3]!)]) };
    };
    const report = await fuzz({ name: 'legacy', dir, extension: '.pth', mutants: mutants(seed, boundaries, mutate, 2), commands: checkpointCommands('.pth') });
    expectProper(report);
  });

  it(`safetensors: ${MUTANTS} mutants, half of them edits of the JSON header`, async () => {
    const seed = readFileSync(fixture('resnet_sd.safetensors'));
    const boundaries = safetensorsBoundaries(seed);
    const report = await fuzz({ name: 'safetensors', dir, extension: '.safetensors', mutants: mutants(seed, boundaries, (r) => safetensorsMutant(seed, boundaries, r), 3), commands: checkpointCommands('.safetensors') });
    expectProper(report);
  });
});
