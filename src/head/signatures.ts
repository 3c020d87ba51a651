import type { Features, HeadLayer, LayerKind } from './layers.js';
import type { Located } from './syntax.js';
import { pythonRepr, specValue, type SpecValue } from './values.js';

/**
 * Each layer's torch constructor signature (argument names, order and defaults, as in torch 2.x) and
 * how its bound arguments become a typed layer: one table drives parsing and writing specs back.
 */

export interface Parameter {
  readonly name: string;
  /** Absent: required. */
  readonly default?: SpecValue;
  /** Only by keyword (BatchNorm1d's `bias`, after torch's `*`). */
  readonly keywordOnly?: boolean;
}

/** Why a bound argument was rejected, and where; the spec parser turns it into a SpecError. */
export class ArgumentError extends Error {
  constructor(
    readonly reason: string,
    readonly at: number,
  ) {
    super(reason);
  }
}

/** A layer's arguments after binding, read by type: a wrong type is an ArgumentError at the value. */
export class BoundArguments {
  constructor(
    private readonly layer: string,
    private readonly kind: LayerKind,
    private readonly given: ReadonlyMap<string, Located<SpecValue>>,
    private readonly parameters: readonly Parameter[],
  ) {}

  private get(name: string): Located<SpecValue> {
    const given = this.given.get(name);
    if (given) return given;
    const parameter = this.parameters.find((p) => p.name === name)!;
    return { value: parameter.default!, at: -1 };
  }

  private wrong(name: string, expected: string, found: Located<SpecValue>): never {
    throw new ArgumentError(`${this.layer}: ${this.kind} ${name} must be ${expected}, not ${pythonRepr(found.value)}`, found.at);
  }

  /** A feature count: a positive int, or `?` (taken from the model). */
  features(name: string): Features {
    const found = this.get(name);
    if (found.value.kind === 'infer') return '?';
    return this.positive(name, found, 'a positive int or ? (from the model)');
  }

  /** An int ≥ 1. */
  count(name: string): number {
    return this.positive(name, this.get(name), 'a positive int');
  }

  private positive(name: string, found: Located<SpecValue>, expected: string): number {
    if (found.value.kind !== 'int' || found.value.value < 1) this.wrong(name, expected, found);
    return found.value.value;
  }

  /** An int or a tuple of them (`8`, `(8,)`, `[?]`), each a feature count. */
  shape(name: string): Features[] {
    const found = this.get(name);
    if (found.value.kind !== 'tuple') return [this.features(name)];
    if (found.value.items.length === 0) this.wrong(name, 'a feature count or a non-empty tuple of them', found);
    return found.value.items.map((item) => {
      if (item.kind === 'infer') return '?';
      if (item.kind !== 'int' || item.value < 1) this.wrong(name, 'a tuple of positive ints', found);
      return item.value;
    });
  }

  int(name: string): number {
    const found = this.get(name);
    if (found.value.kind !== 'int') this.wrong(name, 'an int', found);
    return found.value.value;
  }

  optionalInt(name: string): number | null {
    return this.get(name).value.kind === 'none' ? null : this.int(name);
  }

  /** A float; an int is accepted, as Python does. */
  float(name: string): number {
    const found = this.get(name);
    if (found.value.kind !== 'float' && found.value.kind !== 'int') this.wrong(name, 'a number', found);
    return found.value.value;
  }

  optionalFloat(name: string): number | null {
    return this.get(name).value.kind === 'none' ? null : this.float(name);
  }

  /** A probability in [0, 1] (torch raises otherwise). */
  probability(name: string): number {
    const value = this.float(name);
    if (value < 0 || value > 1) this.wrong(name, 'between 0 and 1', this.get(name));
    return value;
  }

  bool(name: string): boolean {
    const found = this.get(name);
    if (found.value.kind !== 'bool') this.wrong(name, 'True or False', found);
    return found.value.value;
  }

  choice<T extends string>(name: string, options: readonly T[]): T {
    const found = this.get(name);
    const value = found.value;
    const match = value.kind === 'str' ? options.find((option) => option === value.value) : undefined;
    if (match === undefined) this.wrong(name, `one of ${options.map((o) => `'${o}'`).join(', ')}`, found);
    return match;
  }
}

export interface LayerSignature {
  readonly parameters: readonly Parameter[];
  build(args: BoundArguments, name: string): HeadLayer;
}

const inplace: Parameter = { name: 'inplace', default: specValue.bool(false) };
const dim: Parameter = { name: 'dim', default: specValue.none };

