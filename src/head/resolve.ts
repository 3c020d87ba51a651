import { ModsurgError } from '../errors.js';
import type { Features, HeadLayer, HeadSpec, LinearLayer, ResolvedHead, ResolvedLayer } from './layers.js';

/**
 * Walks the head's layers with the feature count of a [batch, features] input: each `?` becomes the
 * count that arrives there, and a layer written for another count is an error naming it
 * (`fc2: Linear expects 64 input features, the layer before gives 128`).
 *
 * `inFeatures` is what the model feeds the head; undefined when the model does not tell, and then the
 * first layer that states a count sets it. `origin` says where the model's count comes from, for errors
 * (`fc.weight is [10, 8]`).
 */
export function resolveHead(spec: HeadSpec, inFeatures: number | undefined, origin?: string): ResolvedHead {
  const layers = spec.kind === 'sequential' ? spec.layers : [spec.layer];
  const input = inFeatures ?? firstStatedCount(layers);
  if (input === undefined) {
    throw new ModsurgError("cannot tell how many features the head takes: the model does not say, and the spec's first layer with a feature count has '?'");
  }
  const walk = new FeatureWalk(input, origin);
  if (spec.kind === 'single') {
    const layer = walk.layer(spec.layer);
    return { kind: 'single', layer, inFeatures: input, outFeatures: walk.features };
  }
  const resolved = spec.layers.map((layer) => walk.layer(layer));
  return { kind: 'sequential', layers: resolved, inFeatures: input, outFeatures: walk.features };
}

/** The feature count as it flows through the layers. */
class FeatureWalk {
  private first = true;

  constructor(
    public features: number,
    private readonly origin: string | undefined,
  ) {}

  layer(layer: HeadLayer): ResolvedLayer {
    switch (layer.kind) {
      case 'Linear':
        return this.linear(layer);
      case 'BatchNorm1d':
        return { ...layer, numFeatures: this.take(layer, layer.numFeatures, 'features') };
      case 'LayerNorm': {
        if (layer.normalizedShape.length !== 1) {
          throw new ModsurgError(
            `${label(layer)}: LayerNorm normalized_shape (${layer.normalizedShape.join(', ')}) has ${layer.normalizedShape.length} dimensions; the head's input is [batch, features], so it must be (features,)`,
          );
        }
        return { ...layer, normalizedShape: [this.take(layer, layer.normalizedShape[0]!, 'features')] };
      }
      default:
        this.first = false;
        return layer;
    }
  }

  linear(layer: LinearLayer): LinearLayer<number> {
    const resolved = { ...layer, inFeatures: this.take(layer, layer.inFeatures, 'input features') };
    this.features = layer.outFeatures;
    return resolved;
  }

  private take(layer: HeadLayer, stated: Features, what: string): number {
    const source = this.first ? `the model gives ${this.features}${this.origin ? ` (${this.origin})` : ''}` : `the layer before gives ${this.features}`;
    this.first = false;
    if (stated !== '?' && stated !== this.features) throw new ModsurgError(`${label(layer)}: ${layer.kind} expects ${stated} ${what}, ${source}`);
    return this.features;
  }
}

/** How an error names a layer: `fc2`, `layer 0` (unnamed), or `the new layer` (--classes). */
function label(layer: HeadLayer): string {
  if (layer.name === '') return 'the new layer';
  return /^[0-9]+$/.test(layer.name) ? `layer ${layer.name}` : layer.name;
}

/** The feature count the first counting layer states, if it states one. */
function firstStatedCount(layers: readonly HeadLayer[]): number | undefined {
  for (const layer of layers) {
    const stated = layer.kind === 'Linear' ? layer.inFeatures : layer.kind === 'BatchNorm1d' ? layer.numFeatures : layer.kind === 'LayerNorm' ? layer.normalizedShape[0] : undefined;
    if (stated !== undefined) return stated === '?' ? undefined : stated;
  }
  return undefined;
}
