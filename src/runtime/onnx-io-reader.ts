import { fieldsOf, utf8, WIRE_BYTES, WIRE_VARINT } from './protowire.js';

/**
 * Reads only the declared graph inputs and outputs of an ONNX model (ModelProto.graph.input/output
 * and the initializer names), straight from the wire format. onnxruntime-node reports the same through
 * `session.inputMetadata`, but it cannot load a model whose inputs it has no type for (bfloat16), and
 * that is exactly when we need the names to explain why.
 *
 * Field numbers from onnx.proto: ModelProto.graph = 7; GraphProto.initializer = 5, input = 11,
 * output = 12; ValueInfoProto.name = 1, type = 2; TypeProto.tensor_type = 1; TypeProto.Tensor
 * elem_type = 1, shape = 2; TensorShapeProto.dim = 1; Dimension dim_value = 1, dim_param = 2;
 * TensorProto.name = 8.
 */

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

export function readGraphSignature(model: Uint8Array): GraphSignature {
  let graph: Uint8Array | undefined;
  for (const f of fieldsOf(model)) if (f.field === 7 && f.wire === WIRE_BYTES) graph = f.bytes;
  if (graph === undefined) return { inputs: [], outputs: [] };
  const inputs: GraphValue[] = [];
  const outputs: GraphValue[] = [];
  const initializers = new Set<string>();
  for (const f of fieldsOf(graph)) {
    if (f.wire !== WIRE_BYTES) continue;
    if (f.field === 11) inputs.push(readValueInfo(f.bytes));
    else if (f.field === 12) outputs.push(readValueInfo(f.bytes));
    else if (f.field === 5) initializers.add(readTensorName(f.bytes));
  }
  return { inputs: inputs.filter((input) => !initializers.has(input.name)), outputs };
}

function readValueInfo(bytes: Uint8Array): GraphValue {
  let name = '';
  let elemType: number | undefined;
  let shape: (number | string)[] | undefined;
  for (const f of fieldsOf(bytes)) {
    if (f.field === 1 && f.wire === WIRE_BYTES) name = utf8(f.bytes);
    if (f.field !== 2 || f.wire !== WIRE_BYTES) continue;
    for (const t of fieldsOf(f.bytes)) {
      if (t.field !== 1 || t.wire !== WIRE_BYTES) continue;
      for (const tensor of fieldsOf(t.bytes)) {
        if (tensor.field === 1 && tensor.wire === WIRE_VARINT) elemType = tensor.value;
        if (tensor.field === 2 && tensor.wire === WIRE_BYTES) shape = readShape(tensor.bytes);
      }
    }
  }
  return { name, elemType, shape };
}

function readShape(bytes: Uint8Array): (number | string)[] {
  const dims: (number | string)[] = [];
  for (const f of fieldsOf(bytes)) {
    if (f.field !== 1 || f.wire !== WIRE_BYTES) continue;
    let dim: number | string = '';
    for (const d of fieldsOf(f.bytes)) {
      if (d.field === 1 && d.wire === WIRE_VARINT) dim = d.value;
      if (d.field === 2 && d.wire === WIRE_BYTES) dim = utf8(d.bytes);
    }
    dims.push(dim);
  }
  return dims;
}

function readTensorName(bytes: Uint8Array): string {
  for (const f of fieldsOf(bytes)) if (f.field === 8 && f.wire === WIRE_BYTES) return utf8(f.bytes);
  return '';
}
