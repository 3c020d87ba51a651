import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { placementFromProfile } from './placement.js';
import { firstLine, isProviderName, ORT_PROVIDER_IDS, type ProviderName } from './providers.js';
import { loadOrt } from './session.js';
import { providerProbeModel } from './tiny-model.js';

/**
 * Proves one execution provider works: loads a tiny in-memory model (y = x + x) on it, runs it, checks
 * the answer, and reads from the profiling trace which provider ran the node. `doctor` runs this file
 * as a child process per provider, so a provider that crashes or hangs natively (a GPU driver
 * problem) cannot take `doctor` down, and onnxruntime's own stderr, which names the library that
 * failed to load, can be read.
 */

export interface ProbeOutcome {
  readonly works: boolean;
  /** Why not, in one line (undefined when it works). */
  readonly reason: string | undefined;
  /** The provider id that ran the probe's node. */
  readonly ranOn: string | undefined;
}

export async function probeProvider(name: ProviderName): Promise<ProbeOutcome> {
  const ort = await loadOrt(true);
  const profileDir = mkdtempSync(join(tmpdir(), 'modsurg-probe-'));
  try {
    const session = await ort.InferenceSession.create(providerProbeModel(), {
      executionProviders: [name],
      enableProfiling: true,
      profileFilePrefix: join(profileDir, 'ort'),
    });
    const x = new ort.Tensor('float32', Float32Array.from([1, 2, 3, 4]), [1, 4]);
    const result = await session.run({ x });
    session.endProfiling();
    await session.release();
    const y = result.y?.data;
    const right = y instanceof Float32Array && [2, 4, 6, 8].every((v, i) => y[i] === v);
    const trace = readdirSync(profileDir).find((f) => f.endsWith('.json'));
    const ranOn = trace ? placementFromProfile(JSON.parse(readFileSync(join(profileDir, trace), 'utf8'))).nodes[0]?.provider : undefined;
    if (!right) return { works: false, reason: 'the probe model ran but gave a wrong answer', ranOn };
    if (ranOn !== undefined && ranOn !== ORT_PROVIDER_IDS[name]) return { works: false, reason: `loaded, but the probe ran on ${ranOn}`, ranOn };
    return { works: true, reason: undefined, ranOn };
  } catch (error) {
    return { works: false, reason: firstLine(error instanceof Error ? error.message : String(error)), ranOn: undefined };
  } finally {
    rmSync(profileDir, { recursive: true, force: true });
  }
}

/** The path of this module's compiled file, for running it as a child. */
export const PROBE_SCRIPT = fileURLToPath(import.meta.url);

// Run as a script: `node provider-probe.js cuda` prints the outcome as JSON.
if (process.argv[1] === PROBE_SCRIPT) {
  const name = process.argv[2] ?? '';
  if (!isProviderName(name)) {
    process.stderr.write(`unknown provider '${name}'\n`);
    process.exitCode = 2;
  } else {
    process.stdout.write(`${JSON.stringify(await probeProvider(name))}\n`);
  }
}
