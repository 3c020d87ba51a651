import { ModsurgError } from '../../errors.js';
import { contiguousBytes, type Tensor } from '../../checkpoint/tensor.js';
import { materialize, type Piece } from '../../io/pieces.js';
import { elemTypeInfo } from '../elem-type.js';
import { initializerRenamed, initializerWithRawData, tensorPiece } from '../initializers.js';
import { attribute, tensorNames, uniqueName, type Graph, type GraphNode, type Initializer } from '../graph.js';
import { graphModules, isWithin } from '../module-scopes.js';

/**
 * Puts a state dict's values into an exported model, following the graph where the exporter did not keep
 * the state-dict names: a key goes to the initializer of its name, to the initializer behind an Identity
 * alias of its name, or to the initializer its module's node reads in that member's place (a Linear's
 * weight is the MatMul's second input, stored transposed by the dynamo exporter as `val_13`). Exporters
 * merge initializers that held equal values when exported (fresh biases of zeros, norm weights of ones);
 * keys with different values get their own initializers again. A Gemm whose zero bias the exporter
 * dropped gets its bias input back. Every shape and dtype is checked; only what gets new values changes.
 */

/** How a key found its place. */
export type Placement =
  /** An initializer of the key's name. */
  | 'name'
  /** An Identity node named like the key, reading an initializer (the classic exporter's shared weights). */
  | 'alias'
  /** The initializer a node of the key's module reads in the member's place. */
  | 'graph';

export interface LoadedKey {
  readonly key: string;
  /** The initializer that holds its values now. */
  readonly initializer: string;
  readonly placement: Placement;
  /** The initializer holds the key's 2-D value transposed (a MatMul's or a Gemm's B). */
  readonly transposed: boolean;
}

export interface LoadWeightsReport {
  readonly loaded: LoadedKey[];
  /** Keys that found no place, with the reason. */
  readonly unloaded: { key: string; reason: string }[];
  /** Training-only counters that exporters never keep (BatchNorm's num_batches_tracked). */
  readonly skipped: string[];
  /** Keys one initializer serves, because they are one tensor in the checkpoint (`tied`) or equal values. */
  readonly shared: { keys: string[]; initializer: string; kind: 'tied' | 'equal' }[];
  /** Keys the exporter had merged into another's initializer (equal when exported): now their own. */
  readonly separated: { key: string; from: string }[];
  /** Biases the exporter dropped (a zero bias of a Gemm), given back. */
  readonly restored: { key: string; node: string }[];
  /** Initializers named like state-dict keys that no key gave a value. */
  readonly untouched: string[];
}

/** A reader of an initializer: a node input, directly or through an Identity alias. */
interface Reader {
  readonly node: GraphNode;
  readonly index: number;
}

interface Claim {
  readonly key: string;
  readonly tensor: Tensor;
  readonly initializer: string;
  readonly placement: Placement;
  readonly transposed: boolean;
  /** The readers whose value this key is; for a name claim, the readers of its module no other claim has. */
  readonly readers: Reader[];
  /** For an alias claim: the Identity node that names it. */
  readonly alias?: GraphNode;
}

/** Which member of a module each input of an op is, and whether a 2-D weight is stored transposed there. */
function slotOf(node: GraphNode, index: number): { member: string; transposed: boolean } | undefined {
  const op = node.proto.op_type ?? '';
  switch (op) {
    case 'Gemm':
      if (index === 1) return { member: 'weight', transposed: (attribute(node.proto, 'transB')?.i ?? 0) !== 1 };
      return index === 2 ? { member: 'bias', transposed: false } : undefined;
    case 'MatMul':
      return index === 1 ? { member: 'weight', transposed: true } : undefined;
    case 'Add':
      return { member: 'bias', transposed: false };
    case 'Conv':
    case 'ConvTranspose':
    case 'LayerNormalization':
    case 'GroupNormalization':
    case 'InstanceNormalization':
      return index === 1 ? { member: 'weight', transposed: false } : index === 2 ? { member: 'bias', transposed: false } : undefined;
    case 'BatchNormalization': {
      const member = ['', 'weight', 'bias', 'running_mean', 'running_var'][index];
      return member ? { member, transposed: false } : undefined;
    }
    case 'Gather':
      return index === 0 ? { member: 'weight', transposed: false } : undefined;
    case 'PRelu':
      return index === 1 ? { member: 'weight', transposed: false } : undefined;
    default:
      return undefined;
  }
}

