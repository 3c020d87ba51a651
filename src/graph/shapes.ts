import { decode } from '../checkpoint/numeric.js';
import { contiguousBytes, numelOf } from '../checkpoint/tensor.js';
import { attribute, tensorTypeOf, type Graph, type GraphNode, type NodeProto, type TensorProto, type TensorType } from './graph.js';
import { initializerTensor } from './initializers.js';

type Dim = number | string | undefined;
type Shape = readonly Dim[];

const INT64 = 7;
const BOOL = 9;

/**
 * The types of a graph's tensors: the ones it declares, and those of the others worked out from the
 * operators that make them, as ONNX's shape inference does, for the operators of the models people
 * export (convolutions, pooling, normalisation, activations, broadcasting arithmetic, MatMul and Gemm,
 * the shape ops with constant arguments). A dimension that cannot be known stays unknown; a tensor
 * made by an operator without a rule here, or from one of unknown type, has no type. For display
 * (view's edge labels): nothing is written from it.
 */
export function inferTypes(graph: Graph): Map<string, TensorType> {
  const types = new Map<string, TensorType>();
  const declared = new Set<string>();
  for (const info of [...graph.inputs, ...graph.outputs, ...graph.valueInfo]) {
    const type = info.proto.type ? tensorTypeOf(info.proto) : undefined;
    if (info.proto.name && type) {
      types.set(info.proto.name, type);
      declared.add(info.proto.name);
    }
  }
  const constants = new Map<string, TensorProto>();
  for (const item of graph.initializers) {
    const name = item.proto.name ?? '';
    constants.set(name, item.proto);
    if (!declared.has(name)) types.set(name, { elemType: item.proto.data_type ?? 0, shape: item.proto.dims ?? [] });
  }
  // the values of a small constant (a Reshape's shape, Unsqueeze's axes, Resize's scales)
  const values = (name: string | undefined): number[] | undefined => {
    const proto = name === undefined || name === '' ? undefined : constants.get(name);
    if (!proto || numelOf(proto.dims ?? []) > 64) return undefined;
    try {
      const tensor = initializerTensor(graph.initializers.find((i) => i.proto === proto) ?? { proto });
      return Array.from(decode(tensor.dtype, contiguousBytes(tensor)));
    } catch {
      return undefined;
    }
  };
  for (const node of graph.nodes) {
    const { proto } = node;
    if (proto.op_type === 'Constant' && (proto.domain ?? '') === '' && attribute(proto, 'value')?.t) {
      const t = attribute(proto, 'value')!.t!;
      const output = proto.output?.[0] ?? '';
      constants.set(output, t);
      if (!declared.has(output)) types.set(output, { elemType: t.data_type ?? 0, shape: t.dims ?? [] });
      continue;
    }
    const inputs = (proto.input ?? []).map((name) => (name === '' ? undefined : types.get(name)));
    let outputs: (TensorType | undefined)[] = [];
    try {
      outputs = (proto.domain ?? '') === '' || proto.domain === 'ai.onnx' ? infer(node, inputs, values) : [];
    } catch {
      outputs = [];
    }
    (proto.output ?? []).forEach((name, k) => {
      const type = outputs[k];
      if (name !== '' && type && !declared.has(name)) types.set(name, type);
    });
  }
  return types;
}

const SAME_AS_FIRST = new Set([
  'Relu', 'LeakyRelu', 'Sigmoid', 'Tanh', 'HardSigmoid', 'HardSwish', 'Gelu', 'Elu', 'Selu', 'Softplus', 'Softsign', 'Mish', 'PRelu',
  'Identity', 'Dropout', 'Erf', 'Sqrt', 'Exp', 'Log', 'Neg', 'Abs', 'Reciprocal', 'Floor', 'Ceil', 'Round', 'Sin', 'Cos',
  'Softmax', 'LogSoftmax', 'Clip', 'BatchNormalization', 'InstanceNormalization', 'LayerNormalization', 'GroupNormalization',
  'LRN', 'LpNormalization', 'CumSum', 'Trilu',
]);
const BROADCAST = new Set(['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Max', 'Min', 'Sum', 'Mean', 'Mod', 'BitShift', 'And', 'Or', 'Xor']);
const COMPARE = new Set(['Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual']);
const REDUCE = new Set(['ReduceMean', 'ReduceSum', 'ReduceMax', 'ReduceMin', 'ReduceProd', 'ReduceL1', 'ReduceL2', 'ReduceLogSumExp', 'ReduceSumSquare']);

