/**
 * A replacement head as data: the layers of an `nn.Sequential(OrderedDict(...))`, each with its name
 * and its torch arguments resolved (defaults filled in), or a single `nn.Linear` that becomes the
 * module itself. Format-neutral: the checkpoint and ONNX sides read the same values.
 */

/** A feature count, or `?`: the count the model gives at that point, filled in by resolveHead. */
export type Features = number | '?';

interface Layer {
  /** The child's name in the Sequential (`fc1`, or `0`, `1`, … when unnamed); `''` for a single Linear. */
  readonly name: string;
}

export interface LinearLayer<F extends Features = Features> extends Layer {
  readonly kind: 'Linear';
  readonly inFeatures: F;
  readonly outFeatures: number;
  readonly bias: boolean;
}
export interface ReLULayer extends Layer {
  readonly kind: 'ReLU';
  readonly inplace: boolean;
}
export interface LeakyReLULayer extends Layer {
  readonly kind: 'LeakyReLU';
  readonly negativeSlope: number;
  readonly inplace: boolean;
}
export interface GELULayer extends Layer {
  readonly kind: 'GELU';
  readonly approximate: 'none' | 'tanh';
}
export interface SiLULayer extends Layer {
  readonly kind: 'SiLU';
  readonly inplace: boolean;
}
export interface SigmoidLayer extends Layer {
  readonly kind: 'Sigmoid';
}
export interface TanhLayer extends Layer {
  readonly kind: 'Tanh';
}
/** Identity at inference. */
export interface DropoutLayer extends Layer {
  readonly kind: 'Dropout';
  readonly p: number;
  readonly inplace: boolean;
}
export interface SoftmaxLayer extends Layer {
  readonly kind: 'Softmax' | 'LogSoftmax';
  /** `null`: torch's implicit choice (dim 1 for a [batch, features] input). */
  readonly dim: number | null;
}
export interface FlattenLayer extends Layer {
  readonly kind: 'Flatten';
  readonly startDim: number;
  readonly endDim: number;
}
export interface IdentityLayer extends Layer {
  readonly kind: 'Identity';
}
export interface BatchNorm1dLayer<F extends Features = Features> extends Layer {
  readonly kind: 'BatchNorm1d';
  readonly numFeatures: F;
  readonly eps: number;
  /** `null`: a cumulative moving average. */
  readonly momentum: number | null;
  readonly affine: boolean;
  readonly trackRunningStats: boolean;
  /** torch ≥ 2.5's keyword-only `bias`; only counts when `affine`. */
  readonly bias: boolean;
}
export interface LayerNormLayer<F extends Features = Features> extends Layer {
  readonly kind: 'LayerNorm';
  readonly normalizedShape: readonly F[];
  readonly eps: number;
  readonly elementwiseAffine: boolean;
  /** Only counts when `elementwiseAffine`. */
  readonly bias: boolean;
}

export type HeadLayer<F extends Features = Features> =
  | LinearLayer<F>
  | ReLULayer
  | LeakyReLULayer
  | GELULayer
  | SiLULayer
  | SigmoidLayer
  | TanhLayer
  | DropoutLayer
  | SoftmaxLayer
  | FlattenLayer
  | IdentityLayer
  | BatchNorm1dLayer<F>
  | LayerNormLayer<F>;

export type LayerKind = HeadLayer['kind'];

/** A layer whose feature counts are all known. */
export type ResolvedLayer = HeadLayer<number>;

/**
 * What replaces (or is added as) the module: an `nn.Sequential` of named layers (keys `fc.fc1.weight`),
 * or one layer that is the module itself (keys `fc.weight`): `--classes N`'s `nn.Linear`, add-module's `--layer`.
 */
export type HeadSpec =
  | { readonly kind: 'sequential'; readonly layers: readonly HeadLayer[] }
  | { readonly kind: 'single'; readonly layer: HeadLayer };

/** A head with every `?` filled in, and the feature counts it takes and gives. */
export type ResolvedHead = (
  | { readonly kind: 'sequential'; readonly layers: readonly ResolvedLayer[] }
  | { readonly kind: 'single'; readonly layer: ResolvedLayer }
) & { readonly inFeatures: number; readonly outFeatures: number };

/** The layers of a head, in order (one for a single layer). */
export function layersOf(head: ResolvedHead): readonly ResolvedLayer[];
export function layersOf(head: HeadSpec): readonly HeadLayer[];
export function layersOf(head: HeadSpec | ResolvedHead): readonly HeadLayer[] {
  return head.kind === 'sequential' ? head.layers : [head.layer];
}

/** A name relative to the head module: `fc1.weight` in a Sequential, `weight` for a single layer. */
export function qualify(layerName: string, member: string): string {
  return layerName === '' ? member : `${layerName}.${member}`;
}
