import { ModsurgError } from '../../errors.js';
import type { CastTarget } from '../../checkpoint/numeric.js';
import { elemTypeInfo } from '../elem-type.js';
import type { TensorType } from '../graph.js';

/**
 * What a new head (add-input's, add-output's) sees of the tensor T it reads: its features per batch item
 * and the floating dtype it computes in.
 */

/** T's dims after the batch, as one count: T must be [batch, features] unless the layers flatten it first. */
export function headInputFeatures(type: TensorType, flattensFirst: boolean, what: string, hint: string): number {
  const shown = `[${(type.shape ?? []).map((d) => d ?? '?').join(', ')}]`;
  const dims = (type.shape ?? []).slice(1);
  if (type.shape === undefined || !dims.every((d): d is number => typeof d === 'number')) throw new ModsurgError(`${what} has dims that are not fixed: ${shown}`);
  if (!flattensFirst && dims.length !== 1) throw new ModsurgError(`${what} is ${shown}, not [batch, features]; ${hint}`);
  return dims.reduce((a, b) => a * b, 1);
}

const FLOATING: readonly string[] = ['float16', 'bfloat16', 'float32', 'float64'];

/** The dtype of T, which a head reading it computes in (its parameters take it too). */
export function headDtypeOf(type: TensorType, what: string): CastTarget {
  const name = elemTypeInfo(type.elemType).name;
  if (!FLOATING.includes(name)) throw new ModsurgError(`${what} is ${name}; a head reads float16, bfloat16, float32 or float64`);
  return name as CastTarget;
}
