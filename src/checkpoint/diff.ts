import { dtypeInfo } from './dtype.js';
import { decode } from './numeric.js';
import { keyText, type PyValue } from './pickle/value.js';
import { isStateDict } from './state-dict.js';
import { contiguousBytes, numelOf, type Tensor } from './tensor.js';

/** One difference between two checkpoints at one key path. */
export type Difference =
  | { readonly kind: 'only-in-a'; readonly key: string }
  | { readonly kind: 'only-in-b'; readonly key: string }
  | { readonly kind: 'dtype'; readonly key: string; readonly a: string; readonly b: string }
  | { readonly kind: 'shape'; readonly key: string; readonly a: readonly number[]; readonly b: readonly number[] }
  | { readonly kind: 'values'; readonly key: string; readonly maxAbsDiff: number; readonly mismatched: number; readonly numel: number }
  | { readonly kind: 'value'; readonly key: string; readonly a: string; readonly b: string };

export interface DiffReport {
  readonly compared: number;
  readonly differences: Difference[];
  /** When the keys differ only by a prefix on one side (`module.`), say which. */
  readonly prefixHint?: { readonly side: 'a' | 'b'; readonly prefix: string };
}

type Leaf = { kind: 'tensor'; tensor: Tensor } | { kind: 'value'; text: string };

/** Every tensor and scalar of a checkpoint by key path; a state dict's own keys are kept whole. */
export function flattenLeaves(root: PyValue): Map<string, Leaf> {
  const leaves = new Map<string, Leaf>();
  const walk = (value: PyValue, path: string): void => {
    const join = (key: string): string => (path === '' ? key : `${path}.${key}`);
    if (value.kind === 'tensor') leaves.set(path, { kind: 'tensor', tensor: value.tensor });
    else if (value.kind === 'dict') for (const [k, v] of value.entries) walk(v, join(keyText(k)));
    else if (value.kind === 'list' || value.kind === 'tuple') value.items.forEach((v, i) => walk(v, join(String(i))));
    else leaves.set(path, { kind: 'value', text: scalarText(value) });
  };
  if (isStateDict(root) || root.kind === 'dict' || root.kind === 'list' || root.kind === 'tuple') walk(root, '');
  else leaves.set('', { kind: 'value', text: scalarText(root) });
  return leaves;
}

function scalarText(value: PyValue): string {
  switch (value.kind) {
    case 'none':
      return 'None';
    case 'bool':
      return value.value ? 'True' : 'False';
    case 'int':
      return value.value.toString();
    case 'float':
      return String(value.value);
    case 'str':
      return JSON.stringify(value.value);
    case 'bytes':
      return `b'${Buffer.from(value.value).toString('hex')}'`;
    case 'global':
      return `${value.module}.${value.name}`;
    case 'set':
      return `{${value.items.map(scalarText).sort().join(', ')}}`;
    case 'object':
      return `${value.callable.kind === 'global' ? `${value.callable.module}.${value.callable.name}` : 'object'}(${value.args.map(scalarText).join(', ')})`;
    default:
      return `<${value.kind}>`;
  }
}

/**
 * Compares two checkpoints key by key: tensors by dtype, shape and values (equal bytes, or within
 * `atol` of each other), other values by what they print as.
 */
export function diffCheckpoints(a: PyValue, b: PyValue, atol = 0): DiffReport {
  const left = flattenLeaves(a);
  const right = flattenLeaves(b);
  const differences: Difference[] = [];
  let compared = 0;
  for (const [key, leafA] of left) {
    const leafB = right.get(key);
    if (!leafB) {
      differences.push({ kind: 'only-in-a', key });
      continue;
    }
    compared++;
    if (leafA.kind === 'tensor' && leafB.kind === 'tensor') {
      const difference = compareTensors(key, leafA.tensor, leafB.tensor, atol);
      if (difference) differences.push(difference);
    } else if (leafA.kind !== leafB.kind || (leafA.kind === 'value' && leafA.text !== (leafB as { text: string }).text)) {
      differences.push({ kind: 'value', key, a: leafText(leafA), b: leafText(leafB) });
    }
  }
  for (const key of right.keys()) if (!left.has(key)) differences.push({ kind: 'only-in-b', key });
  const hint = prefixHint(
    differences.filter((d) => d.kind === 'only-in-a').map((d) => d.key),
    differences.filter((d) => d.kind === 'only-in-b').map((d) => d.key),
  );
  return { compared, differences, ...(hint ? { prefixHint: hint } : {}) };
}

function leafText(leaf: Leaf): string {
  return leaf.kind === 'value' ? leaf.text : `tensor ${leaf.tensor.dtype} [${leaf.tensor.shape.join(', ')}]`;
}

function compareTensors(key: string, a: Tensor, b: Tensor, atol: number): Difference | undefined {
  if (a.dtype !== b.dtype) return { kind: 'dtype', key, a: a.dtype, b: b.dtype };
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) return { kind: 'shape', key, a: a.shape, b: b.shape };
  const bytesA = contiguousBytes(a);
  const bytesB = contiguousBytes(b);
  if (Buffer.from(bytesA.buffer, bytesA.byteOffset, bytesA.byteLength).equals(Buffer.from(bytesB.buffer, bytesB.byteOffset, bytesB.byteLength))) {
    return undefined;
  }
  const valuesA = decode(a.dtype, bytesA);
  const valuesB = decode(b.dtype, bytesB);
  let maxAbsDiff = 0;
  let mismatched = 0;
  for (let i = 0; i < valuesA.length; i++) {
    const x = valuesA[i]!;
    const y = valuesB[i]!;
    if (Number.isNaN(x) && Number.isNaN(y)) continue;
    const d = x === y ? 0 : Math.abs(x - y);
    if (Number.isNaN(d) || d > atol) mismatched++;
    if (Number.isNaN(d) || d > maxAbsDiff) maxAbsDiff = Number.isNaN(d) ? Infinity : d;
  }
  // equal values with different bits (-0 and 0, NaN payloads) are not a difference
  if (mismatched === 0) return undefined;
  const elementsPerValue = dtypeInfo(a.dtype).kind === 'complex' ? 2 : 1;
  return { kind: 'values', key, maxAbsDiff, mismatched: Math.ceil(mismatched / elementsPerValue), numel: numelOf(a.shape) };
}

const KNOWN_PREFIXES = ['module.', '_orig_mod.', 'model.', 'module.module.'];

function prefixHint(onlyA: string[], onlyB: string[]): DiffReport['prefixHint'] {
  if (onlyA.length === 0 || onlyA.length !== onlyB.length) return undefined;
  const setA = new Set(onlyA);
  const setB = new Set(onlyB);
  for (const prefix of KNOWN_PREFIXES) {
    if (onlyA.every((k) => k.startsWith(prefix) && setB.has(k.slice(prefix.length)))) return { side: 'a', prefix };
    if (onlyB.every((k) => k.startsWith(prefix) && setA.has(k.slice(prefix.length)))) return { side: 'b', prefix };
  }
  return undefined;
}
