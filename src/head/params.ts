import { ModsurgError } from '../errors.js';
import { dtypeInfo, type DType } from '../checkpoint/dtype.js';
import { decode, encodeFloats, type CastTarget } from '../checkpoint/numeric.js';
import { contiguousBytes, numelOf, type Tensor } from '../checkpoint/tensor.js';
import { SeededRandom, randomSeed } from '../io/random.js';
import { layersOf, qualify, type LayerKind, type ResolvedHead, type ResolvedLayer } from './layers.js';

/**
 * The parameters and buffers of a head as torch names and orders them in `state_dict()`, and their
 * values: from a weights file, or PyTorch's default initialisation. Format-neutral: the checkpoint side
 * makes tensors of them, the ONNX side initializers.
 */

/** `module._version` of each class, as torch records it in a state dict's `_metadata` (torch 2.x). */
export const MODULE_VERSIONS: { readonly [K in LayerKind | 'Sequential']: number } = {
  Sequential: 1,
  Linear: 1,
  ReLU: 1,
  LeakyReLU: 1,
  GELU: 1,
  SiLU: 1,
  Sigmoid: 1,
  Tanh: 1,
  Dropout: 1,
  Softmax: 1,
  LogSoftmax: 1,
  Flatten: 1,
  Identity: 1,
  // version 2 added num_batches_tracked
  BatchNorm1d: 2,
  LayerNorm: 1,
};

/** How torch's constructor initialises a tensor. */
export type ParameterInit =
  /** U(-bound, bound): Linear's `kaiming_uniform_(a=√5)` weight and its bias, bound 1/√in_features. */
  | { readonly kind: 'uniform'; readonly bound: number }
  | { readonly kind: 'fill'; readonly value: number };

export interface ParameterSlot {
  /** Relative to the head module: `fc1.weight`, or `weight` for a single Linear. */
  readonly name: string;
  readonly shape: readonly number[];
  /** `float`: the head's floating dtype; `int64`: BatchNorm's `num_batches_tracked` counter. */
  readonly type: 'float' | 'int64';
  readonly init: ParameterInit;
}

/** Every parameter and persistent buffer of the head, in `state_dict()` order. */
export function parameterSlots(head: ResolvedHead): ParameterSlot[] {
  return layersOf(head).flatMap((layer) => layerSlots(layer).map((slot) => ({ ...slot, name: qualify(layer.name, slot.name) })));
}

const fill = (value: number): ParameterInit => ({ kind: 'fill', value });

function layerSlots(layer: ResolvedLayer): ParameterSlot[] {
  const slots: ParameterSlot[] = [];
  const add = (name: string, shape: readonly number[], init: ParameterInit, type: 'float' | 'int64' = 'float'): void => {
    slots.push({ name, shape, type, init });
  };
  switch (layer.kind) {
    case 'Linear': {
      const bound = layer.inFeatures > 0 ? 1 / Math.sqrt(layer.inFeatures) : 0;
      add('weight', [layer.outFeatures, layer.inFeatures], { kind: 'uniform', bound });
      if (layer.bias) add('bias', [layer.outFeatures], { kind: 'uniform', bound });
      break;
    }
    case 'BatchNorm1d': {
      const n = [layer.numFeatures];
      if (layer.affine) add('weight', n, fill(1));
      if (layer.affine && layer.bias) add('bias', n, fill(0));
      if (layer.trackRunningStats) {
        add('running_mean', n, fill(0));
        add('running_var', n, fill(1));
        add('num_batches_tracked', [], fill(0), 'int64');
      }
      break;
    }
    case 'LayerNorm':
      if (layer.elementwiseAffine) add('weight', layer.normalizedShape, fill(1));
      if (layer.elementwiseAffine && layer.bias) add('bias', layer.normalizedShape, fill(0));
      break;
    default:
      break;
  }
  return slots;
}

/** A head parameter's values: what becomes a checkpoint tensor or an ONNX initializer. */
export interface HeadParameter {
  /** Relative to the head module (`fc1.weight`). */
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
  /** Row-major, little-endian. */
  readonly bytes: Uint8Array;
}