type Values = (name: string | undefined) => number[] | undefined;

function infer(node: GraphNode, inputs: (TensorType | undefined)[], ints: Values): (TensorType | undefined)[] {
  const proto = node.proto;
  const op = proto.op_type ?? '';
  const first = inputs[0];
  const int = (name: string, fallback: number): number => attribute(proto, name)?.i ?? fallback;
  const list = (name: string): number[] | undefined => attribute(proto, name)?.ints;
  if (SAME_AS_FIRST.has(op)) return first ? [first] : [];
  if (op === 'Not' || op === 'IsNaN' || op === 'IsInf') return first ? [{ ...first, elemType: BOOL }] : [];
  if (op === 'Cast') return first ? [{ elemType: int('to', 0), ...(first.shape ? { shape: first.shape } : {}) }] : [];
  if (op === 'CastLike') return first && inputs[1] ? [{ elemType: inputs[1].elemType, ...(first.shape ? { shape: first.shape } : {}) }] : [];
  const shapeOf = (type: TensorType | undefined): Shape | undefined => type?.shape;
  if (op === 'ConstantOfShape') {
    const value = attribute(proto, 'value')?.t?.data_type ?? 1;
    const dims = ints(proto.input?.[0]);
    return dims ? [{ elemType: value, shape: dims }] : rankOnly(value, first?.shape?.[0]);
  }
  if (op === 'Range') return first ? [{ elemType: first.elemType, shape: [undefined] }] : [];
  const s = shapeOf(first);
  if (!first || !s) return [];
  const rank = s.length;
  const axis = (a: number): number => (a < 0 ? a + rank : a);
  if (BROADCAST.has(op) || COMPARE.has(op) || op === 'Where') {
    const operands = op === 'Where' ? inputs.slice(1) : inputs;
    if (operands.some((t) => !t?.shape)) return [];
    const shape = operands.map((t) => t!.shape!).reduce<Shape | undefined>((a, b) => (a === undefined ? undefined : broadcast(a, b)), []);
    if (!shape) return [];
    return [{ elemType: COMPARE.has(op) ? BOOL : operands[0]!.elemType, shape }];
  }
  switch (op) {
    case 'Conv':
    case 'MaxPool':
    case 'AveragePool':
    case 'LpPool': {
      const weight = shapeOf(inputs[1]);
      const kernel = list('kernel_shape') ?? (op === 'Conv' ? weight?.slice(2).map((d) => (typeof d === 'number' ? d : NaN)) : undefined);
      if (!kernel || kernel.some((k) => Number.isNaN(k)) || rank !== kernel.length + 2) return [];
      const channels = op === 'Conv' ? weight?.[0] : s[1];
      const spatial = pooled(s.slice(2), kernel, proto, op !== 'Conv' && int('ceil_mode', 0) === 1);
      const out: TensorType = { elemType: first.elemType, shape: [s[0], channels, ...spatial] };
      return op === 'MaxPool' ? [out, { elemType: INT64, shape: out.shape! }] : [out];
    }
    case 'ConvTranspose': {
      const weight = shapeOf(inputs[1]);
      const group = int('group', 1);
      const kernel = list('kernel_shape') ?? weight?.slice(2).map((d) => (typeof d === 'number' ? d : NaN));
      if (!kernel || kernel.some((k) => Number.isNaN(k)) || rank !== kernel.length + 2 || list('output_shape') || (attribute(proto, 'auto_pad')?.s?.length ?? 0) > 0) return [];
      const strides = list('strides') ?? kernel.map(() => 1);
      const dilations = list('dilations') ?? kernel.map(() => 1);
      const pads = list('pads') ?? kernel.map(() => 0).concat(kernel.map(() => 0));
      const extra = list('output_padding') ?? kernel.map(() => 0);
      const spatial = s.slice(2).map((d, i) =>
        typeof d === 'number' ? strides[i]! * (d - 1) + extra[i]! + ((kernel[i]! - 1) * dilations[i]! + 1) - pads[i]! - pads[i + kernel.length]! : undefined,
      );
      const out = typeof weight?.[1] === 'number' ? weight[1] * group : undefined;
      return [{ elemType: first.elemType, shape: [s[0], out, ...spatial] }];
    }
    case 'GlobalAveragePool':
    case 'GlobalMaxPool':
    case 'GlobalLpPool':
      return [{ elemType: first.elemType, shape: [s[0], s[1], ...s.slice(2).map(() => 1)] }];
    case 'Flatten': {
      const at = axis(int('axis', 1));
      return [{ elemType: first.elemType, shape: [product(s.slice(0, at)), product(s.slice(at))] }];
    }
    case 'Gemm': {
      const b = shapeOf(inputs[1]);
      if (!b || rank !== 2 || b.length !== 2) return [];
      return [{ elemType: first.elemType, shape: [int('transA', 0) ? s[1] : s[0], int('transB', 0) ? b[0] : b[1]] }];
    }
    case 'MatMul': {
      const b = shapeOf(inputs[1]);
      if (!b || rank === 0 || b.length === 0) return [];
      const left = rank === 1 ? [1, s[0]] : s;
      const right = b.length === 1 ? [b[0], 1] : b;
      const batch = broadcast(left.slice(0, -2), right.slice(0, -2));
      if (!batch) return [];
      const shape = [...batch, ...(rank === 1 ? [] : [left[left.length - 2]]), ...(b.length === 1 ? [] : [right[right.length - 1]])];
      return [{ elemType: first.elemType, shape }];
    }
    case 'Transpose': {
      const perm = list('perm') ?? s.map((_, i) => rank - 1 - i);
      return [{ elemType: first.elemType, shape: perm.map((p) => s[p]) }];
    }
    case 'Reshape': {
      const target = ints(proto.input?.[1]);
      if (!target) return rankOnly(first.elemType, shapeOf(inputs[1])?.[0]);
      const zero = int('allowzero', 0) === 0;
      const shape: Dim[] = target.map((d, i) => (d === 0 && zero ? s[i] : d === -1 ? undefined : d));
      const unknown = target.indexOf(-1);
      if (unknown >= 0) {
        // the elements over the other dimensions; a named dimension on both sides cancels out ([batch] → [0, -1])
        const others = shape.filter((_, i) => i !== unknown);
        const named = others.filter((d): d is string => typeof d === 'string');
        const left = [...s];
        const cancelled = named.every((name) => {
          const at = left.indexOf(name);
          if (at >= 0) left.splice(at, 1);
          return at >= 0;
        });
        const total = cancelled ? product(left) : undefined;
        const known = product(others.filter((d) => typeof d !== 'string'));
        shape[unknown] = typeof total === 'number' && typeof known === 'number' && known > 0 ? total / known : undefined;
      }
      return [{ elemType: first.elemType, shape }];
    }
    case 'Unsqueeze': {
      const axes = list('axes') ?? ints(proto.input?.[1]);
      if (!axes) return [];
      const outRank = rank + axes.length;
      const at = new Set(axes.map((a) => (a < 0 ? a + outRank : a)));
      const shape: Dim[] = [];
      let k = 0;
      for (let i = 0; i < outRank; i++) shape.push(at.has(i) ? 1 : s[k++]);
      return [{ elemType: first.elemType, shape }];
    }
    case 'Squeeze': {
      const axes = list('axes') ?? ints(proto.input?.[1]);
      const drop = axes ? new Set(axes.map(axis)) : new Set(s.flatMap((d, i) => (d === 1 ? [i] : [])));
      if (!axes && s.some((d) => typeof d !== 'number')) return [];
      return [{ elemType: first.elemType, shape: s.filter((_, i) => !drop.has(i)) }];
    }
    case 'Concat': {
      if (inputs.some((t) => !t?.shape || t.shape.length !== rank)) return [];
      const at = axis(int('axis', 0));
      const shape = s.map((d, i) => (i === at ? sum(inputs.map((t) => t!.shape![i])) : d));
      return [{ elemType: first.elemType, shape }];
    }
    case 'Shape': {
      const start = attribute(proto, 'start')?.i ?? 0;
      const end = attribute(proto, 'end')?.i ?? rank;
      const clamp = (v: number): number => Math.min(rank, Math.max(0, v < 0 ? v + rank : v));
      return [{ elemType: INT64, shape: [Math.max(0, clamp(end) - clamp(start))] }];
    }
    case 'Pad': {
      const pads = ints(proto.input?.[1]) ?? list('pads');
      const axes = ints(proto.input?.[3]) ?? s.map((_, i) => i);
      if (!pads) return [{ elemType: first.elemType, shape: s.map(() => undefined) }];
      const padded = new Map(axes.map((a, k) => [axis(a), pads[k]! + pads[k + axes.length]!]));
      return [{ elemType: first.elemType, shape: s.map((d, i) => (typeof d === 'number' ? d + (padded.get(i) ?? 0) : d)) }];
    }
    case 'Resize':
    case 'Upsample': {
      const scales = op === 'Upsample' ? ints(proto.input?.[1]) ?? attribute(proto, 'scales')?.floats : ints(proto.input?.[2]);
      const sizes = op === 'Resize' ? ints(proto.input?.[3]) : undefined;
      if (sizes && sizes.length === rank) return [{ elemType: first.elemType, shape: sizes }];
      if (scales && scales.length === rank) return [{ elemType: first.elemType, shape: s.map((d, i) => (typeof d === 'number' ? Math.floor(d * scales[i]!) : scales[i] === 1 ? d : undefined)) }];
      return [{ elemType: first.elemType, shape: s.map(() => undefined) }];
    }
    case 'Slice': {
      const starts = ints(proto.input?.[1]);
      const ends = ints(proto.input?.[2]);
      const axes = ints(proto.input?.[3]) ?? starts?.map((_, i) => i);
      const steps = ints(proto.input?.[4]) ?? starts?.map(() => 1);
      if (!starts || !ends || !axes || !steps) return [{ elemType: first.elemType, shape: s.map(() => undefined) }];
      const shape: Dim[] = [...s];
      axes.forEach((a, k) => {
        const i = axis(a);
        const d = s[i];
        shape[i] = typeof d === 'number' ? sliced(d, starts[k]!, ends[k]!, steps[k]!) : undefined;
      });
      return [{ elemType: first.elemType, shape }];
    }
    case 'Expand': {
      const length = shapeOf(inputs[1])?.[0];
      // unknown target values of a known count still keep the input's dimensions other than 1
      const target = ints(proto.input?.[1]) ?? (typeof length === 'number' ? Array.from({ length }, () => undefined) : undefined);
      if (!target) return [];
      const shape = broadcast(s, target);
      return shape ? [{ elemType: first.elemType, shape }] : [];
    }
    case 'Split': {
      const at = axis(int('axis', 0));
      const outputs = (proto.output ?? []).length;
      const sizes = ints(proto.input?.[1]) ?? list('split');
      const d = s[at];
      const each = sizes ?? (typeof d === 'number' && d % outputs === 0 ? Array.from({ length: outputs }, () => d / outputs) : undefined);
      return Array.from({ length: outputs }, (_, k) => ({ elemType: first.elemType, shape: s.map((x, i) => (i === at ? each?.[k] : x)) }));
    }
    case 'GatherElements':
      return inputs[1]?.shape ? [{ elemType: first.elemType, shape: inputs[1].shape }] : [];
    case 'ScatterElements':
    case 'ScatterND':
      return [first];
    case 'Gather': {
      const indices = shapeOf(inputs[1]);
      if (!indices) return [];
      const at = axis(int('axis', 0));
      return [{ elemType: first.elemType, shape: [...s.slice(0, at), ...indices, ...s.slice(at + 1)] }];
    }
  }
  if (REDUCE.has(op)) {
    const axes = list('axes') ?? ints(proto.input?.[1]);
    const keep = int('keepdims', 1) === 1;
    const all = axes === undefined || axes.length === 0;
    if (all && int('noop_with_empty_axes', 0) === 1) return [first];
    const reduced = new Set(all ? s.map((_, i) => i) : axes.map(axis));
    const shape = keep ? s.map((d, i) => (reduced.has(i) ? 1 : d)) : s.filter((_, i) => !reduced.has(i));
    return [{ elemType: first.elemType, shape }];
  }
  return [];
}

