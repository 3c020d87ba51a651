import { performance } from 'node:perf_hooks';
import { ModsurgError } from '../errors.js';
import type { BoundaryCast } from './boundary-cast.js';
import type { HostTensor } from './dtypes.js';
import { compareTensors, type OutputComparison, type Tolerance } from './compare.js';
import { feedsOf, resolveInputs, type InputOptions, type InputSpec, type ResolvedInputs } from './inputs.js';
import { nodesOffProvider, type PlacedNode, type Placement } from './placement.js';
import { ORT_PROVIDER_IDS, type ProviderChoice, type ProviderName } from './providers.js';
import type { Reference } from './references.js';
import { ModelSession, type SkippedProvider } from './session.js';
import type { ModelSignature } from './signature.js';
import { latencySummary, type LatencySummary } from './stats.js';

/** One model run from start to end: open on a provider, build the feeds, run, and optionally time. */

export interface RunRequest {
  readonly modelPath: string;
  readonly choice: ProviderChoice;
  readonly deviceId?: number;
  readonly inputSpecs: readonly InputSpec[];
  readonly inputOptions: InputOptions;
  readonly warmup?: number;
  readonly repeat?: number;
  readonly verboseLog?: boolean;
  /** Called between timed runs (each run blocks the thread while it lasts). */
  readonly onTimedRun?: (done: number, total: number) => void;
  /** Called once the model is open and before anything runs: the place to check references against its outputs. */
  readonly beforeRun?: (signature: ModelSignature) => void;
}

export interface Timings {
  readonly sessionCreateMs: number;
  readonly firstRunMs: number;
  readonly warmup: number;
  readonly repeat: number;
  readonly latencyMs: LatencySummary | undefined;
}

export interface RunResult {
  readonly model: string;
  readonly ep: ProviderName;
  readonly skipped: readonly SkippedProvider[];
  readonly inputs: ResolvedInputs;
  readonly outputs: ReadonlyMap<string, HostTensor>;
  readonly placement: Placement | undefined;
  /** For a GPU provider: the nodes that ran elsewhere (on the CPU). Undefined on the CPU provider or without a trace. */
  readonly cpuFallbackNodes: readonly PlacedNode[] | undefined;
  readonly timings: Timings;
  /** Set when the model has bfloat16 or float8 inputs or outputs and ran as an in-memory copy with Cast nodes (fed and fetched as float32). */
  readonly boundaryCast: BoundaryCast | undefined;
}

export async function runModel(request: RunRequest): Promise<RunResult> {
  const session = await openModel(request.modelPath, request);
  try {
    request.beforeRun?.(session.signature);
    const inputs = resolveInputs(session.signature.inputs, request.inputSpecs, request.inputOptions, request.modelPath);
    return await executeRun(session, inputs, request);
  } finally {
    await session.release();
  }
}

export function openModel(modelPath: string, options: Pick<RunRequest, 'choice' | 'deviceId' | 'verboseLog'>): Promise<ModelSession> {
  return ModelSession.open(modelPath, {
    choice: options.choice,
    deviceId: options.deviceId ?? 0,
    profileFirstRun: true,
    verboseLog: options.verboseLog ?? false,
  });
}

/** Runs an open session once on `inputs` (profiled, for placement), then the timed runs if asked. */
export async function executeRun(session: ModelSession, inputs: ResolvedInputs, timing: Pick<RunRequest, 'warmup' | 'repeat' | 'onTimedRun'> = {}): Promise<RunResult> {
  const feeds = feedsOf(inputs);
  const started = performance.now();
  let outputs: Map<string, HostTensor>;
  try {
    outputs = await session.run(feeds);
  } catch (error) {
    // a made-up size of 1 is the usual reason a model that loads will not run
    const made = [...inputs.unnamedDefaulted, ...inputs.defaultedDims.map((d) => `'${d}'`)];
    if (!(error instanceof ModsurgError) || made.length === 0) throw error;
    throw new ModsurgError(`${error.message} (the made-up inputs took size 1 where the model does not say: ${made.join(', ')}; set sizes with --shape NAME=D0,D1,… or --dim NAME=SIZE)`, error.file);
  }
  const firstRunMs = performance.now() - started;
  const warmup = timing.warmup ?? 0;
  const repeat = timing.repeat ?? 0;
  const latencies = repeat > 0 ? await session.time(feeds, warmup, repeat, (done) => timing.onTimedRun?.(done, warmup + repeat)) : [];
  const placement = session.placement;
  return {
    model: session.modelPath,
    ep: session.provider,
    skipped: session.skipped,
    inputs,
    outputs,
    placement,
    cpuFallbackNodes: placement && session.provider !== 'cpu' ? nodesOffProvider(placement, ORT_PROVIDER_IDS[session.provider]) : undefined,
    timings: { sessionCreateMs: session.createMs, firstRunMs, warmup: repeat > 0 ? warmup : 0, repeat, latencyMs: latencySummary(latencies) },
    boundaryCast: session.boundaryCast,
  };
}

export interface ComparisonReport {
  readonly tolerance: Tolerance;
  readonly outputs: readonly OutputComparison[];
  /** Outputs of the actual side that had nothing to compare with. */
  readonly notCompared: readonly string[];
  readonly pass: boolean;
}

/** Compares each actual output that has an expected counterpart. */
export function compareOutputs(actual: ReadonlyMap<string, HostTensor>, expected: ReadonlyMap<string, HostTensor>, tolerance: Tolerance): ComparisonReport {
  const outputs: OutputComparison[] = [];
  const notCompared: string[] = [];
  for (const [name, tensor] of actual) {
    const reference = expected.get(name);
    if (reference === undefined) notCompared.push(name);
    else outputs.push(compareTensors(name, tensor, reference, tolerance));
  }
  return { tolerance, outputs, notCompared, pass: outputs.every((o) => o.pass) };
}

export function referenceTensors(references: ReadonlyMap<string, Reference>): Map<string, HostTensor> {
  return new Map([...references].map(([name, reference]) => [name, reference.tensor]));
}
