import { ModsurgError } from '../errors.js';
import type { HeadLayer, HeadSpec, LinearLayer } from './layers.js';
import { ArgumentError, BoundArguments, LAYER_KINDS, LAYER_SIGNATURES, isLayerKind, layerArguments } from './signatures.js';
import { SpecError, parseSyntax, type ItemSyntax, type Located } from './syntax.js';
import { pythonRepr, sameValue, type SpecValue } from './values.js';

export type SequentialSpec = Extract<HeadSpec, { kind: 'sequential' }>;
export type SingleLayerSpec = Extract<HeadSpec, { kind: 'single' }>;

/**
 * Parses a head written like the contents of `nn.Sequential(OrderedDict(...))`:
 * `fc1=Linear(2048,128),relu1=ReLU(),dropout1=Dropout(0.5),fc2=Linear(128,10),output=Softmax(dim=1)`.
 * Unnamed layers are named by their position (`0`, `1`, …) as nn.Sequential names them. Every error
 * is one line that points at the offending character; `origin` (the flag) starts it.
 */
export function parseHeadSpec(text: string, origin = '--head'): SequentialSpec {
  const items = parseSyntax(text, origin);
  const named = new Map<string, number>();
  const layers = items.map((item, index): HeadLayer => {
    const name = item.name?.value ?? String(index);
    const earlier = named.get(name);
    if (earlier !== undefined) {
      const why = item.name ? '' : ` (unnamed layers are named by position, and this one is at ${index})`;
      throw new SpecError(origin, `duplicate layer name '${name}'${why}: the layer at position ${earlier} has it already`, text, (item.name ?? item.layer).at);
    }
    named.set(name, index);
    return buildLayer(item, name, text, origin);
  });
  return { kind: 'sequential', layers };
}

function buildLayer(item: ItemSyntax, name: string, text: string, origin: string): HeadLayer {
  const fail = (reason: string, at: number): never => {
    throw new SpecError(origin, reason, text, at);
  };
  const kind = item.layer.value;
  if (!isLayerKind(kind)) {
    const near = LAYER_KINDS.find((known) => known.toLowerCase() === kind.toLowerCase());
    return fail(`unknown layer '${kind}' (${near ? `did you mean ${near}?` : `known: ${LAYER_KINDS.join(', ')}`})`, item.layer.at);
  }
  const { parameters, build } = LAYER_SIGNATURES[kind];
  const positional = parameters.filter((p) => !p.keywordOnly);
  const given = new Map<string, Located<SpecValue>>();
  let keywordSeen = false;
  item.args.forEach((arg, i) => {
    let parameterName: string;
    if (arg.keyword) {
      keywordSeen = true;
      const parameter = parameters.find((p) => p.name === arg.keyword!.value);
      if (!parameter) {
        const known = parameters.length === 0 ? 'it takes no arguments' : `its arguments: ${parameters.map((p) => p.name).join(', ')}`;
        fail(`${name}: ${kind} has no argument '${arg.keyword.value}' (${known})`, arg.keyword.at);
      }
      parameterName = parameter!.name;
    } else {
      if (keywordSeen) fail(`${name}: positional argument after a keyword argument`, arg.value.at);
      const parameter = positional[i];
      if (!parameter) {
        const takes = positional.length === 0 ? 'takes no positional arguments' : `takes at most ${positional.length} positional argument${positional.length === 1 ? '' : 's'} (${positional.map((p) => p.name).join(', ')})`;
        fail(`${name}: ${kind} ${takes}`, arg.value.at);
      }
      parameterName = parameter!.name;
    }
    if (given.has(parameterName)) fail(`${name}: ${kind} got ${parameterName} twice`, (arg.keyword ?? arg.value).at);
    given.set(parameterName, arg.value);
  });
  const missing = parameters.filter((p) => p.default === undefined && !given.has(p.name));
  if (missing.length > 0) fail(`${name}: ${kind} is missing ${missing.map((p) => p.name).join(' and ')}`, item.end);
  try {
    return build(new BoundArguments(name, kind, given, parameters), name);
  } catch (error) {
    if (error instanceof ArgumentError) return fail(error.reason, error.at);
    throw error;
  }
}

/** One unnamed layer that is the module itself (add-module's `--layer 'Linear(1001,10)'`). */
export function parseLayerSpec(text: string, origin: string): SingleLayerSpec {
  const items = parseSyntax(text, origin);
  if (items.length !== 1) throw new ModsurgError(`${origin} is one layer, like 'Linear(1001,10)'; for several, use --head`);
  const item = items[0]!;
  if (item.name) throw new SpecError(origin, 'the layer takes its name from --at; write it without a name', text, item.name.at);
  return { kind: 'single', layer: buildLayer(item, '', text, origin) };
}

/** `--classes N`: the module itself becomes `nn.Linear(in_features, N)`, in_features from the model. */
export function classesHead(classes: number): SingleLayerSpec {
  if (!Number.isSafeInteger(classes) || classes < 1) throw new ModsurgError(`--classes must be a positive integer, not ${classes}`);
  const layer: LinearLayer = { kind: 'Linear', name: '', inFeatures: '?', outFeatures: classes, bias: true };
  return { kind: 'single', layer };
}

/**
 * Writes layers back as a spec that parseHeadSpec reads into the same layers: required arguments
 * positional, others by keyword when they differ from torch's default, names left out where the
 * position gives them.
 */
export function formatHeadSpec(layers: readonly HeadLayer[]): string {
  return layers.map((layer, index) => (layer.name === String(index) ? formatLayer(layer) : `${layer.name}=${formatLayer(layer)}`)).join(',');
}

export function formatLayer(layer: HeadLayer): string {
  const values = layerArguments(layer);
  const args: string[] = [];
  for (const parameter of LAYER_SIGNATURES[layer.kind].parameters) {
    const value = values.get(parameter.name)!;
    if (parameter.default === undefined) args.push(pythonRepr(value));
    else if (!sameValue(value, parameter.default)) args.push(`${parameter.name}=${pythonRepr(value)}`);
  }
  return `${layer.kind}(${args.join(', ')})`;
}
