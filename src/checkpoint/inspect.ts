import type { Checkpoint } from './checkpoint.js';
import { dtypeInfo } from './dtype.js';
import { buildModuleTree, detectPrefixes, type ModuleNode } from './module-tree.js';
import { moduleRepr, namedModules } from './module-repr.js';
import { keyText, pyRepr, qualifiedName, walkValues, type PyValue } from './pickle/value.js';
import { isDangerousGlobal, isSafeGlobal } from './safe-globals.js';
import { findStateDicts, isModuleObject, isStateDict, moduleClasses, moduleClassName, stateDictTensors, toPlainData } from './state-dict.js';
import { numelOf, storageBytes, type Storage } from './tensor.js';

export interface StateDictSummary {
  /** Dot path of the state dict in the file (`''` at the top level). */
  readonly path: string;
  readonly tensors: { name: string; dtype: string; shape: readonly number[] }[];
  readonly totals: { tensors: number; params: number; bytes: number; dtypes: Record<string, number> };
  readonly prefixes: string[];
  readonly tree: ModuleNode;
  /** True when recovered from a whole-model pickle rather than stored as a dict. */
  readonly recovered: boolean;
}

export interface GlobalReference {
  readonly name: string;
  /** On torch's weights_only allowlist. */
  readonly safe: boolean;
  /** Runs code (a shell, eval, imports) when an unrestricted unpickler meets it. */
  readonly dangerous: boolean;
}

export interface CheckpointSummary {
  readonly format: string;
  readonly details: Readonly<Record<string, string>>;
  readonly metadata?: Readonly<Record<string, string>>;
  /** The file's top level, when it is more than a bare state dict: key → short description. */
  readonly structure: { key: string; description: string }[];
  readonly modelClass?: string;
  /** `print(model)` of a whole-model pickle, exactly as torch prints it. */
  readonly modelRepr?: string;
  /** `named_modules()` paths: a whole model's, else the modules the state dicts' keys imply (roots left out). */
  readonly moduleNames: string[];
  readonly stateDicts: StateDictSummary[];
  readonly totals: { tensors: number; params: number; bytes: number; storageBytes: number; dtypes: Record<string, number> };
  readonly globals: GlobalReference[];
}

/** Everything `inspect` says about a checkpoint, computed without reading any tensor's bytes. */
export function summarizeCheckpoint(checkpoint: Checkpoint): CheckpointSummary {
  const plain = toPlainData(checkpoint.root);
  const wholeModel = isModuleObject(checkpoint.root) ? checkpoint.root : undefined;
  const classes = wholeModel ? moduleClasses(wholeModel) : undefined;
  const stateDicts = findStateDicts(plain).map((location): StateDictSummary => {
    const tensors = stateDictTensors(location.dict);
    const dtypes: Record<string, number> = {};
    let params = 0;
    let bytes = 0;
    for (const [, t] of tensors) {
      dtypes[t.dtype] = (dtypes[t.dtype] ?? 0) + 1;
      params += numelOf(t.shape);
      bytes += numelOf(t.shape) * dtypeInfo(t.dtype).size;
    }
    const recovered = wholeModel !== undefined && location.path.length === 0;
    return {
      path: location.path.join('.'),
      tensors: tensors.map(([name, t]) => ({ name, dtype: t.dtype, shape: t.shape })),
      totals: { tensors: tensors.length, params, bytes, dtypes },
      prefixes: detectPrefixes(tensors.map(([name]) => name)),
      tree: buildModuleTree(tensors, recovered ? classes : undefined),
      recovered,
    };
  });
  const dtypes: Record<string, number> = {};
  for (const sd of stateDicts) for (const [d, n] of Object.entries(sd.totals.dtypes)) dtypes[d] = (dtypes[d] ?? 0) + n;
  return {
    format: checkpoint.format,
    details: checkpoint.details,
    ...(checkpoint.metadata ? { metadata: checkpoint.metadata } : {}),
    structure: isStateDict(plain) ? [] : describeTopLevel(plain),
    ...(wholeModel ? { modelClass: moduleClassName(wholeModel), modelRepr: moduleRepr(wholeModel) } : {}),
    moduleNames: wholeModel ? namedModules(wholeModel).slice(1) : stateDicts.flatMap((sd) => treePaths(sd.tree)),
    stateDicts,
    totals: {
      tensors: stateDicts.reduce((n, s) => n + s.totals.tensors, 0),
      params: stateDicts.reduce((n, s) => n + s.totals.params, 0),
      bytes: stateDicts.reduce((n, s) => n + s.totals.bytes, 0),
      storageBytes: uniqueStorageBytes(plain),
      dtypes,
    },
    globals: checkpoint.globals.map((name) => ({ name, safe: isSafeGlobal(name), dangerous: isDangerousGlobal(name) })),
  };
}

