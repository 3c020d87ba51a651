import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { InferenceSession } from 'onnxruntime-node';
import { ModsurgError, withFile } from '../errors.js';
import { asIoError } from '../io/files.js';
import { FileSource } from '../io/byte-source.js';
import { checkExternalData } from '../graph/external-data.js';
import { refuseNonOnnx } from '../graph/files.js';
import { readOnnxModel, type OnnxModel } from '../graph/model.js';
import type { HostTensor } from './dtypes.js';
import { fromOrtTensor, toOrtTensor, type OrtModule } from './ort-tensors.js';
import { placementFromProfile, type Placement } from './placement.js';
import { diagnoseProvider, explainProviderFailure, firstLine, type ProviderChoice, type ProviderDiagnosis, type ProviderName } from './providers.js';
import { boundaryCastCopy, CAST_THROUGH_FLOAT32, castTypes, type BoundaryCast, type BoundaryCastCopy } from './boundary-cast.js';
import { explainUnsupportedTypes, signatureOf, type DeclaredTensor, type ModelSignature } from './signature.js';
import { readBinaryInput } from './tensor-files.js';

/**
 * An onnxruntime session on the first execution provider that loads. onnxruntime-node does not fall
 * back by itself (a CUDA provider that cannot load makes `create` reject), so each candidate is tried
 * in turn, and every one skipped is kept with its reason.
 */

let ortModule: OrtModule | undefined;

/**
 * Loads onnxruntime-node on first use, so commands that never run a model do not load its native
 * library. Its own log goes to native stderr; below `fatal` it repeats, unasked, every provider
 * failure we already explain, so it is shown only with --debug.
 */
export async function loadOrt(verboseLog = false): Promise<OrtModule> {
  if (ortModule) return ortModule;
  const ort = await import('onnxruntime-node');
  ort.env.logLevel = verboseLog ? 'warning' : 'fatal';
  ortModule = ort;
  return ort;
}

export interface SkippedProvider {
  readonly provider: ProviderName;
  /** One line: what is missing or what failed. */
  readonly reason: string;
  readonly diagnosis: ProviderDiagnosis;
}

export interface OpenOptions {
  readonly choice: ProviderChoice;
  readonly deviceId?: number;
  /** Profile the first run, to learn which provider ran each node. */
  readonly profileFirstRun?: boolean;
  readonly verboseLog?: boolean;
}

export class ModelSession {
  private firstRunDone = false;
  private placementResult: Placement | undefined;

  private constructor(
    private readonly ort: OrtModule,
    private readonly session: InferenceSession,
    readonly modelPath: string,
    readonly provider: ProviderName,
    readonly skipped: readonly SkippedProvider[],
    /** Wall time of `InferenceSession.create`, in milliseconds. */
    readonly createMs: number,
    readonly signature: ModelSignature,
    /** Set when the model has bfloat16 or float8 inputs or outputs and an in-memory copy with Cast nodes ran instead. */
    readonly boundaryCast: BoundaryCast | undefined,
    private readonly profileDir: string | undefined,
  ) {}

