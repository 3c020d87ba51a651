import type { InferenceSession } from 'onnxruntime-node';
import { ModsurgError } from '../cli/errors.js';
import { elemTypeByName, elemTypeInfo } from '../graph/elem-type.js';
import { tensorTypeOf, type ValueInfo } from '../graph/graph.js';
import { readGraph } from '../graph/model.js';
import { readFields } from '../graph/wire.js';
import { isElementType, type ElementType } from './dtypes.js';
import { readBinaryInput } from './tensor-files.js';

/** A model's declared inputs and outputs: what must be fed, and what comes back. */

/** A dimension: a size, a symbolic name (`batch`), or '' for an unnamed unknown one. */
export type Dim = number | string;

export interface DeclaredTensor {
  readonly name: string;
  readonly dtype: ElementType;
  /** Undefined when the model declares no shape (any rank is accepted). */
  readonly shape: readonly Dim[] | undefined;
  /**
   * The model declares bfloat16 here, which onnxruntime-node cannot carry: `dtype` is float32, and a
   * copy of the model with Cast nodes converts at the boundary (see bfloat16-cast.ts).
   */
  readonly bfloat16?: true;
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
  const graphField = readFields(model).findLast((f) => f.field === 7 && f.wireType === 2); // ModelProto.graph
  if (graphField === undefined) return { inputs: [], outputs: [] };
  const graph = readGraph(graphField.payload);
  const initializers = new Set(graph.initializers.map((i) => i.proto.name ?? ''));
  return { inputs: graph.inputs.map(graphValue).filter((input) => !initializers.has(input.name)), outputs: graph.outputs.map(graphValue) };
}

function graphValue(value: ValueInfo): GraphValue {
  const type = tensorTypeOf(value.proto);
  return { name: value.proto.name ?? '', elemType: type?.elemType, shape: type?.shape?.map((d) => d ?? '') };
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
      if (!meta.isTensor) throw new ModsurgError(`${role} '${name}' is not a tensor (a sequence or map); modsurg runs models with tensor ${role}s only`, modelPath);
      if (!isElementType(meta.type)) throw new ModsurgError(`${role} '${name}' is ${meta.type}; modsurg ${role === 'input' ? 'feeds' : 'reads'} numeric and bool tensors only`, modelPath);
      let shape: readonly Dim[] | undefined = meta.shape;
      if (shape.length === 0) shape = (role === 'input' ? graphSignature().inputs : graphSignature().outputs).find((v) => v.name === name)?.shape;
      return { name, dtype: meta.type, shape };
    });
  return {
    inputs: convert('input', session.inputNames, session.inputMetadata),
    outputs: convert('output', session.outputNames, session.outputMetadata),
  };
}

function declaredFromGraph(role: string, value: GraphValue, modelPath: string): DeclaredTensor {
  if (value.elemType === undefined) throw new ModsurgError(`${role} '${value.name}' is not a tensor; modsurg runs models with tensor ${role}s only`, modelPath);
  const dtype = onnxTypeName(value.elemType);
  if (!isElementType(dtype)) throw new ModsurgError(`${role} '${value.name}' is ${dtype}, which onnxruntime-node cannot carry`, modelPath);
  return { name: value.name, dtype, shape: value.shape };
}

/**
 * Explains a model that onnxruntime-node refuses to load because of an input or output type it has no
 * JavaScript tensor for ("Unsupported data type: 16" is bfloat16): names each such input and output.
 */
export function explainUnsupportedTypes(modelPath: string, typeCode: number): ModsurgError {
  let graph: GraphSignature;
  try {
    graph = readGraphSignature(readBinaryInput(modelPath));
  } catch {
    return new ModsurgError(`the model has an input or output of type ${onnxTypeName(typeCode)}, which onnxruntime-node has no tensor type for`, modelPath);
  }
  const offenders = [
    ...graph.inputs.filter((v) => v.elemType === typeCode).map((v) => `input '${v.name}'`),
    ...graph.outputs.filter((v) => v.elemType === typeCode).map((v) => `output '${v.name}'`),
  ];
  const what = offenders.length > 0 ? offenders.join(', ') : 'an input or output';
  const type = onnxTypeName(typeCode);
  const fix = type === 'bfloat16' ? '; put Cast nodes at the model boundary so it takes and returns float32 (bfloat16 inside the graph is fine)' : '';
  return new ModsurgError(`${what} ${offenders.length > 1 ? 'are' : 'is'} ${type}, which onnxruntime-node cannot feed or fetch (it has no ${type} tensor type)${fix}`, modelPath);
}