/** A tensor of `rank` unknown dimensions, when the rank is a number (a shape input's length); else no type. */
function rankOnly(elemType: number, rank: Dim): TensorType[] {
  return typeof rank === 'number' ? [{ elemType, shape: Array.from({ length: rank }, () => undefined) }] : [];
}

/** The length of `start:end:step` of a dimension of `d`, as Python and ONNX's Slice count it. */
function sliced(d: number, start: number, end: number, step: number): number {
  const clamp = (v: number, low: number, high: number): number => Math.min(high, Math.max(low, v < 0 ? v + d : v));
  const first = step > 0 ? clamp(start, 0, d) : clamp(start, -1, d - 1);
  const last = step > 0 ? clamp(end, 0, d) : clamp(end, -1, d - 1);
  return Math.max(0, Math.ceil((last - first) / step));
}

/** numpy broadcasting of two shapes; undefined when they cannot be broadcast together. */
function broadcast(a: Shape, b: Shape): Dim[] | undefined {
  const rank = Math.max(a.length, b.length);
  const out: Dim[] = [];
  for (let i = 0; i < rank; i++) {
    const x = i < rank - a.length ? 1 : a[i - (rank - a.length)];
    const y = i < rank - b.length ? 1 : b[i - (rank - b.length)];
    if (x === 1) out.push(y);
    else if (y === 1 || x === y) out.push(x);
    else if (typeof x === 'number' && typeof y === 'number') return undefined;
    else out.push(typeof x === 'number' ? x : typeof y === 'number' ? y : undefined);
  }
  return out;
}

