import { ModsurgError } from '../errors.js';
import { dtypeInfo } from './dtype.js';
import { decode } from './numeric.js';
import { pathOf, pyRepr, walkValues, type PyValue } from './pickle/value.js';
import { elementPieces, numelOf, type Tensor } from './tensor.js';

/** One difference between two checkpoints at one key path. */
export type Difference =
  | { readonly kind: 'only-in-a'; readonly key: string }
  | { readonly kind: 'only-in-b'; readonly key: string }
  /** Floating dtypes on both sides also say how far apart the values are (after the cast). */
  | { readonly kind: 'dtype'; readonly key: string; readonly a: string; readonly b: string; readonly values?: ValueGap }
  | { readonly kind: 'shape'; readonly key: string; readonly a: readonly number[]; readonly b: readonly number[] }
  | ({ readonly kind: 'values'; readonly key: string } & ValueGap)
  | { readonly kind: 'value'; readonly key: string; readonly a: string; readonly b: string };

/** How far apart two tensors' values are: elements beyond atol, and the largest difference. */
export interface ValueGap {
  readonly maxAbsDiff: number;
  readonly mismatched: number;
  readonly numel: number;
}

export interface DiffOptions {
  /** The largest absolute difference still counted as equal. */
  readonly atol: number;
  /** A tensor cast to another floating dtype is equal when its values are within atol (diff --atol). */
  readonly acrossFloatDtypes: boolean;
  /** Prefixes ignored at the start of every key, on both sides (`module.`). */
  readonly ignorePrefixes: readonly string[];
}

export interface DiffReport {
  readonly compared: number;
  readonly differences: Difference[];
  /** Tensors cast to another floating dtype whose values stay within atol: listed, not counted. */
  readonly casts: { readonly key: string; readonly a: string; readonly b: string; readonly maxAbsDiff: number }[];
  /** When the keys differ only by a prefix on one side (`module.`), say which. */
  readonly prefixHint?: { readonly side: 'a' | 'b'; readonly prefix: string };
}

/** `3 of 40 differ, max abs diff 0.01250`: how far apart two tensors' values are. */
export function gapText(gap: ValueGap): string {
  return gap.mismatched === 0 ? `all equal (max abs diff ${gap.maxAbsDiff.toPrecision(4)})` : `${gap.mismatched} of ${gap.numel} differ, max abs diff ${gap.maxAbsDiff.toPrecision(4)}`;
}

/** What a difference is, without its key: `shape [1000, 2048] → [10, 2048]`, `values differ: …`, `added`. */
export function describeDifference(d: Difference): string {
  switch (d.kind) {
    case 'only-in-a':
      return 'removed';
    case 'only-in-b':
      return 'added';
    case 'dtype':
      return `dtype ${d.a} → ${d.b}${d.values ? `, values: ${gapText(d.values)}` : ''}`;
    case 'shape':
      return `shape [${d.a.join(', ')}] → [${d.b.join(', ')}]`;
    case 'values':
      return `values differ: ${gapText(d)}`;
    case 'value':
      return `${d.a} → ${d.b}`;
  }
}

/** One line naming what changed, by kind: `fc.weight, fc.bias removed, fc.fc1.weight, … added, bn.running_mean changed values`. */
export function differenceSummary(differences: readonly Difference[]): string | undefined {
  const verbs: [Difference['kind'], string][] = [['only-in-a', 'removed'], ['only-in-b', 'added'], ['shape', 'changed shape'], ['dtype', 'changed dtype'], ['values', 'changed values'], ['value', 'changed']];
  const parts = verbs.flatMap(([kind, verb]) => {
    const keys = differences.filter((d) => d.kind === kind).map((d) => d.key);
    if (keys.length === 0) return [];
    return [`${keys.slice(0, 4).join(', ')}${keys.length > 4 ? ` and ${keys.length - 4} more` : ''} ${verb}`];
  });
  return parts.length > 0 ? parts.join(', ') : undefined;
}

type Leaf = { kind: 'tensor'; tensor: Tensor } | { kind: 'value'; text: string };

/** Every tensor and scalar of a checkpoint by key path; a state dict's own keys are kept whole. */
export function flattenLeaves(root: PyValue): Map<string, Leaf> {
  const leaves = new Map<string, Leaf>();
  walkValues(root, (place) => {
    const { value } = place;
    if (value.kind === 'dict' || value.kind === 'list' || value.kind === 'tuple') return true;
    const path = pathOf(place).join('.');
    leaves.set(path, value.kind === 'tensor' ? { kind: 'tensor', tensor: value.tensor } : { kind: 'value', text: pyRepr(value) });
    return false;
  });
  return leaves;
}


/**
 * Compares two checkpoints key by key: tensors by dtype, shape and values (equal bytes, or within
 * `atol` of each other), other values by what they print as.
 */
