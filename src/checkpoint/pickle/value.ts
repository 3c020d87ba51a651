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
