import { withFile } from '../errors.js';
import type { CastTarget } from '../checkpoint/numeric.js';
import type { PyValue } from '../checkpoint/pickle/value.js';
import { soleStateDict, stateDictTensors, toPlainData } from '../checkpoint/state-dict.js';
import type { Tensor } from '../checkpoint/tensor.js';
import { ModsurgError } from '../errors.js';
import { randomSeed } from '../io/random.js';
import type { ResolvedHead } from './layers.js';
import { headParameters, parameterSlots, type HeadParameter } from './params.js';
import { weightsRelativeTo } from './weights.js';

/** Where the head's values come from. */
export type ParameterSource =
  /** PyTorch's default initialisation from a seeded generator. */
  | { readonly kind: 'init'; readonly seed: number }
  /** A weights file's tensors, named relative to the head or under the module path. */
  | { readonly kind: 'weights'; readonly file: string; readonly tensors: readonly (readonly [string, Tensor])[] };

/** PyTorch's default initialisation from `seed`, or from a random seed (reported, so the run can be repeated). */
export function initSource(seed: number | undefined): ParameterSource {
  if (seed !== undefined && (!Number.isSafeInteger(seed) || seed < 0)) throw new ModsurgError(`--seed must be a non-negative integer, not ${seed}`);
  return { kind: 'init', seed: seed ?? randomSeed() };
}

/** The tensors of a `--weights` file (its one state dict) as a ParameterSource. */
export function weightsSource(root: PyValue, file: string): ParameterSource {
  try {
    return { kind: 'weights', file, tensors: stateDictTensors(soleStateDict(toPlainData(root), undefined).dict) };
  } catch (error) {
    throw withFile(error, file);
  }
}

/** The head's parameters from their source, named relative to the head; `at` is the module path a
 *  weights file may prefix its keys with. Shared by the checkpoint and ONNX sides. */
export function headParametersFrom(head: ResolvedHead, dtype: CastTarget, at: string, source: ParameterSource): HeadParameter[] {
  if (source.kind === 'init') return headParameters(head, { dtype, seed: source.seed });
  const names = parameterSlots(head).map((slot) => slot.name);
  try {
    return headParameters(head, { dtype, weights: weightsRelativeTo(source.tensors, at, names) });
  } catch (error) {
    throw withFile(error, source.file);
  }
}