export interface HeadParameterOptions {
  /** The floating dtype of the new parameters (that of the layer replaced). */
  readonly dtype: CastTarget;
  /** Values by relative name (`fc1.weight`); every parameter must be there, and nothing else. */
  readonly weights?: ReadonlyMap<string, Tensor>;
  /** For the default initialisation; a random seed when absent. */
  readonly seed?: number;
}

/**
 * The head's parameters with their values: taken from `weights` (shapes checked, dtypes converted as
 * torch's `.to()` rounds), or initialised as torch's constructors do, from a seeded generator.
 */
export function headParameters(head: ResolvedHead, options: HeadParameterOptions): HeadParameter[] {
  const slots = parameterSlots(head);
  if (options.weights) return fromWeights(slots, options.weights, options.dtype);
  const random = new SeededRandom(options.seed ?? randomSeed());
  return slots.map((slot) => initialise(slot, options.dtype, random));
}

function initialise(slot: ParameterSlot, dtype: CastTarget, random: SeededRandom): HeadParameter {
  const values = new Float64Array(numelOf(slot.shape));
  if (slot.init.kind === 'uniform') {
    for (let i = 0; i < values.length; i++) values[i] = random.uniform(-slot.init.bound, slot.init.bound);
  } else values.fill(slot.init.value);
  if (slot.type === 'int64') return { name: slot.name, dtype: 'int64', shape: slot.shape, bytes: int64Bytes(values) };
  return { name: slot.name, dtype, shape: slot.shape, bytes: encodeFloats(dtype, values) };
}

function int64Bytes(values: Float64Array): Uint8Array {
  const bytes = new Uint8Array(values.length * 8);
  const view = new DataView(bytes.buffer);
  values.forEach((value, i) => view.setBigInt64(i * 8, BigInt(Math.trunc(value)), true));
  return bytes;
}

function fromWeights(slots: readonly ParameterSlot[], weights: ReadonlyMap<string, Tensor>, dtype: CastTarget): HeadParameter[] {
  const expected = new Set(slots.map((slot) => slot.name));
  const missing = slots.filter((slot) => !weights.has(slot.name)).map((slot) => slot.name);
  const extra = [...weights.keys()].filter((name) => !expected.has(name));
  if (missing.length > 0 || extra.length > 0) {
    const problems = [...(missing.length > 0 ? [`missing ${missing.join(', ')}`] : []), ...(extra.length > 0 ? [`not in the head: ${extra.join(', ')}`] : [])];
    throw new ModsurgError(`does not fit the head: ${problems.join('; ')} (the head has ${slots.map((slot) => slot.name).join(', ') || 'no parameters'})`);
  }
  return slots.map((slot) => {
    const tensor = weights.get(slot.name)!;
    if (tensor.shape.length !== slot.shape.length || tensor.shape.some((n, i) => n !== slot.shape[i])) {
      throw new ModsurgError(`${slot.name} is [${tensor.shape.join(', ')}], the head needs [${slot.shape.join(', ')}]`);
    }
    const kind = dtypeInfo(tensor.dtype).kind;
    if (slot.type === 'int64') {
      if (kind !== 'int' && kind !== 'uint') throw new ModsurgError(`${slot.name} is ${tensor.dtype}, the head needs an integer tensor (int64)`);
      const bytes = tensor.dtype === 'int64' ? contiguousBytes(tensor).slice() : int64Bytes(decode(tensor.dtype, contiguousBytes(tensor)));
      return { name: slot.name, dtype: 'int64', shape: slot.shape, bytes };
    }
    if (kind !== 'float') throw new ModsurgError(`${slot.name} is ${tensor.dtype}, the head needs a floating-point tensor (${dtype})`);
    const bytes = tensor.dtype === dtype ? contiguousBytes(tensor).slice() : encodeFloats(dtype, decode(tensor.dtype, contiguousBytes(tensor)));
    return { name: slot.name, dtype, shape: slot.shape, bytes };
  });
}
