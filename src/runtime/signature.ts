import type { InferenceSession } from 'onnxruntime-node';
import { ModsurgError } from '../cli/errors.js';
import { isElementType, type ElementType } from './dtypes.js';
import { onnxTypeName } from './onnx-types.js';
import { readGraphSignature, type GraphSignature, type GraphValue } from './onnx-io-reader.js';
import { readBinaryInput } from './tensor-files.js';

/** A model's declared inputs and outputs: what must be fed, and what comes back. */

/** A dimension: a size, a symbolic name (`batch`), or '' for an unnamed unknown one. */
export type Dim = number | string;

export interface DeclaredTensor {
  readonly name: string;
  readonly dtype: ElementType;
  /** Undefined when the model declares no shape (any rank is accepted). */
  readonly shape: readonly Dim[] | undefined;
}

export interface ModelSignature {
  readonly inputs: readonly DeclaredTensor[];
  readonly outputs: readonly DeclaredTensor[];
}

/**
 * Takes the signature from onnxruntime's session metadata. Two gaps are filled from the model file:
 * metadata that is missing (onnxruntime-node before it had `inputMetadata`), and empty shapes, which
 * mean either a scalar or "no shape declared".
 */
export function signatureOf(session: InferenceSession, modelPath: string): ModelSignature {
  let graph: GraphSignature | undefined;
  const graphSignature = (): GraphSignature => (graph ??= readGraphSignature(readBinaryInput(modelPath)));
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
