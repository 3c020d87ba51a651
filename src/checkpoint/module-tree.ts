import { dtypeInfo, type DType } from './dtype.js';
import { numelOf, type Tensor } from './tensor.js';

/** A tensor as a module tree shows it. */
export interface TensorLeaf {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
}

/** A module of the tree recovered from key paths (`layer1.0.conv1.weight` → layer1 → 0 → conv1). */
export interface ModuleNode {
  readonly name: string;
  readonly path: string;
  /** What the module is: the class from a whole-model pickle, else inferred from its tensors. */
  readonly kind: string;
  /** `Conv2d(3, 4, kernel_size=(3, 3), bias=False)`: the kind with what its shapes say. */
  readonly description: string;
  readonly tensors: TensorLeaf[];
  readonly children: ModuleNode[];
  /** Elements of every tensor in this module and below. */
  readonly params: number;
  /** Bytes of their values (elements × dtype size). */
  readonly bytes: number;
}

interface Draft {
  name: string;
  path: string;
  tensors: TensorLeaf[];
  children: Map<string, Draft>;
}

/**
 * Builds the module tree of a state dict. `classes` (module path → class name) comes from a whole-model
 * pickle; without it, kinds are inferred the way a reader of `print(net)` would guess them.
 */
export function buildModuleTree(tensors: readonly [string, Tensor][], classes?: ReadonlyMap<string, string>): ModuleNode {
  const root: Draft = { name: '', path: '', tensors: [], children: new Map() };
  for (const [key, tensor] of tensors) {
    const parts = key.split('.');
    let node = root;
    for (const part of parts.slice(0, -1)) {
      let child = node.children.get(part);
      if (!child) node.children.set(part, (child = { name: part, path: node.path === '' ? part : `${node.path}.${part}`, tensors: [], children: new Map() }));
      node = child;
    }
    node.tensors.push({ name: parts[parts.length - 1]!, dtype: tensor.dtype, shape: tensor.shape });
  }
  const finish = (draft: Draft): ModuleNode => {
    const children = [...draft.children.values()].map(finish);
    const className = classes?.get(draft.path)?.split('.').pop();
    const inferred = inferKind(draft.name, draft.tensors, children);
    const kind = className ?? inferred.kind;
    const description = inferred.args !== undefined && (className === undefined || className === inferred.kind || sameFamily(className, inferred.kind))
      ? `${kind}(${inferred.args})`
      : kind;
    const params = draft.tensors.reduce((n, t) => n + numelOf(t.shape), 0) + children.reduce((n, c) => n + c.params, 0);
    const bytes = draft.tensors.reduce((n, t) => n + numelOf(t.shape) * dtypeInfo(t.dtype).size, 0) + children.reduce((n, c) => n + c.bytes, 0);
    return { name: draft.name, path: draft.path, kind, description, tensors: draft.tensors, children, params, bytes };
  };
  return finish(root);
}

function sameFamily(className: string, inferred: string): boolean {
  return (inferred === 'BatchNorm' && className.startsWith('BatchNorm')) || (inferred === 'LayerNorm' && /Norm/.test(className));
}

function inferKind(name: string, tensors: TensorLeaf[], children: ModuleNode[]): { kind: string; args?: string } {
  const byName = new Map(tensors.map((t) => [t.name, t]));
  const weight = byName.get('weight');
  const bias = byName.has('bias');
  if (byName.has('running_mean') && byName.has('running_var')) {
    return { kind: 'BatchNorm', args: String(byName.get('running_mean')!.shape[0] ?? '?') };
  }
  if (weight && children.length === 0) {
    const s = weight.shape;
    if (s.length >= 3 && s.length <= 5) {
      const kernel = s.slice(2).join(', ');
      return { kind: `Conv${s.length - 2}d`, args: `${s[1]}, ${s[0]}, kernel_size=(${kernel}${s.length === 3 ? ',' : ''})${bias ? '' : ', bias=False'}` };
    }
    if (s.length === 2) {
      if (!bias && /emb/i.test(name)) return { kind: 'Embedding', args: `${s[0]}, ${s[1]}` };
      return { kind: 'Linear', args: `in_features=${s[1]}, out_features=${s[0]}, bias=${bias ? 'True' : 'False'}` };
    }
    if (s.length === 1 && bias) return { kind: 'LayerNorm', args: `(${s[0]},)` };
  }
  if (tensors.length === 0 && children.length > 0 && children.every((c) => /^\d+$/.test(c.name))) return { kind: 'Sequential' };
  return { kind: 'Module' };
}

/** Common wrapper prefixes shared by every key (`module.` from DataParallel, `_orig_mod.` from torch.compile). */
export function detectPrefixes(keys: readonly string[]): string[] {
  const known = ['module.', '_orig_mod.', 'model.'];
  const found: string[] = [];
  let rest = [...keys];
  for (;;) {
    const prefix = known.find((p) => rest.length > 0 && rest.every((k) => k.startsWith(p)));
    if (!prefix) return found;
    found.push(prefix);
    rest = rest.map((k) => k.slice(prefix.length));
  }
}
