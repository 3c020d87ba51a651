import { ModsurgError } from '../errors.js';
import type { Tolerance } from './compare.js';
import { resolveInputs, type InputOptions, type InputSpec } from './inputs.js';
import type { ProviderChoice, ProviderName } from './providers.js';
import { compareOutputs, executeRun, openModel, type ComparisonReport, type RunResult } from './run-model.js';
import type { ModelSession } from './session.js';

/**
 * `verify`: two runs on the same inputs, compared output by output. Either two models on one provider
 * (an original and its edited twin), or one model on two providers (GPU against CPU). Both sessions
 * are opened, and both sets of inputs built, before either model runs, so every input error comes first.
 */

export type VerifyTarget =
  | { readonly kind: 'models'; readonly reference: string; readonly candidate: string; readonly choice: ProviderChoice }
  | { readonly kind: 'providers'; readonly model: string; readonly candidate: ProviderName; readonly reference: ProviderName };

export interface VerifyRequest {
  readonly target: VerifyTarget;
  readonly deviceId?: number;
  readonly inputSpecs: readonly InputSpec[];
  readonly inputOptions: InputOptions;
  readonly tolerance: Tolerance;
  readonly verboseLog?: boolean;
}

export interface VerifyResult {
  readonly kind: VerifyTarget['kind'];
  readonly reference: RunResult;
  readonly candidate: RunResult;
  readonly comparison: ComparisonReport;
  /** Outputs only the reference has. */
  readonly onlyInReference: readonly string[];
}

export async function verifyRuns(request: VerifyRequest): Promise<VerifyResult> {
  const { target } = request;
  const common = { deviceId: request.deviceId ?? 0, verboseLog: request.verboseLog ?? false };
  const open = target.kind === 'models'
    ? [{ path: target.reference, choice: target.choice }, { path: target.candidate, choice: target.choice }]
    : [
        { path: target.model, choice: single(target.reference) },
        { path: target.model, choice: single(target.candidate) },
      ];
  const sessions: ModelSession[] = [];
  try {
    for (const side of open) sessions.push(await openModel(side.path, { ...common, choice: side.choice }));
    const [referenceSession, candidateSession] = sessions as [ModelSession, ModelSession];
    const referenceNames = new Set(referenceSession.signature.inputs.map((i) => i.name));
    const candidateNames = new Set(candidateSession.signature.inputs.map((i) => i.name));
    const referenceInputs = resolveInputs(referenceSession.signature.inputs, request.inputSpecs, { ...request.inputOptions, otherModelInputs: candidateNames }, referenceSession.modelPath);
    const candidateInputs = resolveInputs(candidateSession.signature.inputs, request.inputSpecs, { ...request.inputOptions, otherModelInputs: referenceNames }, candidateSession.modelPath);
    const candidateOutputs = candidateSession.signature.outputs.map((o) => o.name);
    const referenceOutputs = referenceSession.signature.outputs.map((o) => o.name);
    if (!candidateOutputs.some((name) => referenceOutputs.includes(name))) {
      throw new ModsurgError(`the models share no output name to compare (${referenceSession.modelPath}: ${referenceOutputs.join(', ')}; ${candidateSession.modelPath}: ${candidateOutputs.join(', ')})`, candidateSession.modelPath);
    }
    const reference = await executeRun(referenceSession, referenceInputs);
    const candidate = await executeRun(candidateSession, candidateInputs);
    const comparison = compareOutputs(candidate.outputs, reference.outputs, request.tolerance);
    return {
      kind: target.kind,
      reference,
      candidate,
      comparison,
      onlyInReference: referenceOutputs.filter((name) => !candidateOutputs.includes(name)),
    };
  } finally {
    for (const session of sessions) await session.release();
  }
}

function single(provider: ProviderName): ProviderChoice {
  return { candidates: [provider], fallback: false, requested: provider };
}
