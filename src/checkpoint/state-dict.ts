import { ModsurgError } from '../errors.js';
import { attributeGet, dictGet, keyText, mapValues, pathOf, py, walkValues, qualifiedName, type PyDict, type PyObject, type PyValue } from './pickle/value.js';
import type { Tensor } from './tensor.js';

/** A state dict found in a checkpoint, and the path of keys that leads to it. */
export interface StateDictLocation {
  readonly path: readonly string[];
  readonly dict: PyDict;
}

/** A mapping of names to tensors: what `model.state_dict()` returns. */
export function isStateDict(value: PyValue): boolean {
  return (
    value.kind === 'dict' &&
    value.entries.length > 0 &&
    value.entries.every(([k, v]) => k.kind === 'str' && v.kind === 'tensor')
  );
}

/** The tensors of a state dict, in order. */
export function stateDictTensors(dict: PyDict): [string, Tensor][] {
  return dict.entries.flatMap(([k, v]) => (k.kind === 'str' && v.kind === 'tensor' ? [[k.value, v.tensor] as [string, Tensor]] : []));
}

/** The attribute dict of an object (its BUILD state, or the first item of a (dict, slots) state). */
export function objectState(value: PyObject): PyDict | undefined {
  const state = value.state?.kind === 'tuple' ? value.state.items[0] : value.state;
  return state?.kind === 'dict' ? state : undefined;
}

/** An `nn.Module` instance from a whole-model pickle: an object whose state has the module dicts. */
export function isModuleObject(value: PyValue): value is PyObject {
  if (value.kind !== 'object') return false;
  const state = objectState(value);
  return state !== undefined && ['_parameters', '_buffers', '_modules'].every((name) => dictGet(state, name)?.kind === 'dict');
}

/** The class a module object was pickled as (`torchvision.models.resnet.ResNet`). */
export function moduleClassName(value: PyObject): string {
  return value.callable.kind === 'global' ? qualifiedName(value.callable) : 'object';
}

/**
 * Recovers `model.state_dict()` from a whole-model pickle without the model's code, in the order torch
 * gives it: each module's parameters, then its persistent buffers, then its children, recursively.
 */
export function moduleStateDict(module: PyObject): PyDict {
  const entries: [PyValue, PyValue][] = [];
  // state_dict() holds detached tensors, not Parameters; tied weights stay one object
  const detached = new Map<PyValue, PyValue>();
  const detach = (value: PyValue): PyValue => {
    if (value.kind !== 'tensor') return value;
    let plain = detached.get(value);
    if (!plain) detached.set(value, (plain = { kind: 'tensor', tensor: { ...value.tensor, parameter: false, requiresGrad: false } }));
    return plain;
  };
  const visit = (object: PyObject, prefix: string): void => {
    const state = objectState(object)!;
    const nonPersistent = new Set<string>();
    const excluded = dictGet(state, '_non_persistent_buffers_set');
    if (excluded?.kind === 'set') for (const item of excluded.items) if (item.kind === 'str') nonPersistent.add(item.value);
    for (const [field, skip] of [['_parameters', new Set<string>()], ['_buffers', nonPersistent]] as const) {
      const dict = dictGet(state, field) as PyDict;
      for (const [k, v] of dict.entries) {
        if (k.kind !== 'str' || v.kind === 'none' || skip.has(k.value)) continue;
        entries.push([py.str(prefix + k.value), detach(v)]);
      }
    }
    for (const [k, child] of (dictGet(state, '_modules') as PyDict).entries) {
      if (k.kind === 'str' && isModuleObject(child)) visit(child, `${prefix}${k.value}.`);
    }
  };
  visit(module, '');
  return py.dict(entries, true);
}

/** Module classes of a whole-model pickle by module path (`''` is the root, `layer1.0` a child). */
export function moduleClasses(module: PyObject): Map<string, string> {
  const classes = new Map<string, string>();
  const visit = (object: PyObject, path: string): void => {
    classes.set(path, moduleClassName(object));
    for (const [k, child] of (dictGet(objectState(object)!, '_modules') as PyDict).entries) {
      if (k.kind === 'str' && isModuleObject(child)) visit(child, path === '' ? k.value : `${path}.${k.value}`);
    }
  };
  visit(module, '');
  return classes;
}

/**
 * The checkpoint as plain data: every whole-model object replaced by its recovered state dict, so what is
 * written never names a model class. Shared values stay shared.
 */
export function toPlainData(root: PyValue): PyValue {
  return mapValues(root, (value) => (isModuleObject(value) ? moduleStateDict(value) : undefined));
}

/** `optimizer.state_dict()`: its per-parameter states map names to tensors but are no model weights. */
function isOptimizerState(value: PyValue): boolean {
  return value.kind === 'dict' && dictGet(value, 'state') !== undefined && dictGet(value, 'param_groups') !== undefined;
}

