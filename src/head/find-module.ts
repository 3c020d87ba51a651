import { ModsurgError } from '../errors.js';
import { isFloating, type DType } from '../checkpoint/dtype.js';
import type { PyDict } from '../checkpoint/pickle/value.js';
import { metadataOf, stateDictTensors } from '../checkpoint/state-dict.js';
import type { Tensor } from '../checkpoint/tensor.js';

/**
 * Which module of a state dict a new head replaces, told from the keys and shapes alone: the one --at
 * names, or the model's classifier, chosen from what the model is and never from key order alone
 * (safetensors stores keys sorted by name, so the last key says nothing).
 */

/** The module a head replaces, and what the state dict says about it. */
export interface HeadModule {
  /** Its dot path in the state dict: `fc`, `module.fc`, `classifier`. */
  readonly at: string;
  /** How it was chosen: `given` by --at, else see HeadChoice. */
  readonly chosen: 'given' | HeadChoice;
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
  const found = at === undefined ? defaultHeadModule(tensors, metadataOf(dict) !== undefined) : { path: checkedModulePath(tensors, at.replace(/\.$/, '')), chosen: 'given' as const };
  const { path, chosen } = found;
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

/**
 * How the default head was told: by a `known-name` (fc, head, classifier, lm_head, …), as the one
 * Linear whose out_features nothing `unconsumed` reads, or as the `last-registered` of the remaining
 * ones where `_metadata` vouches for the key order (a torch state dict).
 */
export type HeadChoice = 'known-name' | 'unconsumed' | 'last-registered';

/** What torchvision, timm and transformers name their classifiers, below the wrappers module. (DataParallel), _orig_mod. (torch.compile) and model. (Lightning). */
const KNOWN_HEAD = /^(?:(?:module|_orig_mod|model)\.)*(fc|head|head\.fc|heads\.head|classifier|classifier\.\d+|classifier\.out_proj|lm_head|score|last_linear|logits|qa_outputs)$/;

/** Embeddings are [num_embeddings, dim] like a Linear without bias, but never a head. */
const EMBEDDING = /(^|\.)(wte|wpe|shared|\w*embed\w*)(\.|$)/i;

/**
 * The model's classifier: among the Linear-looking modules (a 2-D weight and maybe its bias), those with
 * a known head name; of several, the last of a numbered `classifier.N` Sequential, else those whose
 * out_features no other layer takes in; of several still, the last registered when the order is torch's
 * own. Otherwise an error lists the candidates, for --at to decide.
 */
function defaultHeadModule(tensors: readonly [string, Tensor][], orderKnown: boolean): { path: string; chosen: HeadChoice } {
  const linear = linearModules(tensors).filter((path) => !EMBEDDING.test(path));
  if (linear.length === 0) {
    throw new ModsurgError('found no Linear-looking module (a 2-D weight, with or without a bias) to replace; name the module with --at');
  }
  const known = linear.filter((path) => KNOWN_HEAD.test(path));
  if (known.length === 1) return { path: known[0]!, chosen: 'known-name' };
  const numbered = lastOfNumberedSequential(known);
  if (numbered !== undefined) return { path: numbered, chosen: 'known-name' };
  const candidates = known.length > 0 ? known : linear;
  const unconsumed = candidates.filter((path) => !isConsumed(path, tensors));
  if (unconsumed.length === 1) return { path: unconsumed[0]!, chosen: known.length > 0 ? 'known-name' : 'unconsumed' };
  const remaining = unconsumed.length > 0 ? unconsumed : candidates;
  if (orderKnown) {
    // in a torch state dict, keys come in registration order: the classifier is registered last
    const lastKey = new Map<string, number>();
    tensors.forEach(([key], i) => lastKey.set(key.slice(0, key.lastIndexOf('.')), i));
    return { path: remaining.reduce((last, path) => (lastKey.get(path)! > lastKey.get(last)! ? path : last)), chosen: 'last-registered' };
  }
  throw new ModsurgError(
    `cannot tell which module is the classifier: ${remaining.length} could be (${remaining.slice(0, 8).join(', ')}${remaining.length > 8 ? ', …' : ''}); name it with --at`,
  );
}

/** Of `classifier.0`, `classifier.3`, `classifier.6` (one nn.Sequential): the last, by number. */
function lastOfNumberedSequential(paths: readonly string[]): string | undefined {
  const numbered = paths.map((path) => /^(.*)\.(\d+)$/.exec(path));
  if (numbered.length < 2 || numbered.some((m) => m === null || m[1] !== numbered[0]![1])) return undefined;
  return numbered.reduce((last, m) => (Number(m![2]) > Number(last![2]) ? m : last))![0];
}

/** Whether another layer takes in as many features as the module gives out (so something reads them). */
function isConsumed(path: string, tensors: readonly [string, Tensor][]): boolean {
  const out = tensors.find(([key]) => key === `${path}.weight`)![1].shape[0];
  return tensors.some(([key, tensor]) => {
    if (!key.endsWith('.weight') || key === `${path}.weight`) return false;
    const takes = tensor.shape.length === 1 ? tensor.shape[0] : tensor.shape[1];
    return takes === out;
  });
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
