import type { Storage, Tensor } from '../tensor.js';

/**
 * A Python object tree as read from a pickle, without running anything: the values torch checkpoints
 * hold, plus inert stand-ins (`object`) for instances of classes we do not know. Tuples and lists, int
 * and str dict keys, OrderedDict and dict stay distinct so a rewrite says exactly what the input said.
 */
export type PyValue =
  | { readonly kind: 'none' }
  | { readonly kind: 'bool'; readonly value: boolean }
  | { readonly kind: 'int'; readonly value: bigint }
  | { readonly kind: 'float'; readonly value: number }
  | { readonly kind: 'str'; readonly value: string }
  | { readonly kind: 'bytes'; readonly value: Uint8Array }
  | PyTuple
  | PyList
  | PySet
  | PyDict
  | PyGlobal
  | PyTensor
  | PyStorage
  | PyObject;

export interface PyTuple {
  readonly kind: 'tuple';
  readonly items: PyValue[];
}
export interface PyList {
  readonly kind: 'list';
  readonly items: PyValue[];
}
export interface PySet {
  readonly kind: 'set';
  readonly items: PyValue[];
  readonly frozen: boolean;
}
export interface PyDict {
  readonly kind: 'dict';
  entries: [PyValue, PyValue][];
  /** `collections.OrderedDict` rather than a plain dict. */
  readonly ordered: boolean;
  /** Instance attributes set by BUILD: a state dict's `_metadata`. */
  attributes?: [string, PyValue][];
}
/** A reference to a module-level name: a class, a function, or a value like `torch.float16`. */
export interface PyGlobal {
  readonly kind: 'global';
  readonly module: string;
  readonly name: string;
}
export interface PyTensor {
  readonly kind: 'tensor';
  readonly tensor: Tensor;
}
export interface PyStorage {
  readonly kind: 'storage';
  readonly storage: Storage;
}
/**
 * An instance of a class or the result of calling a function we do not execute: `NEWOBJ`/`REDUCE` of a
 * global, with the arguments and any BUILD state kept (a whole-model pickle's modules are these).
 */
export interface PyObject {
  readonly kind: 'object';
  readonly callable: PyValue;
  readonly args: PyValue[];
  /** `NEWOBJ` (cls.__new__) rather than `REDUCE` (a call). */
  readonly newobj: boolean;
  state?: PyValue;
  /** Items appended or set on list/dict subclasses. */
  listItems?: PyValue[];
  dictItems?: [PyValue, PyValue][];
}

export const None: PyValue = { kind: 'none' };

export const py = {
  str: (value: string): PyValue => ({ kind: 'str', value }),
  int: (value: number | bigint): PyValue => ({ kind: 'int', value: BigInt(value) }),
  float: (value: number): PyValue => ({ kind: 'float', value }),
  bool: (value: boolean): PyValue => ({ kind: 'bool', value }),
  tuple: (items: PyValue[]): PyTuple => ({ kind: 'tuple', items }),
  list: (items: PyValue[]): PyList => ({ kind: 'list', items }),
  dict: (entries: [PyValue, PyValue][], ordered = false): PyDict => ({ kind: 'dict', entries, ordered }),
  global: (module: string, name: string): PyGlobal => ({ kind: 'global', module, name }),
};

export function qualifiedName(value: PyGlobal): string {
  return `${value.module}.${value.name}`;
}

/** The value under a string key of a dict, if any. */
export function dictGet(dict: PyDict, key: string): PyValue | undefined {
  for (const [k, v] of dict.entries) if (k.kind === 'str' && k.value === key) return v;
  return undefined;
}

export function attributeGet(dict: PyDict, name: string): PyValue | undefined {
  return dict.attributes?.find(([k]) => k === name)?.[1];
}

/** How a dict key is shown in a dot path and in messages: str keys as is, others as Python repr. */
export function keyText(key: PyValue): string {
  switch (key.kind) {
    case 'str':
      return key.value;
    case 'int':
      return key.value.toString();
    case 'float':
      return String(key.value);
    case 'bool':
      return key.value ? 'True' : 'False';
    case 'none':
      return 'None';
    default:
      return `<${key.kind}>`;
  }
}