/** Every state dict in a checkpoint (not looking inside state dicts or optimizer states), with its key path. */
export function findStateDicts(root: PyValue): StateDictLocation[] {
  const found: StateDictLocation[] = [];
  walkValues(root, (place) => {
    if (isStateDict(place.value)) {
      found.push({ path: pathOf(place), dict: place.value as PyDict });
      return false;
    }
    return !isOptimizerState(place.value);
  });
  return found;
}

/**
 * Splits a `--key` dot path against the data, since keys may contain dots themselves: at each level the
 * longest run of segments that names an existing key wins.
 */
export function resolvePath(root: PyValue, dotted: string): string[] {
  if (dotted === '') return [];
  const segments = dotted.split('.');
  const path: string[] = [];
  let value = root;
  let i = 0;
  while (i < segments.length) {
    let matched = false;
    for (let j = segments.length; j > i; j--) {
      const key = segments.slice(i, j).join('.');
      const child = childOf(value, key);
      if (child) {
        path.push(key);
        value = child;
        i = j;
        matched = true;
        break;
      }
    }
    if (!matched) {
      const where = path.length === 0 ? 'the top level' : path.join('.');
      throw new ModsurgError(`no key '${segments.slice(i).join('.')}' under ${where} (keys there: ${childKeys(value).slice(0, 8).join(', ') || 'none'})`);
    }
  }
  return path;
}

function childOf(value: PyValue, key: string): PyValue | undefined {
  if (value.kind === 'dict') return value.entries.find(([k]) => keyText(k) === key)?.[1];
  if ((value.kind === 'list' || value.kind === 'tuple') && /^\d+$/.test(key)) return value.items[Number(key)];
  return undefined;
}

function childKeys(value: PyValue): string[] {
  if (value.kind === 'dict') return value.entries.map(([k]) => keyText(k));
  if (value.kind === 'list' || value.kind === 'tuple') return value.items.map((_, i) => String(i));
  return [];
}

export function getPath(root: PyValue, path: readonly string[]): PyValue {
  return path.reduce<PyValue>((value, key) => childOf(value, key)!, root);
}

/** The state dicts an edit acts on: the one at `--key`, or every one found. */
export function selectStateDicts(root: PyValue, key: string | undefined): StateDictLocation[] {
  if (key !== undefined) {
    const path = resolvePath(root, key);
    const value = getPath(root, path);
    if (!isStateDict(value)) throw new ModsurgError(`'${key}' is a ${describe(value)}, not a state dict (a mapping of names to tensors)`);
    return [{ path, dict: value as PyDict }];
  }
  const found = findStateDicts(root);
  if (found.length === 0) throw new ModsurgError('holds no state dict (no mapping of names to tensors)');
  return found;
}

/** Applies an edit to each selected state dict; returns the new root and the paths edited. */
export function editStateDicts(
  root: PyValue,
  key: string | undefined,
  edit: (dict: PyDict, location: StateDictLocation) => PyDict,
): { root: PyValue; edited: StateDictLocation[] } {
  const locations = selectStateDicts(root, key);
  // each state dict is edited once and replaced wherever the tree holds it (as editing one object in
  // Python would), in one walk that neither recurses nor follows a shared value twice
  const edited = new Map<PyValue, PyValue>(locations.map((location) => [location.dict, edit(location.dict, location)]));
  return { root: mapValues(root, (value) => edited.get(value)), edited: locations };
}

/** A flat mapping of names to tensors for formats that hold nothing else (safetensors). */
export function soleStateDict(root: PyValue, key: string | undefined): StateDictLocation {
  const found = selectStateDicts(root, key);
  if (found.length > 1) {
    throw new ModsurgError(`holds ${found.length} state dicts (${found.map((f) => f.path.join('.') || '<top level>').join(', ')}); choose one with --key`);
  }
  return found[0]!;
}

export function describe(value: PyValue): string {
  switch (value.kind) {
    case 'dict':
      return value.ordered ? 'OrderedDict' : 'dict';
    case 'object':
      return value.callable.kind === 'global' ? qualifiedName(value.callable) : 'object';
    default:
      return value.kind;
  }
}

/** A state dict's `_metadata` (module path → {'version': n}), as key/value pairs. */
export function metadataOf(dict: PyDict): PyDict | undefined {
  const metadata = attributeGet(dict, '_metadata');
  return metadata?.kind === 'dict' ? metadata : undefined;
}

/** A new state dict with other entries and, optionally, other `_metadata`; other attributes kept. */
export function withEntries(dict: PyDict, entries: [PyValue, PyValue][], metadata?: PyDict): PyDict {
  const result: PyDict = { kind: 'dict', ordered: dict.ordered, entries };
  const attributes = (dict.attributes ?? []).map(([k, v]): [string, PyValue] => [k, k === '_metadata' && metadata ? metadata : v]);
  if (attributes.length > 0) result.attributes = attributes;
  return result;
}
