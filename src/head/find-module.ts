import { ModsurgError } from '../cli/errors.js';
import { isFloating, type DType } from '../checkpoint/dtype.js';
import type { PyDict } from '../checkpoint/pickle/value.js';
import { stateDictTensors } from '../checkpoint/state-dict.js';
import type { Tensor } from '../checkpoint/tensor.js';

/**
 * Which module of a state dict a new head replaces, told from the keys and shapes alone: the one
 * --at names, or the last that looks like an nn.Linear (fc, classifier, head).
 */

/** The module a head replaces, and what the state dict says about it. */
export interface HeadModule {
  /** Its dot path in the state dict: `fc`, `module.fc`, `classifier`. */
  readonly at: string;
  /** `given` by --at, or found as the `last-linear` module (the last with a 2-D `weight`). */
  readonly chosen: 'given' | 'last-linear';
  /** Its keys (its own tensors and its children's), in order. */
  readonly keys: readonly string[];
  /** The feature count it takes, from its (first) weight; undefined when no weight tells. */
  readonly inFeatures: number | undefined;
  /** Where that count comes from: `fc.weight is [10, 8]`. */
  readonly inFeaturesFrom: string | undefined;
  /** The dtype the head's new parameters get: that of the module's weight. */
  readonly dtype: DType;
  /** What it was, as torch would print it where the keys tell (`Linear(in_features=8, out_features=10, bias=True)`). */
  readonly description: string;
}

/** The module to replace: `at` if given, else the last module with a 2-D `weight` (and a `bias` or not) and nothing else. */
export function findHeadModule(dict: PyDict, at: string | undefined): HeadModule {
  const tensors = stateDictTensors(dict);
  const chosen = at === undefined ? 'last-linear' : 'given';
  const path = at === undefined ? lastLinearModule(tensors) : checkedModulePath(tensors, at.replace(/\.$/, ''));
  const under = tensors.filter(([key]) => key.startsWith(`${path}.`));
  const own = new Map(under.filter(([key]) => !key.slice(path.length + 1).includes('.')).map(([key, tensor]) => [key.slice(path.length + 1), tensor]));
  const counting = countingWeight(path, own, under);
  const dtypeSource = counting?.[1] ?? under.find(([, tensor]) => isFloating(tensor.dtype))?.[1];
  if (dtypeSource === undefined) throw new ModsurgError(`'${path}' has no floating-point tensor to take the new parameters' dtype from`);
  return {
    at: path,
    chosen,
    keys: under.map(([key]) => key),
    inFeatures: counting === undefined ? undefined : counting[1].shape.length === 2 ? counting[1].shape[1] : counting[1].shape[0],
    inFeaturesFrom: counting === undefined ? undefined : `${counting[0]} is [${counting[1].shape.join(', ')}]`,
    dtype: dtypeSource.dtype,
    description: describeModule(own, under.length),
  };
}

/**
 * The weight that tells how many features the module takes: its own 2-D `weight` ([out, in]), else
 * the first `weight` under it, 2-D ([out, in]: a Linear) or 1-D ([features]: a norm layer).
 */
function countingWeight(path: string, own: ReadonlyMap<string, Tensor>, under: readonly [string, Tensor][]): readonly [string, Tensor] | undefined {
  const weight = own.get('weight');
  if (weight !== undefined && weight.shape.length === 2) return [`${path}.weight`, weight];
  return under.find(([key, tensor]) => /(^|\.)weight$/.test(key) && (tensor.shape.length === 1 || tensor.shape.length === 2));
}

/** A module whose own tensors are a 2-D `weight` and maybe a matching 1-D `bias`: what nn.Linear leaves. */
function linearShape(own: ReadonlyMap<string, Tensor>): { inFeatures: number; outFeatures: number; bias: boolean } | undefined {
  const weight = own.get('weight');
  const bias = own.get('bias');
  if (weight === undefined || weight.shape.length !== 2 || own.size !== (bias ? 2 : 1)) return undefined;
  if (bias && (bias.shape.length !== 1 || bias.shape[0] !== weight.shape[0])) return undefined;
  return { inFeatures: weight.shape[1]!, outFeatures: weight.shape[0]!, bias: bias !== undefined };
}

function describeModule(own: ReadonlyMap<string, Tensor>, tensorCount: number): string {
  const linear = linearShape(own);
  if (linear && own.size === tensorCount) return `Linear(in_features=${linear.inFeatures}, out_features=${linear.outFeatures}, bias=${linear.bias ? 'True' : 'False'})`;
  return `a module with ${tensorCount} tensor${tensorCount === 1 ? '' : 's'}`;
}

/** Module paths with their own tensors, in key order. */
function modulesOf(tensors: readonly [string, Tensor][]): Map<string, Map<string, Tensor>> {
  const modules = new Map<string, Map<string, Tensor>>();
  for (const [key, tensor] of tensors) {
    const dot = key.lastIndexOf('.');
    if (dot < 0) continue;
    const path = key.slice(0, dot);
    if (!modules.has(path)) modules.set(path, new Map());
    modules.get(path)!.set(key.slice(dot + 1), tensor);
  }
  return modules;
}

function linearModules(tensors: readonly [string, Tensor][]): string[] {
  return [...modulesOf(tensors)].filter(([, own]) => linearShape(own) !== undefined).map(([path]) => path);
}

function lastLinearModule(tensors: readonly [string, Tensor][]): string {
  const found = linearModules(tensors);
  if (found.length === 0) {
    throw new ModsurgError('found no Linear-looking module (a 2-D weight, with or without a bias) to replace; name the module with --at');
  }
  // the last one in state_dict order, i.e. the last registered: the classifier of most models
  const byLastKey = new Map<string, number>();
  tensors.forEach(([key], i) => {
    const dot = key.lastIndexOf('.');
    if (dot > 0) byLastKey.set(key.slice(0, dot), i);
  });
  return found.reduce((last, path) => (byLastKey.get(path)! > byLastKey.get(last)! ? path : last));
}

function checkedModulePath(tensors: readonly [string, Tensor][], at: string): string {
  if (at === '') throw new ModsurgError('--at: name a module inside the model (e.g. fc), not the model itself');
  if (tensors.some(([key]) => key === at)) {
    const parent = at.includes('.') ? at.slice(0, at.lastIndexOf('.')) : undefined;
    throw new ModsurgError(`--at ${at} names a tensor, not a module${parent ? `; did you mean --at ${parent}?` : ''}`);
  }
  if (tensors.some(([key]) => key.startsWith(`${at}.`))) return at;
  const modules = [...modulesOf(tensors).keys()];
  const suffixed = [...new Set(modules.flatMap((path) => ancestors(path)).filter((path) => path.endsWith(`.${at}`)))];
  const hint = suffixed.length > 0 ? `did you mean ${suffixed.map((path) => `--at ${path}`).join(' or ')}?` : `Linear-looking modules here: ${linearModules(tensors).join(', ') || 'none'}`;
  throw new ModsurgError(`--at ${at}: no keys under '${at}.' (${hint})`);
}

/** `a.b.c` → `a`, `a.b`, `a.b.c`. */
function ancestors(path: string): string[] {
  const parts = path.split('.');
  return parts.map((_, i) => parts.slice(0, i + 1).join('.'));
}