/** What `replace` returns to take a value out of its container altogether (a dict entry, a list item). */
export const DROP: unique symbol = Symbol('drop');

/**
 * Rebuilds a value tree with `replace` applied, without recursion (a 100,000-deep list, which torch
 * loads, is deeper than the call stack) and once per value: shared values stay shared, and a list that
 * holds itself maps to a new list that holds itself. `replace` returns a value's replacement, DROP to
 * remove it from its container (the root becomes None), or undefined to keep it — descending into
 * dicts, lists and tuples, whose copies keep their dict keys, order, flags and attributes.
 */
export function mapValues(root: PyValue, replace: (value: PyValue) => PyValue | typeof DROP | undefined): PyValue {
  const done = new Map<PyValue, PyValue | typeof DROP>();
  const pending: { source: PyDict | PyList | PyTuple; target: PyDict | PyList | PyTuple; next: number }[] = [];
  const open = (value: PyValue): PyValue | typeof DROP => {
    const seen = done.get(value);
    if (seen !== undefined) return seen;
    const replaced = replace(value);
    if (replaced !== undefined) {
      done.set(value, replaced);
      return replaced;
    }
    if (value.kind !== 'dict' && value.kind !== 'list' && value.kind !== 'tuple') {
      done.set(value, value);
      return value;
    }
    // the copy exists before its items do, so an item that is the container itself finds it
    let target: PyDict | PyList | PyTuple;
    if (value.kind === 'dict') {
      target = { kind: 'dict', ordered: value.ordered, entries: [] };
      if (value.attributes) target.attributes = value.attributes;
    } else target = { kind: value.kind, items: [] };
    done.set(value, target);
    pending.push({ source: value, target, next: 0 });
    return target;
  };
  const result = open(root);
  while (pending.length > 0) {
    const top = pending[pending.length - 1]!;
    const { source, target } = top;
    if (source.kind === 'dict') {
      if (top.next < source.entries.length) {
        const [key, item] = source.entries[top.next++]!;
        const mapped = open(item);
        if (mapped !== DROP) (target as PyDict).entries.push([key, mapped]);
        continue;
      }
    } else if (top.next < source.items.length) {
      const mapped = open(source.items[top.next++]!);
      if (mapped !== DROP) (target as PyList | PyTuple).items.push(mapped);
      continue;
    }
    pending.pop();
  }
  return result === DROP ? None : result;
}

/** Where a walk met a value: its parent's place and its key there (a dict key's text, a list index). */
export interface ValuePlace {
  readonly value: PyValue;
  readonly parent?: ValuePlace;
  readonly key?: string;
}

/** The keys from the root to a place, spelled out only when asked for (a deep tree has long paths). */
export function pathOf(place: ValuePlace): string[] {
  const path: string[] = [];
  for (let at: ValuePlace | undefined = place; at?.key !== undefined; at = at.parent) path.push(at.key);
  return path.reverse();
}

/**
 * Visits a value tree depth first in file order, without recursion: `enter` meets every value at every
 * place its container holds it (a tensor tied under two keys, one optimizer state under two names) and
 * says whether to descend into a dict's values or a list's or tuple's items — but a container is
 * descended into only the first time (a list may hold itself; a pickle's memo may share one list a
 * million times, or nest 2^60 paths in 61 lists), so the walk costs the tree's size, not its paths.
 */
export function walkValues(root: PyValue, enter: (place: ValuePlace) => boolean): void {
  const seen = new Set<PyValue>();
  const stack: ValuePlace[] = [{ value: root }];
  while (stack.length > 0) {
    const place = stack.pop()!;
    const { value } = place;
    const container = value.kind === 'dict' || value.kind === 'list' || value.kind === 'tuple';
    const again = container && seen.has(value);
    if (container) seen.add(value);
    if (!enter(place) || again) continue;
    if (value.kind === 'dict') for (let i = value.entries.length - 1; i >= 0; i--) stack.push({ value: value.entries[i]![1], parent: place, key: keyText(value.entries[i]![0]) });
    else if (value.kind === 'list' || value.kind === 'tuple') for (let i = value.items.length - 1; i >= 0; i--) stack.push({ value: value.items[i]!, parent: place, key: String(i) });
  }
}

