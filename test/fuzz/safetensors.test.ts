import { readFileSync } from 'node:fs';
import { describe, it } from 'vitest';
import { fixture, scratchDir } from '../helpers/cli.js';
import { ORACLE_PYTHON, ORACLE_SKIP } from '../helpers/oracle.js';
import { checkpointCommands, expectProper, fuzz, MUTANTS, seededMutants } from './harness.js';
import { safetensorsBoundaries, safetensorsMutant } from './mutate.js';

/**
 * The safetensors reader fuzzed through the commands that use it (inspect, scan, convert to each format,
 * strip-prefix, diff), half the mutants edits of its JSON header. See harness.ts for what every run is
 * held to; checkpoints.test.ts does the torch formats.
 */
const dir = scratchDir();

describe.skipIf(!ORACLE_PYTHON)(`fuzzed safetensors reader${ORACLE_SKIP}`, () => {
  it(`safetensors: ${MUTANTS} mutants, half of them edits of the JSON header`, async () => {
    const seed = readFileSync(fixture('resnet_sd.safetensors'));
    const boundaries = safetensorsBoundaries(seed);
    const report = await fuzz({ name: 'safetensors', dir, extension: '.safetensors', mutants: seededMutants(seed, boundaries, (r) => safetensorsMutant(seed, boundaries, r), 3), commands: checkpointCommands('.safetensors') });
    expectProper(report);
  });
});