  static async open(modelPath: string, options: OpenOptions): Promise<ModelSession> {
    checkModelFile(modelPath);
    const ort = await loadOrt(options.verboseLog);
    const skipped: SkippedProvider[] = [];
    // Made on the first "Unsupported data type": the model may have bfloat16 or float8 inputs or outputs.
    let copy: BoundaryCastCopy | undefined;
    const create = async (sessionOptions: InferenceSession.SessionOptions): Promise<InferenceSession> => {
      if (copy === undefined) {
        try {
          return await ort.InferenceSession.create(modelPath, sessionOptions);
        } catch (error) {
          const code = /Unsupported data type: (\d+)\b/.exec(error instanceof Error ? error.message : String(error));
          if (!code || !CAST_THROUGH_FLOAT32.has(Number(code[1]))) throw error;
          copy = boundaryCastCopy(readBinaryInput(modelPath), modelPath);
          if (copy === undefined) throw error;
        }
      }
      // external data lies next to the model file, not next to this in-memory copy
      const extra = { session: { model_external_initializers_file_folder_path: copy.folder } };
      return ort.InferenceSession.create(copy.bytes, { ...sessionOptions, extra } as InferenceSession.SessionOptions);
    };
    for (const [index, provider] of options.choice.candidates.entries()) {
      const profileDir = options.profileFirstRun ? mkdtempSync(join(tmpdir(), 'modsurg-profile-')) : undefined;
      const sessionOptions: InferenceSession.SessionOptions = {
        executionProviders: [provider === 'cuda' ? { name: 'cuda', deviceId: options.deviceId ?? 0 } : provider],
        logSeverityLevel: options.verboseLog ? 2 : 4,
        ...(profileDir ? { enableProfiling: true, profileFilePrefix: join(profileDir, 'ort') } : {}),
      };
      const started = performance.now();
      try {
        const session = await create(sessionOptions);
        const createMs = performance.now() - started;
        const signature = markCast(signatureOf(session, modelPath, copy?.bytes), copy?.cast);
        return new ModelSession(ort, session, modelPath, provider, skipped, createMs, signature, copy?.cast, profileDir);
      } catch (error) {
        if (profileDir) rmSync(profileDir, { recursive: true, force: true });
        if (error instanceof ModsurgError) throw error;
        const message = error instanceof Error ? error.message : String(error);
        const modelProblem = modelLoadProblem(modelPath, message, copyNote(copy));
        if (modelProblem || provider === 'cpu') throw modelProblem ?? new ModsurgError(`onnxruntime cannot load the model${copyNote(copy)}: ${firstLine(message)}`, modelPath);
        const diagnosis = diagnoseProvider(provider);
        const reason = explainProviderFailure(diagnosis, message);
        skipped.push({ provider, reason, diagnosis });
        const last = index === options.choice.candidates.length - 1;
        if (!options.choice.fallback || last) throw providerError(options.choice, skipped, modelPath);
      }
    }
    throw providerError(options.choice, skipped, modelPath);
  }

  /** One run. The first one is profiled when asked; profiling then ends, so timed runs are not slowed by it. */
  async run(feeds: ReadonlyMap<string, HostTensor>): Promise<Map<string, HostTensor>> {
    const ortFeeds: Record<string, ReturnType<typeof toOrtTensor>> = {};
    for (const [name, tensor] of feeds) ortFeeds[name] = toOrtTensor(this.ort, tensor);
    const results = await this.runFeeds(ortFeeds);
    if (!this.firstRunDone) {
      this.firstRunDone = true;
      this.placementResult = this.collectProfile();
    }
    const outputs = new Map<string, HostTensor>();
    for (const name of this.session.outputNames) {
      const value = results[name];
      if (value !== undefined) outputs.set(name, fromOrtTensor(name, value));
    }
    return outputs;
  }

  /**
   * Times `repeat` runs after `warmup` untimed ones, in milliseconds each. A run blocks the thread
   * (onnxruntime-node's run is synchronous underneath), so `afterEach` is called between runs, where
   * progress can be drawn.
   */
  async time(feeds: ReadonlyMap<string, HostTensor>, warmup: number, repeat: number, afterEach?: (done: number) => void): Promise<number[]> {
    const ortFeeds: Record<string, ReturnType<typeof toOrtTensor>> = {};
    for (const [name, tensor] of feeds) ortFeeds[name] = toOrtTensor(this.ort, tensor);
    const latencies: number[] = [];
    for (let i = 0; i < warmup + repeat; i++) {
      const started = performance.now();
      await this.runFeeds(ortFeeds);
      const elapsed = performance.now() - started;
      if (i >= warmup) latencies.push(elapsed);
      afterEach?.(i + 1);
    }
    return latencies;
  }

  /** Which provider ran each node in the first run; undefined when not profiled. */
  get placement(): Placement | undefined {
    return this.placementResult;
  }