/** The paths of a tree's modules below its root, depth first. */
function treePaths(root: ModuleNode): string[] {
  const paths: string[] = [];
  const stack = [...root.children].reverse();
  while (stack.length > 0) {
    const node = stack.pop()!;
    paths.push(node.path);
    for (let i = node.children.length - 1; i >= 0; i--) stack.push(node.children[i]!);
  }
  return paths;
}

function describeTopLevel(root: PyValue): { key: string; description: string }[] {
  if (root.kind === 'dict') return root.entries.map(([k, v]) => ({ key: keyText(k), description: describeValue(v) }));
  if (root.kind === 'list' || root.kind === 'tuple') return root.items.map((v, i) => ({ key: String(i), description: describeValue(v) }));
  return [{ key: '', description: describeValue(root) }];
}

/** A one-line description of a value: `int 7`, `state dict (62 tensors)`, `dict {state, param_groups}`. */
export function describeValue(value: PyValue): string {
  switch (value.kind) {
    case 'none':
      return 'None';
    case 'bool':
      return `bool ${value.value ? 'True' : 'False'}`;
    case 'int':
      return `int ${value.value}`;
    case 'float':
      return `float ${pyRepr(value)}`;
    case 'str':
      return `str ${JSON.stringify(value.value.length > 60 ? `${value.value.slice(0, 57)}...` : value.value)}`;
    case 'bytes':
      return `bytes (${value.value.length})`;
    case 'tensor':
      return `tensor ${value.tensor.dtype} [${value.tensor.shape.join(', ')}]`;
    case 'global':
      return qualifiedName(value);
    case 'set':
      return `${value.frozen ? 'frozenset' : 'set'} (${value.items.length} items)`;
    case 'tuple':
    case 'list':
      return `${value.kind} (${value.items.length} items)`;
    case 'dict': {
      if (isStateDict(value)) return `state dict (${value.entries.length} tensors)`;
      const keys = value.entries.map(([k]) => keyText(k));
      const shown = keys.slice(0, 6).join(', ') + (keys.length > 6 ? `, … ${keys.length - 6} more` : '');
      return `${value.ordered ? 'OrderedDict' : 'dict'} {${shown}}`;
    }
    case 'storage':
      return `storage ${value.storage.dtype} (${value.storage.numel})`;
    case 'object': {
      const { callable, args } = value;
      if (isModuleObject(value)) return `${moduleClassName(value)} (whole model)`;
      return callable.kind === 'global' ? `${qualifiedName(callable)}(${args.map((arg) => pyRepr(arg, { maxItems: 8, maxDepth: 3 })).join(', ')})` : 'object';
    }
  }
}

/** A short Python-like repr of plain values (`(2, 3)`, `'cpu'`), `…` for anything bigger or deeper. */

function uniqueStorageBytes(root: PyValue): number {
  const seen = new Set<Storage>();
  walkValues(root, ({ value }) => {
    if (value.kind === 'tensor') seen.add(value.tensor.storage);
    return true;
  });
  return [...seen].reduce((n, s) => n + storageBytes(s), 0);
}
