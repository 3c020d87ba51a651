import { elemTypeByName } from '../graph/elem-type.js';
import type { AttributeProto, NodeProto, TensorProto, ValueInfoProto } from '../graph/graph.js';
import { onnxTypes } from '../graph/onnx-schema.js';
import type { ElementType } from './dtypes.js';

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
  const graph = {
    node: model.nodes.map(nodeProto),
    name: 'modsurg_tiny',
    initializer: (model.initializers ?? []).map(initializerProto),
    input: model.inputs.map(valueInfo),
    output: model.outputs.map(valueInfo),
  };
  return onnxTypes.ModelProto.encode(
    onnxTypes.ModelProto.fromObject({
      ir_version: 8, // accepted by every onnxruntime since 1.10
      producer_name: 'modsurg',
      graph,
      opset_import: [{ domain: '', version: model.opset ?? 17 }],
    }),
  ).finish();
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
  return typeof dtype === 'number' ? dtype : elemTypeByName(dtype)!.code;
}

function valueInfo(value: TinyValue): ValueInfoProto {
  const dim = value.shape.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d }));
  return { name: value.name, type: { tensor_type: { elem_type: elemTypeCode(value.dtype), shape: { dim } } } };
}

const ATTRIBUTE_TYPE = { float: 1, int: 2, ints: 7 } as const; // AttributeProto.AttributeType

function nodeProto(node: TinyNode, index: number): NodeProto {
  const attribute = Object.entries(node.attributes ?? {}).map(([name, a]): AttributeProto => {
    const value = a.kind === 'float' ? { f: a.value } : a.kind === 'int' ? { i: a.value } : { ints: [...a.values] };
    return { name, ...value, type: ATTRIBUTE_TYPE[a.kind] };
  });
  return { input: [...node.inputs], output: [...node.outputs], name: node.name ?? `${node.op}_${index}`, op_type: node.op, attribute };
}

function initializerProto(init: TinyInitializer): TensorProto {
  const raw =
    init.dtype === 'float32'
      ? new Uint8Array(Float32Array.from(init.values).buffer)
      : new Uint8Array(BigInt64Array.from(init.values.map((v) => BigInt(v))).buffer);
  return { dims: [...init.dims], data_type: elemTypeByName(init.dtype)!.code, name: init.name, raw_data: raw };
}
