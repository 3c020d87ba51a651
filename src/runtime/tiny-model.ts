import { ONNX_TYPE_OF } from './onnx-types.js';
import type { ElementType } from './dtypes.js';
import { WireWriter } from './protowire.js';

/**
 * Encodes a small ONNX model in memory: graph inputs/outputs, nodes with int/float attributes, and
 * float32/int64 initializers. `doctor` uses it to try each execution provider without a model file;
 * tests use it for models the fixtures do not cover (bfloat16 inputs, integer inputs, twins).
 */

export interface TinyValue {
  readonly name: string;
  /** An element type, or a raw TensorProto.DataType number (16 = bfloat16) for types modsurg cannot feed. */
  readonly dtype: ElementType | number;
  readonly shape: readonly (number | string)[];
}

export type TinyAttribute =
  | { readonly kind: 'int'; readonly value: number }
  | { readonly kind: 'float'; readonly value: number }
  | { readonly kind: 'ints'; readonly values: readonly number[] };

export interface TinyNode {
  readonly op: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly name?: string;
  readonly attributes?: Readonly<Record<string, TinyAttribute>>;
}

export interface TinyInitializer {
  readonly name: string;
  readonly dtype: 'float32' | 'int64';
  readonly dims: readonly number[];
  readonly values: readonly number[];
}

export interface TinyModel {
  readonly inputs: readonly TinyValue[];
  readonly outputs: readonly TinyValue[];
  readonly nodes: readonly TinyNode[];
  readonly initializers?: readonly TinyInitializer[];
  readonly opset?: number;
}

export function encodeTinyModel(model: TinyModel): Uint8Array {
  const graph = new WireWriter();
  model.nodes.forEach((node, i) => graph.message(1, encodeNode(node, i)));
  graph.string(2, 'modsurg_tiny');
  for (const init of model.initializers ?? []) graph.message(5, encodeInitializer(init));
  for (const input of model.inputs) graph.message(11, encodeValueInfo(input));
  for (const output of model.outputs) graph.message(12, encodeValueInfo(output));
  return new WireWriter()
    .varint(1, 8) // ir_version 8: accepted by every onnxruntime since 1.10
    .string(2, 'modsurg')
    .message(7, graph)
    .message(8, new WireWriter().string(1, '').varint(2, model.opset ?? 17))
    .finish();
}

/** The model `doctor` loads on each provider: y = x + x for a float32 [1, 4] input. */
export function providerProbeModel(): Uint8Array {
  return encodeTinyModel({
    inputs: [{ name: 'x', dtype: 'float32', shape: [1, 4] }],
    outputs: [{ name: 'y', dtype: 'float32', shape: [1, 4] }],
    nodes: [{ op: 'Add', inputs: ['x', 'x'], outputs: ['y'] }],
  });
}

function elemTypeCode(dtype: ElementType | number): number {
  return typeof dtype === 'number' ? dtype : ONNX_TYPE_OF[dtype];
}

function encodeValueInfo(value: TinyValue): WireWriter {
  const shape = new WireWriter();
  for (const dim of value.shape) {
    shape.message(1, typeof dim === 'number' ? new WireWriter().varint(1, dim) : new WireWriter().string(2, dim));
  }
  const tensorType = new WireWriter().varint(1, elemTypeCode(value.dtype)).message(2, shape);
  return new WireWriter().string(1, value.name).message(2, new WireWriter().message(1, tensorType));
}

function encodeNode(node: TinyNode, index: number): WireWriter {
  const out = new WireWriter();
  for (const input of node.inputs) out.string(1, input);
  for (const output of node.outputs) out.string(2, output);
  out.string(3, node.name ?? `${node.op}_${index}`);
  out.string(4, node.op);
  for (const [name, attribute] of Object.entries(node.attributes ?? {})) {
    const a = new WireWriter().string(1, name);
    // AttributeProto: f = 2, i = 3, ints = 8, type = 20 (FLOAT 1, INT 2, INTS 7)
    if (attribute.kind === 'float') a.float(2, attribute.value).varint(20, 1);
    else if (attribute.kind === 'int') a.varint(3, attribute.value).varint(20, 2);
    else {
      for (const v of attribute.values) a.varint(8, v);
      a.varint(20, 7);
    }
    out.message(5, a);
  }
  return out;
}

function encodeInitializer(init: TinyInitializer): WireWriter {
  const raw =
    init.dtype === 'float32'
      ? new Uint8Array(Float32Array.from(init.values).buffer)
      : new Uint8Array(BigInt64Array.from(init.values.map((v) => BigInt(v))).buffer);
  const out = new WireWriter();
  for (const d of init.dims) out.varint(1, d);
  return out.varint(2, ONNX_TYPE_OF[init.dtype]).string(8, init.name).bytes(9, raw);
}
