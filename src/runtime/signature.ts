import type { InferenceSession } from 'onnxruntime-node';
import { ModsurgError } from '../errors.js';
import { elemTypeByName, elemTypeInfo } from '../graph/elem-type.js';
import { tensorTypeOf, type TypeProto, type ValueInfo } from '../graph/graph.js';
import { readModelGraph } from '../graph/model.js';
import { BufferSource } from '../io/byte-source.js';
import { isHostDtype, type HostDtype } from './dtypes.js';
import { readBinaryInput } from './tensor-files.js';

/** A model's declared inputs and outputs: what must be fed, and what comes back. */

/** A dimension: a size, a symbolic name (`batch`), or '' for an unnamed unknown one. */
export type Dim = number | string;

export interface DeclaredTensor {
  readonly name: string;
  readonly dtype: HostDtype;
  /** Undefined when the model declares no shape (any rank is accepted). */
  readonly shape: readonly Dim[] | undefined;
  /**
   * The model declares this type here (bfloat16, float8e4m3fn, …), which onnxruntime-node cannot carry:
   * `dtype` is float32, and a copy of the model with Cast nodes converts at the boundary (boundary-cast.ts).
   */
  readonly castFrom?: string;
}

export interface ModelSignature {
  readonly inputs: readonly DeclaredTensor[];
  readonly outputs: readonly DeclaredTensor[];
}

/** A graph input or output as the model file declares it. */
export interface GraphValue {
  readonly name: string;
  /** TensorProto.DataType number; undefined for values that are not tensors (sequences, maps). */
  readonly elemType: number | undefined;
  /** What a value that is not a tensor is: `a sequence of float32 tensors`, `an optional float32 tensor`. */
  readonly kind?: string;
  /** Dimensions: a size, a symbolic name, or '' for an unnamed unknown dimension. Undefined if no shape is declared. */
  readonly shape: readonly (number | string)[] | undefined;
}

export interface GraphSignature {
  /** Inputs the caller must feed (initializers listed as inputs, as IR < 4 models do, are left out). */
  readonly inputs: readonly GraphValue[];
  readonly outputs: readonly GraphValue[];
}

/**
 * Reads the declared graph inputs and outputs of an ONNX model from the file. onnxruntime-node reports
 * the same through `session.inputMetadata`, but it cannot load a model whose inputs it has no type
 * for (bfloat16), and that is exactly when we need the names to explain why. A model without a graph
 * has no inputs or outputs.
 */
export function readGraphSignature(model: Uint8Array): GraphSignature {
  const graph = readModelGraph(new BufferSource('model', Buffer.from(model.buffer, model.byteOffset, model.byteLength)));
  if (graph === undefined) return { inputs: [], outputs: [] };
  const initializers = new Set(graph.initializers.map((i) => i.proto.name ?? ''));
  return { inputs: graph.inputs.map(graphValue).filter((input) => !initializers.has(input.name)), outputs: graph.outputs.map(graphValue) };
}

function graphValue(value: ValueInfo): GraphValue {
  const type = tensorTypeOf(value.proto);
  const kind = type === undefined ? describeType(value.proto.type) : undefined;
  return { name: value.proto.name ?? '', elemType: type?.elemType, shape: type?.shape?.map((d) => d ?? ''), ...(kind ? { kind } : {}) };
}

/** `a sequence of float32 tensors`, `an optional sequence of int64 tensors`, `a map from string to float32`. */
function describeType(type: TypeProto | undefined): string {
  const inner = (t: TypeProto | undefined, plural: boolean): string => {
    if (t === undefined) return 'values';
    const record = t as Record<string, { elem_type?: TypeProto | number; key_type?: number; value_type?: TypeProto }>;
    if (t.tensor_type) return `${onnxTypeName(t.tensor_type.elem_type ?? 0)} tensor${plural ? 's' : ''}`;
    if (record.sequence_type) return `${plural ? 'sequences' : 'a sequence'} of ${inner(record.sequence_type.elem_type as TypeProto, true)}`;
    if (record.optional_type) return `${plural ? 'optional' : 'an optional'} ${inner(record.optional_type.elem_type as TypeProto, plural)}`;
    if (record.map_type) return `${plural ? 'maps' : 'a map'} from ${onnxTypeName(record.map_type.key_type ?? 0)} to ${inner(record.map_type.value_type, true)}`;
    if (record.sparse_tensor_type) return `${plural ? 'sparse tensors' : 'a sparse tensor'}`;
    return plural ? 'values of another kind' : 'a value of another kind';
  };
  return inner(type, false);
}

/**
 * A TensorProto.DataType's name in messages: elem-type.ts's name, except for the float8/float4 types,
 * which keep onnx.proto's enum spelling (FLOAT8E4M3FN as `float8e4m3fn`, not torch's `float8_e4m3fn`).
 */
const ONNX_SPELLING: Readonly<Record<number, string>> = {
  17: 'float8e4m3fn',
  18: 'float8e4m3fnuz',
  19: 'float8e5m2',
  20: 'float8e5m2fnuz',
  23: 'float4e2m1',
  24: 'float8e8m0',
};