/**
 * Python's `repr()` of an inert value, as Python prints it for the plain values (ints, floats — shortest
 * round-trip digits, `1e-05` —, quoted strings, tuples with their trailing comma, lists, dicts); globals
 * as `module.name`, objects as the call that made them, sets sorted (their order in a file is arbitrary).
 * `maxItems` and `maxDepth` abbreviate with `…` for one-line descriptions; the default depth bound only
 * keeps a hostile file's nesting from exhausting the stack.
 */
export function pyRepr(value: PyValue, limits: { maxItems?: number; maxDepth?: number } = {}): string {
  const maxItems = limits.maxItems ?? Infinity;
  const maxDepth = limits.maxDepth ?? 2000;
  const repr = (v: PyValue, depth: number): string => {
    const items = (list: readonly PyValue[], open: string, close: string, trailingComma = false): string => {
      if (list.length > maxItems) return `${open}…${close}`;
      if (depth >= maxDepth && list.length > 0) return `${open}…${close}`;
      return `${open}${list.map((item) => repr(item, depth + 1)).join(', ')}${trailingComma && list.length === 1 ? ',' : ''}${close}`;
    };
    switch (v.kind) {
      case 'none':
        return 'None';
      case 'bool':
        return v.value ? 'True' : 'False';
      case 'int':
        return v.value.toString();
      case 'float':
        return pyFloatRepr(v.value);
      case 'str':
        return pyStrRepr(v.value);
      case 'bytes':
        return `b'${Buffer.from(v.value).toString('hex')}'`;
      case 'tuple':
        return items(v.items, '(', ')', true);
      case 'list':
        return items(v.items, '[', ']');
      case 'set': {
        if (v.items.length > maxItems || (depth >= maxDepth && v.items.length > 0)) return `${v.frozen ? 'frozenset(' : ''}{…}${v.frozen ? ')' : ''}`;
        const inner = `{${v.items.map((item) => repr(item, depth + 1)).sort().join(', ')}}`;
        return v.frozen ? `frozenset(${inner})` : inner;
      }
      case 'dict':
        if (v.entries.length > maxItems || (depth >= maxDepth && v.entries.length > 0)) return '{…}';
        return `{${v.entries.map(([k, item]) => `${repr(k, depth + 1)}: ${repr(item, depth + 1)}`).join(', ')}}`;
      case 'global':
        return qualifiedName(v);
      case 'object':
        return `${v.callable.kind === 'global' ? qualifiedName(v.callable) : 'object'}${items(v.args, '(', ')')}`;
      case 'tensor':
        return `tensor(${v.tensor.dtype}, [${v.tensor.shape.join(', ')}])`;
      case 'storage':
        return `storage(${v.storage.dtype}, ${v.storage.numel})`;
    }
  };
  return repr(value, 0);
}

/** `repr(float)`: the shortest digits that round-trip, fixed between 1e-4 and 1e16, else `1e-05` style. */
export function pyFloatRepr(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const [mantissa, exponentText] = x.toExponential().split('e') as [string, string];
  const exponent = Number(exponentText);
  const sign = mantissa.startsWith('-') ? '-' : '';
  const digits = mantissa.replace('-', '').replace('.', '');
  if (exponent < -4 || exponent >= 16) {
    const body = digits.length === 1 ? digits : `${digits[0]}.${digits.slice(1)}`;
    return `${sign}${body}e${exponent < 0 ? '-' : '+'}${String(Math.abs(exponent)).padStart(2, '0')}`;
  }
  if (exponent < 0) return `${sign}0.${'0'.repeat(-exponent - 1)}${digits}`;
  const whole = digits.slice(0, exponent + 1).padEnd(exponent + 1, '0');
  const fraction = digits.slice(exponent + 1);
  return `${sign}${whole}.${fraction === '' ? '0' : fraction}`;
}

/** `repr(str)`: single quotes unless the text holds one and no double quote. */
function pyStrRepr(text: string): string {
  const quote = text.includes("'") && !text.includes('"') ? '"' : "'";
  const escaped = text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/\r/g, '\\r').replace(/\t/g, '\\t');
  return `${quote}${quote === "'" ? escaped.replace(/'/g, "\\'") : escaped}${quote}`;
}
