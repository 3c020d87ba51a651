import { ModsurgError } from '../errors.js';
import { isFloating, type DType } from '../checkpoint/dtype.js';
import type { CastTarget } from '../checkpoint/numeric.js';
import { dictGet, keyText, pathOf, py, walkValues, type PyDict, type PyValue } from '../checkpoint/pickle/value.js';
import { metadataOf, stateDictTensors, withEntries } from '../checkpoint/state-dict.js';
import { contiguousStride, numelOf, type Tensor } from '../checkpoint/tensor.js';
import { findHeadModule, type HeadModule } from './find-module.js';
import { layersOf, type HeadSpec, type ResolvedHead } from './layers.js';
import { MODULE_VERSIONS, type HeadParameter } from './params.js';
import { resolveHead } from './resolve.js';
import { headParametersFrom, type ParameterSource } from './source.js';

/**
 * Replacing a module of a state dict by a new head, the way `model.fc = nn.Sequential(...)` followed by
 * `model.state_dict()` would: the module's keys go, the head's keys come at the same place, and
 * `_metadata` records the new modules with their class versions.
 */

export interface HeadReplacement {
  readonly dict: PyDict;
  readonly at: string;
  readonly chosen: HeadModule['chosen'];
  /** What was replaced, as torch would print it where the keys tell. */
  readonly replaced: string;
  readonly inFeatures: number;
  readonly head: ResolvedHead;
  readonly removed: string[];
  readonly added: string[];
  readonly parameters: HeadParameter[];
}

/** Replaces the module at `at` (default: the last Linear-looking one) of a state dict by the head. */
export function replaceHeadInStateDict(dict: PyDict, at: string | undefined, spec: HeadSpec, source: ParameterSource): HeadReplacement {
  const module = findHeadModule(dict, at);
  const head = resolveHead(spec, module.inFeatures, module.inFeaturesFrom);
  const dtype = headDtype(module);
  const parameters = headParametersFrom(head, dtype, module.at, source);
  const { dict: result, removed, added } = spliceHead(dict, module.at, head, parameters);
  return { dict: result, at: module.at, chosen: module.chosen, replaced: module.description, inFeatures: head.inFeatures, head, removed, added, parameters };
}

export interface ModuleAddition {
  readonly dict: PyDict;
  readonly at: string;
  readonly head: ResolvedHead;
  readonly added: string[];
  readonly parameters: HeadParameter[];
  readonly dtype: CastTarget;
}

/**
 * `model.add_module(at, module)` then `model.state_dict()`, on a state dict: the new module's keys come
 * last (it is registered last), and `_metadata` records it. A name in use is an error (replacing a module
 * is replace-head's job). New parameters take the dtype most of the state dict's floating tensors have.
 */
export function addModuleToStateDict(dict: PyDict, at: string, spec: HeadSpec, source: ParameterSource): ModuleAddition {
  if (!/^[A-Za-z_]\w*(\.\w+)*$/.test(at)) throw new ModsurgError(`--at '${at}' is not a module path (names like fc_add or head.fc)`);
  const tensors = stateDictTensors(dict);
  const taken = tensors.filter(([key]) => key === at || key.startsWith(`${at}.`)).map(([key]) => key);
  if (taken.length > 0) {
    throw new ModsurgError(`'${at}' already exists (${taken.slice(0, 3).join(', ')}${taken.length > 3 ? ', …' : ''}); to put a new module in its place, use modsurg replace-head --at ${at}`);
  }
  const head = resolveHead(spec, undefined);
  const dtype = commonFloatingDtype(tensors.map(([, tensor]) => tensor.dtype));
  const parameters = headParametersFrom(head, dtype, at, source);
  const { dict: result, added } = spliceHead(dict, at, head, parameters);
  return { dict: result, at, head, added, parameters, dtype };
}

/** The floating dtype most tensors have (float32 when none is floating), which must be one modsurg computes in. */
function commonFloatingDtype(dtypes: readonly DType[]): CastTarget {
  const counts = new Map<DType, number>();
  for (const dtype of dtypes) if (isFloating(dtype)) counts.set(dtype, (counts.get(dtype) ?? 0) + 1);
  const [common] = [...counts].reduce<[DType, number]>((best, entry) => (entry[1] > best[1] ? entry : best), ['float32', 0]);
  if (!isCastTarget(common)) throw new ModsurgError(`the state dict holds ${common} weights; new parameters can be float16, bfloat16, float32 or float64 only`);
  return common;
}