export function onnxTypeName(code: number): string {
  const name = elemTypeInfo(code).name;
  return ONNX_SPELLING[code] ?? (elemTypeByName(name)?.code === code ? name : `data type ${code}`);
}

/**
 * Takes the signature from onnxruntime's session metadata. Two gaps are filled from the model file:
 * metadata that is missing (onnxruntime-node before it had `inputMetadata`), and empty shapes, which
 * mean either a scalar or "no shape declared". `modelBytes` is the model the session was made from,
 * when that is an in-memory copy rather than the file.
 */
export function signatureOf(session: InferenceSession, modelPath: string, modelBytes?: Uint8Array): ModelSignature {
  let graph: GraphSignature | undefined;
  const graphSignature = (): GraphSignature => (graph ??= readGraphSignature(modelBytes ?? readBinaryInput(modelPath)));
  const convert = (role: 'input' | 'output', names: readonly string[], metadata: readonly InferenceSession.ValueMetadata[] | undefined): DeclaredTensor[] =>
    names.map((name, i) => {
      const meta = metadata?.[i];
      if (meta === undefined) {
        const fromGraph = (role === 'input' ? graphSignature().inputs : graphSignature().outputs).find((v) => v.name === name);
        if (fromGraph === undefined) throw new ModsurgError(`${role} '${name}' has no declared type`, modelPath);
        return declaredFromGraph(role, fromGraph, modelPath);
      }
      if (!meta.isTensor) throw notTensor(role, name, graphSignature, modelPath);
      if (!isHostDtype(meta.type)) throw new ModsurgError(`${role} '${name}' is ${meta.type}; modsurg ${role === 'input' ? 'feeds' : 'reads'} numeric, bool and string tensors only`, modelPath);
      let shape: readonly Dim[] | undefined = meta.shape;
      if (shape.length === 0) shape = (role === 'input' ? graphSignature().inputs : graphSignature().outputs).find((v) => v.name === name)?.shape;
      return { name, dtype: meta.type, shape };
    });
  return {
    inputs: convert('input', session.inputNames, session.inputMetadata),
    outputs: convert('output', session.outputNames, session.outputMetadata),
  };
}

/** A sequence, map or optional input or output: what it is, and that the Node binding cannot carry it. */
function notTensor(role: 'input' | 'output', name: string, graph: () => GraphSignature, modelPath: string): ModsurgError {
  const value = (role === 'input' ? graph().inputs : graph().outputs).find((v) => v.name === name);
  const kind = value?.kind ?? 'a sequence, map or optional';
  return new ModsurgError(
    `${role} '${name}' is ${kind}, not a tensor: onnxruntime-node can only ${role === 'input' ? 'feed' : 'fetch'} tensors, so modsurg cannot run this model`,
    modelPath,
  );
}

function declaredFromGraph(role: 'input' | 'output', value: GraphValue, modelPath: string): DeclaredTensor {
  if (value.elemType === undefined) throw notTensor(role, value.name, () => ({ inputs: [value], outputs: [value] }), modelPath);
  const dtype = onnxTypeName(value.elemType);
  if (!isHostDtype(dtype)) throw new ModsurgError(`${role} '${value.name}' is ${dtype}, which onnxruntime-node cannot carry`, modelPath);
  return { name: value.name, dtype, shape: value.shape };
}

/** TensorProto.DataType codes onnxruntime-node has JavaScript tensors for. */
const NODE_TENSOR_TYPES: ReadonlySet<number> = new Set([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 21, 22]);

/**
 * Explains a model that onnxruntime-node refuses to load because of an input or output type it has no
 * JavaScript tensor for: names each such input and output with its ONNX type. The number in
 * onnxruntime's "Unsupported data type: N" is its own enum, which numbers types differently from
 * ONNX's from 24 on (int2, uint2, float8e8m0): the types are read from the model instead.
 */
export function explainUnsupportedTypes(modelPath: string, ortTypeCode: number): ModsurgError {
  let graph: GraphSignature;
  try {
    graph = readGraphSignature(readBinaryInput(modelPath));
  } catch {
    return new ModsurgError(`the model has an input or output of a type onnxruntime-node has no tensor type for (its code ${ortTypeCode})`, modelPath);
  }
  const offenders = [
    ...graph.inputs.map((v) => ({ v, role: 'input' })),
    ...graph.outputs.map((v) => ({ v, role: 'output' })),
  ].filter(({ v }) => v.elemType !== undefined && !NODE_TENSOR_TYPES.has(v.elemType));
  if (offenders.length === 0) return new ModsurgError(`the model has an input or output of a type onnxruntime-node has no tensor type for (its code ${ortTypeCode})`, modelPath);
  const types = [...new Set(offenders.map(({ v }) => onnxTypeName(v.elemType!)))];
  const what = offenders.map(({ v, role }) => `${role} '${v.name}' (${onnxTypeName(v.elemType!)})`).join(', ');
  const fix = types.every((t) => t === 'bfloat16') ? '; put Cast nodes at the model boundary so it takes and returns float32 (bfloat16 inside the graph is fine)' : '';
  return new ModsurgError(`${what}: onnxruntime-node has no ${types.join(' or ')} tensor type to feed or fetch ${offenders.length > 1 ? 'them' : 'it'} with${fix}`, modelPath);
}