const sameDims = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((d, i) => d === b[i]);

/**
 * The bytes an initializer must hold for a key: the tensor's (a range of the checkpoint, copied when the
 * model is written), transposed where the graph stores it so.
 */
function valueBytes(tensor: Tensor, transposed: boolean): Piece {
  if (!transposed) return tensorPiece(tensor);
  const [rows, cols] = tensor.shape as [number, number];
  const [rowStride, colStride] = tensor.stride as [number, number];
  return contiguousBytes({ ...tensor, shape: [cols, rows], stride: [colStride, rowStride] });
}

const storageIds = new WeakMap<object, number>();
let storageCount = 0;

/** Identifies a tensor by its storage and view, so two keys holding the same tensor compare equal. */
function viewId(tensor: Tensor): string {
  let id = storageIds.get(tensor.storage);
  if (id === undefined) storageIds.set(tensor.storage, (id = ++storageCount));
  return `${id}:${tensor.storageOffset}:${tensor.shape.join(',')}:${tensor.stride.join(',')}`;
}

function parentPath(key: string): string {
  const dot = key.lastIndexOf('.');
  return dot < 0 ? '' : key.slice(0, dot);
}

export function loadWeights(graph: Graph, tensors: readonly [string, Tensor][]): { graph: Graph; report: LoadWeightsReport } {
  const byName = new Map(graph.initializers.map((i) => [i.proto.name ?? '', i]));
  const { moduleOf } = graphModules(graph);
  // Identity(initializer) nodes: their outputs alias the initializer (chains followed)
  const aliasNode = new Map<string, GraphNode>();
  for (const node of graph.nodes) {
    const [input] = node.proto.input ?? [];
    const [output] = node.proto.output ?? [];
    if (node.proto.op_type === 'Identity' && input !== undefined && output !== undefined) aliasNode.set(output, node);
  }
  const initializerBehind = (name: string): string | undefined => {
    const seen = new Set<string>();
    let current = name;
    while (!byName.has(current)) {
      const node = aliasNode.get(current);
      if (!node || seen.has(current)) return undefined;
      seen.add(current);
      current = node.proto.input![0]!;
    }
    return current;
  };
  // every node input that reads an initializer, directly or through aliases; alias nodes themselves excluded
  const readersOf = new Map<string, Reader[]>();
  for (const node of graph.nodes) {
    if (node.proto.op_type === 'Identity' && aliasNode.get(node.proto.output?.[0] ?? '') === node && initializerBehind(node.proto.output![0]!) !== undefined) continue;
    (node.proto.input ?? []).forEach((input, index) => {
      const initializer = input === '' ? undefined : initializerBehind(input);
      if (initializer === undefined) return;
      const list = readersOf.get(initializer) ?? [];
      list.push({ node, index });
      readersOf.set(initializer, list);
    });
  }
  const nodesByModule = new Map<string, GraphNode[]>();
  for (const node of graph.nodes) {
    const module = moduleOf.get(node);
    if (module === undefined) continue;
    const list = nodesByModule.get(module) ?? [];
    list.push(node);
    nodesByModule.set(module, list);
  }

  const skipped: string[] = [];
  const unloaded: { key: string; reason: string }[] = [];
  const pending: { key: string; tensor: Tensor; placement: Placement; initializer: string; transposed: boolean; readers?: Reader[]; alias?: GraphNode }[] = [];
  const restorable: { key: string; tensor: Tensor; gemm: GraphNode }[] = [];
  const foldedNorms: string[] = [];

  for (const [key, tensor] of tensors) {
    if (key.endsWith('num_batches_tracked')) {
      skipped.push(key);
      continue;
    }
    if (byName.has(key)) {
      pending.push({ key, tensor, placement: 'name', initializer: key, transposed: false });
      continue;
    }
    const behind = aliasNode.has(key) ? initializerBehind(key) : undefined;
    if (behind !== undefined) {
      pending.push({ key, tensor, placement: 'alias', initializer: behind, transposed: false, alias: aliasNode.get(key)! });
      continue;
    }
    // follow the graph: the initializer a node of the key's module reads in the member's place
    const module = parentPath(key);
    const member = key.slice(module.length === 0 ? 0 : module.length + 1);
    const nodes = nodesByModule.get(module) ?? [];
    const found = new Map<string, { transposed: boolean; readers: Reader[] }>();
    const agnostic = new Map<string, Reader[]>();
    for (const node of nodes) {
      (node.proto.input ?? []).forEach((input, index) => {
        const initializer = input === '' ? undefined : initializerBehind(input);
        if (initializer === undefined) return;
        const dims = byName.get(initializer)!.proto.dims ?? [];
        const slot = slotOf(node, index);
        if (slot?.member === member) {
          const transposed = slot.transposed && tensor.shape.length === 2;
          if (!sameDims(dims, transposed ? [...tensor.shape].reverse() : tensor.shape)) return;
          const entry = found.get(initializer) ?? { transposed, readers: [] };
          entry.readers.push({ node, index });
          found.set(initializer, entry);
        } else if (slot === undefined && sameDims(dims, tensor.shape)) {
          agnostic.set(initializer, [...(agnostic.get(initializer) ?? []), { node, index }]);
        }
      });
    }
    const candidates = found.size > 0 ? [...found] : [...agnostic].map(([name, readers]): [string, { transposed: boolean; readers: Reader[] }] => [name, { transposed: false, readers }]);
    if (candidates.length === 1) {
      const [initializer, { transposed, readers }] = candidates[0]!;
      pending.push({ key, tensor, placement: 'graph', initializer, transposed, readers });
      continue;
    }
    const gemm = member === 'bias' ? nodes.filter((n) => n.proto.op_type === 'Gemm') : [];
    if (gemm.length === 1 && (gemm[0]!.proto.input ?? []).length === 2 && (attribute(gemm[0]!.proto, 'beta')?.f ?? 1) === 1) {
      restorable.push({ key, tensor, gemm: gemm[0]! });
      continue;
    }
    unloaded.push({ key, reason: unplacedReason(module, member, nodes, candidates.length) });
    if (['running_mean', 'running_var'].includes(member) && !nodes.some((n) => n.proto.op_type === 'BatchNormalization')) foldedNorms.push(module);
  }

  // running statistics with nowhere to go: the exporter folded BatchNorm into the convolutions, whose
  // weights keep their names but hold folded values, so loading any of them would be wrong
  if (foldedNorms.length > 0 && !graph.nodes.some((n) => n.proto.op_type === 'BatchNormalization')) {
    throw new ModsurgError(
      `the model has no BatchNormalization nodes for ${foldedNorms[0]!} and ${foldedNorms.length - 1} more: the exporter folded BatchNorm into the convolutions, so their weights hold folded values and loading the checkpoint into them would be wrong; export with do_constant_folding=False (classic) and load into that`,
    );
  }

  for (const p of pending) {
    const initializer = byName.get(p.initializer)!;
    const dims = initializer.proto.dims ?? [];
    const wanted = p.transposed ? [...p.tensor.shape].reverse() : p.tensor.shape;
    if (!sameDims(dims, wanted)) {
      throw new ModsurgError(`${p.key}: shape [${p.tensor.shape.join(', ')}] does not fit initializer ${p.initializer} of shape [${dims.join(', ')}]`);
    }
    const elem = elemTypeInfo(initializer.proto.data_type ?? 0);
    if (elem.name !== p.tensor.dtype) {
      throw new ModsurgError(`${p.key}: dtype ${p.tensor.dtype} does not match initializer ${p.initializer} (${elem.name}); convert the checkpoint with --dtype first`);
    }
  }

  // the readers each claim owns: graph claims own theirs, alias claims their Identity node, a name claim
  // every reader of its initializer that no other claim owns
  const claims: Claim[] = [];
  const claimedReaders = new Set<string>();
  const position = new Map(graph.nodes.map((n, i) => [n, i]));
  const readerId = (r: Reader): string => `${position.get(r.node)}:${r.index}`;
  for (const p of pending) if (p.placement === 'graph') for (const r of p.readers!) claimedReaders.add(readerId(r));
  for (const p of pending) {
    // a name claim owns the readers in its own module (or in one the graph does not say), not another
    // module's: those belong to a key the exporter merged into it
    const module = parentPath(p.key);
    const related = (r: Reader): boolean => {
      const m = moduleOf.get(r.node);
      return m === undefined || isWithin(m, module) || isWithin(module, m);
    };
    const readers =
      p.placement === 'graph'
        ? p.readers!
        : p.placement === 'name'
          ? (readersOf.get(p.initializer) ?? []).filter((r) => !claimedReaders.has(readerId(r)) && !readsThroughAlias(r, p.initializer) && related(r))
          : [];
    claims.push({ key: p.key, tensor: p.tensor, initializer: p.initializer, placement: p.placement, transposed: p.transposed, readers, ...(p.alias ? { alias: p.alias } : {}) });
  }

  const used = tensorNames(graph);
  const replaced = new Map<string, Initializer>();
  const added: Initializer[] = [];
  const rewired = new Map<GraphNode, GraphNode>();
  const droppedAliases = new Set<GraphNode>();
  const shared: LoadWeightsReport['shared'] = [];
  const separated: LoadWeightsReport['separated'] = [];
  const loaded: LoadedKey[] = [];
  const rewire = (reader: Reader, name: string): void => {
    const current = rewired.get(reader.node) ?? reader.node;
    const input = [...(current.proto.input ?? [])];
    input[reader.index] = name;
    rewired.set(reader.node, { proto: { ...current.proto, input } });
  };

  const byInitializer = new Map<string, Claim[]>();
  for (const claim of claims) byInitializer.set(claim.initializer, [...(byInitializer.get(claim.initializer) ?? []), claim]);
  for (const [name, group] of byInitializer) {
    const initializer = byName.get(name)!;
    const values = group.map((c) => valueBytes(c.tensor, c.transposed));
    const allEqual = values.length === 1 || values.every((v) => materialize([v]).equals(materialize([values[0]!])));
    // readers no key speaks for (their keys are not in the checkpoint) keep the value they had
    const owned = new Set(group.flatMap((c) => c.readers.map(readerId)));
    const unownedReaders = (readersOf.get(name) ?? []).filter((r) => !owned.has(readerId(r)) && !readsThroughAlias(r, name));
    const unownedAliases = [...aliasNode.values()].filter((node) => node.proto.input?.[0] === name && !group.some((c) => c.alias === node));
    if (allEqual && unownedReaders.length === 0 && unownedAliases.length === 0) {
      // one value serves every reader, as the exporter stored it
      replaced.set(name, withData(initializer, values[0]!));
      for (const claim of group) loaded.push({ key: claim.key, initializer: name, placement: claim.placement, transposed: claim.transposed });
      if (group.length > 1) {
        const tied = group.every((c) => viewId(c.tensor) === viewId(group[0]!.tensor));
        shared.push({ keys: group.map((c) => c.key), initializer: name, kind: tied ? 'tied' : 'equal' });
      }
      continue;
    }
    // the key of the initializer's name keeps it; every other key gets one of its own for its readers, and
    // readers no key speaks for get a copy of the old value
    const keeper = group.find((c) => c.placement === 'name');
    if (keeper && (unownedReaders.length > 0 || unownedAliases.length > 0)) {
      const copy = uniqueName(used, `${name}_exported`);
      added.push(initializerRenamed(initializer, copy));
      for (const reader of unownedReaders) rewire(reader, copy);
      for (const alias of unownedAliases) rewire({ node: alias, index: 0 }, copy);
    }
    group.forEach((claim, i) => {
      if (claim === keeper) {
        replaced.set(name, withData(initializer, values[i]!));
        loaded.push({ key: claim.key, initializer: name, placement: claim.placement, transposed: claim.transposed });
        return;
      }
      const own = claim.alias ? claim.alias.proto.output![0]! : uniqueName(used, claim.key);
      if (claim.alias) droppedAliases.add(claim.alias);
      else for (const reader of claim.readers) rewire(reader, own);
      added.push(initializerRenamed(withData(initializer, values[i]!), own));
      separated.push({ key: claim.key, from: name });
      loaded.push({ key: claim.key, initializer: own, placement: claim.placement, transposed: claim.transposed });
    });
  }

  // a Gemm whose bias the exporter dropped (it was zero) gets it back as its third input
  const restored: LoadWeightsReport['restored'] = [];
  for (const r of restorable) {
    const weight = r.gemm.proto.input?.[1] ?? '';
    const elemType = byName.get(initializerBehind(weight) ?? '')?.proto.data_type;
    if (elemType === undefined || elemTypeInfo(elemType).name !== r.tensor.dtype || r.tensor.shape.length !== 1) {
      unloaded.push({ key: r.key, reason: `module ${parentPath(r.key)}'s Gemm has no bias input, and its weight does not say how to give one back` });
      continue;
    }
    const name = uniqueName(used, r.key);
    added.push({ proto: { name, dims: [...r.tensor.shape], data_type: elemType, raw_data: contiguousBytes(r.tensor) } });
    rewire({ node: r.gemm, index: 2 }, name);
    restored.push({ key: r.key, node: r.gemm.proto.name ?? 'Gemm' });
    loaded.push({ key: r.key, initializer: name, placement: 'graph', transposed: false });
  }

  // keys with no initializer of their own that are the same tensor as a loaded key (tied weights stored once)
  const loadedViews = new Map(loaded.map((l) => [viewId(tensors.find(([k]) => k === l.key)![1]), l.key]));
  for (const miss of [...unloaded]) {
    const sameAs = loadedViews.get(viewId(tensors.find(([k]) => k === miss.key)![1]));
    if (sameAs === undefined) continue;
    unloaded.splice(unloaded.indexOf(miss), 1);
    const entry = shared.find((s) => s.keys.includes(sameAs));
    if (entry) entry.keys.push(miss.key);
    else shared.push({ keys: [sameAs, miss.key], initializer: loaded.find((l) => l.key === sameAs)!.initializer, kind: 'tied' });
  }

  const nodes = graph.nodes.filter((n) => !droppedAliases.has(n)).map((n) => rewired.get(n) ?? n);
  const initializers = [...graph.initializers.map((i) => replaced.get(i.proto.name ?? '') ?? i), ...added];
  const loadedInitializers = new Set(loaded.map((l) => l.initializer));
  const untouched = graph.initializers.map((i) => i.proto.name ?? '').filter((name) => /^[A-Za-z_]\w*(\.\w+)+$/.test(name) && !loadedInitializers.has(name));
  return {
    graph: { ...graph, nodes, initializers },
    report: { loaded, unloaded, skipped, shared, separated, restored, untouched },
  };

  /** True when the reader gets the initializer through an Identity alias (the alias's own claim owns it). */
  function readsThroughAlias(reader: Reader, initializer: string): boolean {
    const input = reader.node.proto.input![reader.index]!;
    return input !== initializer && aliasNode.has(input);
  }
}

/** Why a key found no place in the graph. */
function unplacedReason(module: string, member: string, nodes: readonly GraphNode[], candidates: number): string {
  if (nodes.length === 0) return `no initializer of that name, and the graph has no nodes of module '${module}'`;
  if (candidates > 1) return `module '${module}' reads ${candidates} initializers that could be its ${member}`;
  if (['running_mean', 'running_var', 'weight', 'bias'].includes(member) && !nodes.some((n) => n.proto.op_type === 'BatchNormalization') && nodes.some((n) => n.proto.op_type === 'Conv')) {
    return `module '${module}' has no BatchNormalization node: the exporter folded it into a Conv`;
  }
  return `module '${module}' (${[...new Set(nodes.map((n) => n.proto.op_type))].join(', ')}) reads no initializer in the place of its ${member}: the exporter removed it`;
}

/** The same initializer with new little-endian bytes in raw_data (external data is brought inline). */
function withData(initializer: Initializer, bytes: Piece): Initializer {
  return initializerWithRawData(initializer, bytes);
}