const CAST_TARGETS: readonly CastTarget[] = ['float16', 'bfloat16', 'float32', 'float64'];

function isCastTarget(dtype: DType): dtype is CastTarget {
  return (CAST_TARGETS as readonly DType[]).includes(dtype);
}

/** The new parameters' dtype: the replaced module's, which must be one modsurg can compute in. */
function headDtype(module: HeadModule): CastTarget {
  if (!isCastTarget(module.dtype)) {
    throw new ModsurgError(`'${module.at}' holds ${module.dtype} weights; new head parameters can be float16, bfloat16, float32 or float64 only (convert the checkpoint with --dtype first)`);
  }
  return module.dtype;
}

/**
 * The state dict with the keys under `at.` replaced by the head's parameters (at the place of the first
 * key removed) and `_metadata` updated to the new modules (at the place of the old `at` entry).
 */
export function spliceHead(dict: PyDict, at: string, head: ResolvedHead, parameters: readonly HeadParameter[]): { dict: PyDict; removed: string[]; added: string[] } {
  const isRemoved = (key: string): boolean => key === at || key.startsWith(`${at}.`);
  const added = parameters.map((parameter): [PyValue, PyValue] => {
    const key = `${at}.${parameter.name}`;
    return [py.str(key), { kind: 'tensor', tensor: parameterTensor(parameter, key) }];
  });
  const removed: string[] = [];
  const entries: [PyValue, PyValue][] = [];
  for (const entry of dict.entries) {
    const key = keyText(entry[0]);
    if (entry[0].kind === 'str' && isRemoved(key)) {
      if (removed.length === 0) entries.push(...added);
      removed.push(key);
    } else entries.push(entry);
  }
  if (removed.length === 0) entries.push(...added);
  return { dict: withEntries(dict, entries, headMetadata(dict, at, head)), removed, added: added.map(([key]) => keyText(key)) };
}

/** `_metadata` with `at` and below replaced by the head's modules and their versions, or undefined when there is none. */
function headMetadata(dict: PyDict, at: string, head: ResolvedHead): PyDict | undefined {
  const metadata = metadataOf(dict);
  if (!metadata) return undefined;
  const version = (n: number): PyValue => py.dict([[py.str('version'), py.int(n)]]);
  const fresh: [PyValue, PyValue][] =
    head.kind === 'single'
      ? [[py.str(at), version(MODULE_VERSIONS[head.layer.kind])]]
      : [[py.str(at), version(MODULE_VERSIONS.Sequential)], ...layersOf(head).map((layer): [PyValue, PyValue] => [py.str(`${at}.${layer.name}`), version(MODULE_VERSIONS[layer.kind])])];
  const entries: [PyValue, PyValue][] = [];
  let placed = false;
  for (const entry of metadata.entries) {
    const key = entry[0];
    if (key.kind === 'str' && (key.value === at || key.value.startsWith(`${at}.`))) {
      if (!placed) entries.push(...fresh);
      placed = true;
    } else entries.push(entry);
  }
  if (!placed) entries.push(...fresh);
  const result: PyDict = { kind: 'dict', ordered: metadata.ordered, entries };
  if (metadata.attributes) result.attributes = metadata.attributes;
  return result;
}

/** A new contiguous tensor holding a parameter's bytes, as `state_dict()` gives it (detached, no grad). */
function parameterTensor(parameter: HeadParameter, key: string): Tensor {
  return {
    dtype: parameter.dtype,
    shape: [...parameter.shape],
    stride: contiguousStride(parameter.shape),
    storageOffset: 0,
    storage: { key, dtype: parameter.dtype, numel: numelOf(parameter.shape), location: 'cpu', data: { kind: 'bytes', bytes: parameter.bytes } },
    requiresGrad: false,
    parameter: false,
  };
}

/** Key paths of optimizer states (`state` + `param_groups`) in a checkpoint: they still describe the old head. */
export function optimizerStatePaths(root: PyValue): string[] {
  const found: string[] = [];
  walkValues(root, (place) => {
    const { value } = place;
    if (value.kind === 'dict' && dictGet(value, 'state') !== undefined && dictGet(value, 'param_groups') !== undefined) {
      found.push(pathOf(place).join('.'));
      return false;
    }
    return true;
  });
  return found;
}