export function diffCheckpoints(a: PyValue, b: PyValue, options: DiffOptions = { atol: 0, acrossFloatDtypes: false, ignorePrefixes: [] }): DiffReport {
  const left = withoutPrefixes(flattenLeaves(a), options.ignorePrefixes, 'A');
  const right = withoutPrefixes(flattenLeaves(b), options.ignorePrefixes, 'B');
  const differences: Difference[] = [];
  const casts: DiffReport['casts'] = [];
  let compared = 0;
  for (const [key, leafA] of left) {
    const leafB = right.get(key);
    if (!leafB) {
      differences.push({ kind: 'only-in-a', key });
      continue;
    }
    compared++;
    if (leafA.kind === 'tensor' && leafB.kind === 'tensor') {
      const difference = compareTensors(key, leafA.tensor, leafB.tensor, options.atol);
      if (difference?.kind === 'dtype' && options.acrossFloatDtypes && difference.values?.mismatched === 0) {
        casts.push({ key, a: difference.a, b: difference.b, maxAbsDiff: difference.values.maxAbsDiff });
      } else if (difference) differences.push(difference);
    } else if (leafA.kind !== leafB.kind || (leafA.kind === 'value' && leafA.text !== (leafB as { text: string }).text)) {
      differences.push({ kind: 'value', key, a: leafText(leafA), b: leafText(leafB) });
    }
  }
  for (const key of right.keys()) if (!left.has(key)) differences.push({ kind: 'only-in-b', key });
  const hint = prefixHint(
    differences.filter((d) => d.kind === 'only-in-a').map((d) => d.key),
    differences.filter((d) => d.kind === 'only-in-b').map((d) => d.key),
  );
  return { compared, differences, casts, ...(hint ? { prefixHint: hint } : {}) };
}

/** Keys with any of the prefixes taken off; two keys that become one is an error (the comparison would lie). */
function withoutPrefixes(leaves: Map<string, Leaf>, prefixes: readonly string[], side: string): Map<string, Leaf> {
  if (prefixes.length === 0) return leaves;
  const result = new Map<string, Leaf>();
  const from = new Map<string, string>();
  for (const [key, leaf] of leaves) {
    const prefix = prefixes.find((p) => key.startsWith(p));
    const short = prefix === undefined ? key : key.slice(prefix.length);
    if (from.has(short)) throw new ModsurgError(`--ignore-prefix: ${side} has both ${from.get(short)} and ${key}, which would compare as one key '${short}'`);
    from.set(short, key);
    result.set(short, leaf);
  }
  return result;
}

function leafText(leaf: Leaf): string {
  return leaf.kind === 'value' ? leaf.text : `tensor ${leaf.tensor.dtype} [${leaf.tensor.shape.join(', ')}]`;
}

function compareTensors(key: string, a: Tensor, b: Tensor, atol: number): Difference | undefined {
  const sameShape = a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape[i]);
  if (a.dtype !== b.dtype) {
    // a cast between floating dtypes (fp32 → fp16): how far the values moved is the question
    const floating = FLOATING_KINDS.has(dtypeInfo(a.dtype).kind) && FLOATING_KINDS.has(dtypeInfo(b.dtype).kind) && dtypeInfo(a.dtype).kind === dtypeInfo(b.dtype).kind;
    const values = floating && sameShape ? valueGap(a, b, atol, false) : undefined;
    return { kind: 'dtype', key, a: a.dtype, b: b.dtype, ...(values ? { values } : {}) };
  }
  if (!sameShape) return { kind: 'shape', key, a: a.shape, b: b.shape };
  const gap = valueGap(a, b, atol, true);
  // equal values with different bits (-0 and 0, NaN payloads) are not a difference
  return gap.mismatched === 0 ? undefined : { kind: 'values', key, ...gap };
}

/** Elements compared a piece at a time, so a tensor of any size is never held whole. */
const PIECE_BYTES = 16 << 20;

const FLOATING_KINDS: ReadonlySet<string> = new Set(['float', 'complex']);

/**
 * Elements further apart than atol (NaN equals NaN), and the largest difference. With `sameBits`
 * (one dtype), pieces whose bytes are equal are passed over without decoding.
 */
function valueGap(a: Tensor, b: Tensor, atol: number, sameBits: boolean): ValueGap {
  const elements = Math.floor(PIECE_BYTES / Math.max(dtypeInfo(a.dtype).size, dtypeInfo(b.dtype).size));
  const piecesB = elementPieces(b, elements);
  let maxAbsDiff = 0;
  let mismatched = 0;
  for (const pieceA of elementPieces(a, elements)) {
    const pieceB = piecesB.next().value!;
    if (sameBits && Buffer.from(pieceA.buffer, pieceA.byteOffset, pieceA.byteLength).equals(Buffer.from(pieceB.buffer, pieceB.byteOffset, pieceB.byteLength))) continue;
    const valuesA = decode(a.dtype, pieceA);
    const valuesB = decode(b.dtype, pieceB);
    for (let i = 0; i < valuesA.length; i++) {
      const x = valuesA[i]!;
      const y = valuesB[i]!;
      if (Number.isNaN(x) && Number.isNaN(y)) continue;
      const d = x === y ? 0 : Math.abs(x - y);
      if (Number.isNaN(d) || d > atol) mismatched++;
      if (Number.isNaN(d) || d > maxAbsDiff) maxAbsDiff = Number.isNaN(d) ? Infinity : d;
    }
  }
  piecesB.next();
  const elementsPerValue = dtypeInfo(a.dtype).kind === 'complex' ? 2 : 1;
  return { maxAbsDiff, mismatched: Math.ceil(mismatched / elementsPerValue), numel: numelOf(a.shape) };
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