export const LAYER_SIGNATURES: { readonly [K in LayerKind]: LayerSignature } = {
  Linear: {
    parameters: [{ name: 'in_features' }, { name: 'out_features' }, { name: 'bias', default: specValue.bool(true) }],
    build: (a, name) => ({ kind: 'Linear', name, inFeatures: a.features('in_features'), outFeatures: a.count('out_features'), bias: a.bool('bias') }),
  },
  ReLU: { parameters: [inplace], build: (a, name) => ({ kind: 'ReLU', name, inplace: a.bool('inplace') }) },
  LeakyReLU: {
    parameters: [{ name: 'negative_slope', default: specValue.float(0.01) }, inplace],
    build: (a, name) => ({ kind: 'LeakyReLU', name, negativeSlope: a.float('negative_slope'), inplace: a.bool('inplace') }),
  },
  GELU: {
    parameters: [{ name: 'approximate', default: specValue.str('none') }],
    build: (a, name) => ({ kind: 'GELU', name, approximate: a.choice('approximate', ['none', 'tanh'] as const) }),
  },
  SiLU: { parameters: [inplace], build: (a, name) => ({ kind: 'SiLU', name, inplace: a.bool('inplace') }) },
  Sigmoid: { parameters: [], build: (_a, name) => ({ kind: 'Sigmoid', name }) },
  Tanh: { parameters: [], build: (_a, name) => ({ kind: 'Tanh', name }) },
  Dropout: {
    parameters: [{ name: 'p', default: specValue.float(0.5) }, inplace],
    build: (a, name) => ({ kind: 'Dropout', name, p: a.probability('p'), inplace: a.bool('inplace') }),
  },
  Softmax: { parameters: [dim], build: (a, name) => ({ kind: 'Softmax', name, dim: a.optionalInt('dim') }) },
  LogSoftmax: { parameters: [dim], build: (a, name) => ({ kind: 'LogSoftmax', name, dim: a.optionalInt('dim') }) },
  Flatten: {
    parameters: [
      { name: 'start_dim', default: specValue.int(1) },
      { name: 'end_dim', default: specValue.int(-1) },
    ],
    build: (a, name) => ({ kind: 'Flatten', name, startDim: a.int('start_dim'), endDim: a.int('end_dim') }),
  },
  Identity: { parameters: [], build: (_a, name) => ({ kind: 'Identity', name }) },
  BatchNorm1d: {
    parameters: [
      { name: 'num_features' },
      { name: 'eps', default: specValue.float(1e-5) },
      { name: 'momentum', default: specValue.float(0.1) },
      { name: 'affine', default: specValue.bool(true) },
      { name: 'track_running_stats', default: specValue.bool(true) },
      { name: 'bias', default: specValue.bool(true), keywordOnly: true },
    ],
    build: (a, name) => ({
      kind: 'BatchNorm1d',
      name,
      numFeatures: a.features('num_features'),
      eps: a.float('eps'),
      momentum: a.optionalFloat('momentum'),
      affine: a.bool('affine'),
      trackRunningStats: a.bool('track_running_stats'),
      bias: a.bool('bias'),
    }),
  },
  LayerNorm: {
    parameters: [
      { name: 'normalized_shape' },
      { name: 'eps', default: specValue.float(1e-5) },
      { name: 'elementwise_affine', default: specValue.bool(true) },
      { name: 'bias', default: specValue.bool(true) },
    ],
    build: (a, name) => ({
      kind: 'LayerNorm',
      name,
      normalizedShape: a.shape('normalized_shape'),
      eps: a.float('eps'),
      elementwiseAffine: a.bool('elementwise_affine'),
      bias: a.bool('bias'),
    }),
  },
};

export const LAYER_KINDS = Object.keys(LAYER_SIGNATURES) as LayerKind[];

export function isLayerKind(name: string): name is LayerKind {
  return Object.hasOwn(LAYER_SIGNATURES, name);
}

const features = (value: Features): SpecValue => (value === '?' ? specValue.infer : specValue.int(value));
const optional = (value: number | null, make: (v: number) => SpecValue): SpecValue => (value === null ? specValue.none : make(value));

/** A layer's arguments by torch name, every one of them: the inverse of its signature's `build`. */
export function layerArguments(layer: HeadLayer): ReadonlyMap<string, SpecValue> {
  const entries = ((): [string, SpecValue][] => {
    switch (layer.kind) {
      case 'Linear':
        return [['in_features', features(layer.inFeatures)], ['out_features', specValue.int(layer.outFeatures)], ['bias', specValue.bool(layer.bias)]];
      case 'ReLU':
      case 'SiLU':
        return [['inplace', specValue.bool(layer.inplace)]];
      case 'LeakyReLU':
        return [['negative_slope', specValue.float(layer.negativeSlope)], ['inplace', specValue.bool(layer.inplace)]];
      case 'GELU':
        return [['approximate', specValue.str(layer.approximate)]];
      case 'Sigmoid':
      case 'Tanh':
      case 'Identity':
        return [];
      case 'Dropout':
        return [['p', specValue.float(layer.p)], ['inplace', specValue.bool(layer.inplace)]];
      case 'Softmax':
      case 'LogSoftmax':
        return [['dim', optional(layer.dim, specValue.int)]];
      case 'Flatten':
        return [['start_dim', specValue.int(layer.startDim)], ['end_dim', specValue.int(layer.endDim)]];
      case 'BatchNorm1d':
        return [
          ['num_features', features(layer.numFeatures)],
          ['eps', specValue.float(layer.eps)],
          ['momentum', optional(layer.momentum, specValue.float)],
          ['affine', specValue.bool(layer.affine)],
          ['track_running_stats', specValue.bool(layer.trackRunningStats)],
          ['bias', specValue.bool(layer.bias)],
        ];
      case 'LayerNorm':
        return [
          ['normalized_shape', layer.normalizedShape.length === 1 ? features(layer.normalizedShape[0]!) : specValue.tuple(layer.normalizedShape.map(features))],
          ['eps', specValue.float(layer.eps)],
          ['elementwise_affine', specValue.bool(layer.elementwiseAffine)],
          ['bias', specValue.bool(layer.bias)],
        ];
    }
  })();
  return new Map(entries);
}
