import { readFileSync } from 'node:fs';
import { describe, it } from 'vitest';
import { fixture, scratchDir } from '../helpers/cli.js';
import { ORACLE_PYTHON, ORACLE_SKIP } from '../helpers/oracle.js';
import { checkpointCommands, expectProper, fuzz, MUTANTS, seededMutants } from './harness.js';
import { blindMutant, nestingBomb, pickleEnds, spliceItem, torchZipMutant, zipBoundaries, type Mutant, type Random } from './mutate.js';

/**
 * The torch checkpoint readers (zip, legacy) fuzzed through the commands that use
 * them: inspect, scan, convert to each format, strip-prefix, diff. See harness.ts for what every run is
 * held to.
 */
const dir = scratchDir();

describe.skipIf(!ORACLE_PYTHON)(`fuzzed checkpoint readers${ORACLE_SKIP}`, () => {
  it(`torch zip: ${MUTANTS} mutants of a DataParallel checkpoint`, async () => {
    const seed = readFileSync(fixture('resnet_dp.pth'));
    const boundaries = zipBoundaries(seed);
    const report = await fuzz({ name: 'zip', dir, extension: '.pth', mutants: seededMutants(seed, boundaries, (r) => torchZipMutant(seed, boundaries, r), 1), commands: checkpointCommands('.pth') });
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
    const report = await fuzz({ name: 'legacy', dir, extension: '.pth', mutants: seededMutants(seed, boundaries, mutate, 2), commands: checkpointCommands('.pth') });
    expectProper(report);
  });

});