function product(dims: Shape): Dim {
  // one named dimension alone is itself (Flatten of [batch, 2048, 1, 1] is [batch, 2048])
  if (dims.length === 1) return dims[0];
  let n = 1;
  for (const d of dims) {
    if (typeof d !== 'number') return undefined;
    n *= d;
  }
  return n;
}

function sum(dims: Shape): Dim {
  let n = 0;
  for (const d of dims) {
    if (typeof d !== 'number') return undefined;
    n += d;
  }
  return n;
}

/** Spatial sizes after a convolution or pooling window, with its strides, dilations and pads (explicit or auto_pad). */
function pooled(spatial: Shape, kernel: readonly number[], proto: NodeProto, ceil: boolean): Dim[] {
  const strides = attribute(proto, 'strides')?.ints ?? kernel.map(() => 1);
  const dilations = attribute(proto, 'dilations')?.ints ?? kernel.map(() => 1);
  const autoPad = new TextDecoder().decode(attribute(proto, 'auto_pad')?.s ?? new Uint8Array());
  const pads = attribute(proto, 'pads')?.ints ?? kernel.map(() => 0).concat(kernel.map(() => 0));
  return spatial.map((d, i) => {
    if (typeof d !== 'number') return undefined;
    const stride = strides[i]!;
    if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') return Math.ceil(d / stride);
    const window = (kernel[i]! - 1) * dilations[i]! + 1;
    const padded = autoPad === 'VALID' ? d : d + pads[i]! + pads[i + kernel.length]!;
    const steps = (padded - window) / stride;
    let out = (ceil ? Math.ceil(steps) : Math.floor(steps)) + 1;
    // a last window starting in the end padding is dropped (onnx and torch agree)
    if (ceil && (out - 1) * stride >= d + (autoPad === 'VALID' ? 0 : pads[i]!)) out--;
    return out;
  });
}
