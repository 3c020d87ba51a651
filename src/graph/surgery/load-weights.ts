import { ModsurgError } from '../../cli/errors.js';
import { contiguousBytes, type Tensor } from '../../checkpoint/tensor.js';
import { elemTypeInfo } from '../elem-type.js';
import type { Graph, Initializer } from '../graph.js';

export interface LoadWeightsReport {
  /** Checkpoint keys whose values went into an initializer (`key` → initializer name). */
  readonly matched: { key: string; initializer: string }[];
  /** Checkpoint keys with no initializer of that name. */
  readonly unusedKeys: string[];
  /** Initializers no checkpoint key named (exporter constants, folded weights). */
  readonly untouched: string[];
  /** Training-only counters that exporters never keep (BatchNorm's num_batches_tracked). */
  readonly skipped: string[];
  /** Keys with no initializer of their own that are the same tensor as a loaded key (tied weights the
   *  exporter stored once): `key` → the key whose initializer holds it. */
  readonly tied: { key: string; sameAs: string }[];
}

/**
 * Puts a state dict's values into the model's initializers by name, following the Identity nodes an
 * exporter adds for shared (tied) weights, with every shape and dtype checked. Only the initializers
 * that get new values change; everything else stays as read.
 */
export function loadWeights(graph: Graph, tensors: readonly [string, Tensor][]): { graph: Graph; report: LoadWeightsReport } {
  const byName = new Map(graph.initializers.map((i) => [i.proto.name ?? '', i]));
  // exporters alias a shared weight as Identity(initializer) → 'b.weight'
  const aliasOf = new Map<string, string>();
  for (const node of graph.nodes) {
    const input = node.proto.input?.[0];
    const output = node.proto.output?.[0];
    if (node.proto.op_type === 'Identity' && input && output && byName.has(input)) aliasOf.set(output, input);
  }
  const replaced = new Map<string, Initializer>();
  const valueOf = new Map<string, { key: string; bytes: Uint8Array }>();
  const matched: { key: string; initializer: string }[] = [];
  const unusedKeys: string[] = [];
  const skipped: string[] = [];
  for (const [key, tensor] of tensors) {
    let target = byName.has(key) ? key : aliasOf.get(key);
    while (target !== undefined && !byName.has(target)) target = aliasOf.get(target);
    if (target === undefined) {
      (key.endsWith('num_batches_tracked') ? skipped : unusedKeys).push(key);
      continue;
    }
    const initializer = byName.get(target)!;
    const dims = initializer.proto.dims ?? [];
    const elem = elemTypeInfo(initializer.proto.data_type ?? 0);
    if (dims.length !== tensor.shape.length || dims.some((d, i) => d !== tensor.shape[i])) {
      throw new ModsurgError(`${key}: shape [${tensor.shape.join(', ')}] does not fit initializer ${target} of shape [${dims.join(', ')}]`);
    }
    if (elem.name !== tensor.dtype) {
      throw new ModsurgError(`${key}: dtype ${tensor.dtype} does not match initializer ${target} (${elem.name}); convert the checkpoint with --dtype first`);
    }
    const bytes = contiguousBytes(tensor);
    const previous = valueOf.get(target);
    if (previous && !Buffer.from(previous.bytes).equals(Buffer.from(bytes))) {
      throw new ModsurgError(`${key} and ${previous.key} share initializer ${target} (tied weights) but hold different values`);
    }
    valueOf.set(target, { key, bytes });
    replaced.set(target, withData(initializer, bytes));
    matched.push({ key, initializer: target });
  }
  // a tied weight (b.weight = a.weight) is one tensor in the checkpoint and one initializer in the model
  const tied: { key: string; sameAs: string }[] = [];
  const loadedViews = new Map(matched.map(({ key }) => [viewId(tensors.find(([k]) => k === key)![1]), key]));
  for (const key of [...unusedKeys]) {
    const sameAs = loadedViews.get(viewId(tensors.find(([k]) => k === key)![1]));
    if (sameAs === undefined) continue;
    tied.push({ key, sameAs });
    unusedKeys.splice(unusedKeys.indexOf(key), 1);
  }
  // running statistics with nowhere to go and no BatchNormalization node: the exporter folded BatchNorm
  // into the convolutions, whose weights keep their names but hold folded values
  const missingStats = unusedKeys.filter((key) => key.endsWith('.running_mean'));
  if (missingStats.length > 0 && !graph.nodes.some((n) => n.proto.op_type === 'BatchNormalization')) {
    throw new ModsurgError(
      `the model has no BatchNormalization nodes for ${missingStats[0]!.replace(/\.running_mean$/, '')} and ${missingStats.length - 1} more: the exporter folded BatchNorm into the convolutions, so their weights hold folded values and loading the checkpoint into them would be wrong; export with do_constant_folding=False (classic) and load into that`,
    );
  }
  const untouched = graph.initializers.map((i) => i.proto.name ?? '').filter((name) => !replaced.has(name));
  return {
    graph: { ...graph, initializers: graph.initializers.map((i) => replaced.get(i.proto.name ?? '') ?? i) },
    report: { matched, unusedKeys, untouched, skipped, tied },
  };
}

const storageIds = new WeakMap<object, number>();
let storageCount = 0;

/** Identifies a tensor by its storage and view, so two keys holding the same tensor compare equal. */
function viewId(tensor: Tensor): string {
  let id = storageIds.get(tensor.storage);
  if (id === undefined) storageIds.set(tensor.storage, (id = ++storageCount));
  return `${id}:${tensor.storageOffset}:${tensor.shape.join(',')}:${tensor.stride.join(',')}`;
}

/** The same initializer with new little-endian bytes in raw_data (external data is brought inline). */
function withData(initializer: Initializer, bytes: Uint8Array): Initializer {
  const {
    raw_data: _raw,
    float_data: _f,
    int32_data: _i32,
    int64_data: _i64,
    double_data: _d,
    uint64_data: _u64,
    external_data: _external,
    data_location: _location,
    ...rest
  } = initializer.proto;
  return { proto: { ...rest, raw_data: bytes } };
}