  async release(): Promise<void> {
    if (this.profileDir && !this.firstRunDone) {
      this.session.endProfiling();
      rmSync(this.profileDir, { recursive: true, force: true });
    }
    await this.session.release();
  }

  private async runFeeds(feeds: InferenceSession.FeedsType): Promise<InferenceSession.ReturnType> {
    try {
      return await this.session.run(feeds);
    } catch (error) {
      throw new ModsurgError(`onnxruntime failed to run the model on ${this.provider}: ${firstLine(error instanceof Error ? error.message : String(error))}`, this.modelPath);
    }
  }

  private collectProfile(): Placement | undefined {
    if (!this.profileDir) return undefined;
    try {
      this.session.endProfiling();
      const file = readdirSync(this.profileDir).find((name) => name.endsWith('.json'));
      return file === undefined ? undefined : placementFromProfile(JSON.parse(readFileSync(join(this.profileDir, file), 'utf8')));
    } catch {
      // Placement is a report, not the result: a trace we cannot read leaves it out.
      return undefined;
    } finally {
      rmSync(this.profileDir, { recursive: true, force: true });
    }
  }
}

function checkModelFile(modelPath: string): void {
  try {
    if (statSync(modelPath).isDirectory()) throw new ModsurgError('is a directory, not a model file', modelPath);
  } catch (error) {
    throw asIoError(error, modelPath);
  }
  // onnxruntime follows any external data location it is given: check them first (a model that does not
  // parse is left for onnxruntime to explain)
  let model: OnnxModel | undefined;
  const source = new FileSource(modelPath, modelPath);
  try {
    refuseNonOnnx(source);
  } catch (error) {
    source.close();
    throw withFile(error, modelPath);
  }
  try {
    model = readOnnxModel(source, modelPath);
  } catch {
    model = undefined;
  }
  try {
    if (model) checkExternalData(model.graph.initializers, model.folder, modelPath);
  } finally {
    source.close();
  }
}

/** Failures that are the model's, whatever the provider: no point trying the next one. */
function modelLoadProblem(modelPath: string, message: string, note: string): ModsurgError | undefined {
  const unsupported = /Unsupported data type: (\d+)/.exec(message);
  if (unsupported) return explainUnsupportedTypes(modelPath, Number(unsupported[1]));
  if (/INVALID_PROTOBUF|Protobuf parsing failed|INVALID_GRAPH|Load model .* failed|Unsupported model IR version|opset|NO_SUCHFILE|NOT_IMPLEMENTED|Could not find an implementation/i.test(message)) {
    return new ModsurgError(`onnxruntime cannot load the model${note}: ${firstLine(message)}`, modelPath);
  }
  return undefined;
}

function copyNote(copy: BoundaryCastCopy | undefined): string {
  return copy === undefined ? '' : ` (its copy with ${castTypes(copy.cast)} Casts)`;
}

/** Inputs and outputs the copy converts are marked: fed and fetched as float32, their own type in the model. */
function markCast(signature: ModelSignature, cast: BoundaryCast | undefined): ModelSignature {
  if (cast === undefined) return signature;
  const mark = (names: readonly string[]) => (t: DeclaredTensor): DeclaredTensor => (names.includes(t.name) ? { ...t, castFrom: cast.types[t.name]! } : t);
  return { inputs: signature.inputs.map(mark(cast.inputs)), outputs: signature.outputs.map(mark(cast.outputs)) };
}

function providerError(choice: ProviderChoice, skipped: readonly SkippedProvider[], modelPath: string): ModsurgError {
  const reasons = skipped.map((s) => s.reason).join('; ');
  // The first install step, without its comment; `doctor` lists them all.
  const install = skipped.map((s) => s.diagnosis.install[0]?.replace(/\s+#.*$/, '')).find((step) => step !== undefined);
  return new ModsurgError(`--ep ${choice.requested}: ${reasons}${install ? `; to install: ${install} (modsurg doctor lists every step)` : ''}`, modelPath);
}
