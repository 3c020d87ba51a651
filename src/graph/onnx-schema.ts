import { createRequire } from 'node:module';
import type protobuf from 'protobufjs';
import { FormatError } from '../errors.js';

/**
 * The ONNX IR as protobuf messages (onnx.proto3, IR version 11 / onnx 1.20), written from the ONNX
 * specification: every field, including node metadata_props and device configurations, functions,
 * sparse initializers, and the float8/float4/int4/int2 element types. The npm `onnx-proto` package is
 * IR 8 and drops newer fields, so the schema lives here.
 */
export const ONNX_PROTO = `
syntax = "proto3";
package onnx;

message AttributeProto {
  enum AttributeType {
    UNDEFINED = 0; FLOAT = 1; INT = 2; STRING = 3; TENSOR = 4; GRAPH = 5; SPARSE_TENSOR = 11; TYPE_PROTO = 13;
    FLOATS = 6; INTS = 7; STRINGS = 8; TENSORS = 9; GRAPHS = 10; SPARSE_TENSORS = 12; TYPE_PROTOS = 14;
  }
  string name = 1;
  string ref_attr_name = 21;
  string doc_string = 13;
  AttributeType type = 20;
  float f = 2;
  int64 i = 3;
  bytes s = 4;
  TensorProto t = 5;
  GraphProto g = 6;
  SparseTensorProto sparse_tensor = 22;
  TypeProto tp = 14;
  repeated float floats = 7;
  repeated int64 ints = 8;
  repeated bytes strings = 9;
  repeated TensorProto tensors = 10;
  repeated GraphProto graphs = 11;
  repeated SparseTensorProto sparse_tensors = 23;
  repeated TypeProto type_protos = 15;
}

message ValueInfoProto {
  string name = 1;
  TypeProto type = 2;
  string doc_string = 3;
  repeated StringStringEntryProto metadata_props = 4;
}

message NodeProto {
  repeated string input = 1;
  repeated string output = 2;
  string name = 3;
  string op_type = 4;
  string domain = 7;
  string overload = 8;
  repeated AttributeProto attribute = 5;
  string doc_string = 6;
  repeated StringStringEntryProto metadata_props = 9;
  repeated NodeDeviceConfigurationProto device_configurations = 10;
}

message IntIntListEntryProto {
  int64 key = 1;
  repeated int64 value = 2;
}

message NodeDeviceConfigurationProto {
  string configuration_id = 1;
  repeated ShardingSpecProto sharding_spec = 2;
  int32 pipeline_stage = 3;
}

message ShardingSpecProto {
  string tensor_name = 1;
  repeated int64 device = 2;
  repeated IntIntListEntryProto index_to_device_group_map = 3;
  repeated ShardedDimProto sharded_dim = 4;
}

message ShardedDimProto {
  int64 axis = 1;
  repeated SimpleShardedDimProto simple_sharding = 2;
}

message SimpleShardedDimProto {
  oneof dim {
    int64 dim_value = 1;
    string dim_param = 2;
  }
  int64 num_shards = 3;
}

message TrainingInfoProto {
  GraphProto initialization = 1;
  GraphProto algorithm = 2;
  repeated StringStringEntryProto initialization_binding = 3;
  repeated StringStringEntryProto update_binding = 4;
}

message ModelProto {
  int64 ir_version = 1;
  repeated OperatorSetIdProto opset_import = 8;
  string producer_name = 2;
  string producer_version = 3;
  string domain = 4;
  int64 model_version = 5;
  string doc_string = 6;
  GraphProto graph = 7;
  repeated StringStringEntryProto metadata_props = 14;
  repeated TrainingInfoProto training_info = 20;
  repeated FunctionProto functions = 25;
  repeated DeviceConfigurationProto configuration = 26;
}

message DeviceConfigurationProto {
  string name = 1;
  int32 num_devices = 2;
  repeated string device = 3;
}

message StringStringEntryProto {
  string key = 1;
  string value = 2;
}

message TensorAnnotation {
  string tensor_name = 1;
  repeated StringStringEntryProto quant_parameter_tensor_names = 2;
}

message GraphProto {
  repeated NodeProto node = 1;
  string name = 2;
  repeated TensorProto initializer = 5;
  repeated SparseTensorProto sparse_initializer = 15;
  string doc_string = 10;
  repeated ValueInfoProto input = 11;
  repeated ValueInfoProto output = 12;
  repeated ValueInfoProto value_info = 13;
  repeated TensorAnnotation quantization_annotation = 14;
  repeated StringStringEntryProto metadata_props = 16;
}

message TensorProto {
  enum DataType {
    UNDEFINED = 0; FLOAT = 1; UINT8 = 2; INT8 = 3; UINT16 = 4; INT16 = 5; INT32 = 6; INT64 = 7; STRING = 8;
    BOOL = 9; FLOAT16 = 10; DOUBLE = 11; UINT32 = 12; UINT64 = 13; COMPLEX64 = 14; COMPLEX128 = 15;
    BFLOAT16 = 16; FLOAT8E4M3FN = 17; FLOAT8E4M3FNUZ = 18; FLOAT8E5M2 = 19; FLOAT8E5M2FNUZ = 20;
    UINT4 = 21; INT4 = 22; FLOAT4E2M1 = 23; FLOAT8E8M0 = 24; UINT2 = 25; INT2 = 26;
  }
  repeated int64 dims = 1;
  int32 data_type = 2;
  message Segment {
    int64 begin = 1;
    int64 end = 2;
  }
  Segment segment = 3;
  repeated float float_data = 4 [packed = true];
  repeated int32 int32_data = 5 [packed = true];
  repeated bytes string_data = 6;
  repeated int64 int64_data = 7 [packed = true];
  string name = 8;
  string doc_string = 12;
  bytes raw_data = 9;
  repeated StringStringEntryProto external_data = 13;
  enum DataLocation {
    DEFAULT = 0;
    EXTERNAL = 1;
  }
  DataLocation data_location = 14;
  repeated double double_data = 10 [packed = true];
  repeated uint64 uint64_data = 11 [packed = true];
  repeated StringStringEntryProto metadata_props = 16;
}

message SparseTensorProto {
  TensorProto values = 1;
  TensorProto indices = 2;
  repeated int64 dims = 3;
}

message TensorShapeProto {
  message Dimension {
    oneof value {
      int64 dim_value = 1;
      string dim_param = 2;
    }
    string denotation = 3;
  }
  repeated Dimension dim = 1;
}

message TypeProto {
  message Tensor {
    int32 elem_type = 1;
    TensorShapeProto shape = 2;
  }
  message Sequence {
    TypeProto elem_type = 1;
  }
  message Map {
    int32 key_type = 1;
    TypeProto value_type = 2;
  }
  message Optional {
    TypeProto elem_type = 1;
  }
  message SparseTensor {
    int32 elem_type = 1;
    TensorShapeProto shape = 2;
  }
  message Opaque {
    string domain = 1;
    string name = 2;
  }
  oneof value {
    Tensor tensor_type = 1;
    Sequence sequence_type = 4;
    Map map_type = 5;
    Optional optional_type = 9;
    SparseTensor sparse_tensor_type = 8;
    Opaque opaque_type = 7;
  }
  string denotation = 6;
}

message OperatorSetIdProto {
  string domain = 1;
  int64 version = 2;
}

message FunctionProto {
  string name = 1;
  repeated string input = 4;
  repeated string output = 5;
  repeated string attribute = 6;
  repeated AttributeProto attribute_proto = 11;
  repeated NodeProto node = 7;
  string doc_string = 8;
  repeated OperatorSetIdProto opset_import = 9;
  string domain = 10;
  string overload = 13;
  repeated ValueInfoProto value_info = 12;
  repeated StringStringEntryProto metadata_props = 14;
}
`;

const MESSAGES = [
  'ModelProto',
  'GraphProto',
  'NodeProto',
  'ValueInfoProto',
  'TensorProto',
  'AttributeProto',
  'TypeProto',
  'OperatorSetIdProto',
  'StringStringEntryProto',
] as const;

type MessageName = (typeof MESSAGES)[number];

let parsed: Record<MessageName, protobuf.Type> | undefined;

/**
 * protobufjs is loaded and the schema parsed when a message type is first used, so commands that never
 * touch ONNX (a checkpoint's inspect, a rename) do not pay for either at start-up.
 */
function types(): Record<MessageName, protobuf.Type> {
  if (!parsed) {
    const { parse } = createRequire(import.meta.url)('protobufjs') as typeof protobuf;
    const root = parse(ONNX_PROTO, { keepCase: true }).root;
    parsed = Object.fromEntries(MESSAGES.map((name) => [name, root.lookupType(`onnx.${name}`)])) as Record<MessageName, protobuf.Type>;
  }
  return parsed;
}

/** The message types modsurg decodes and encodes. */
export const onnxTypes: { readonly [M in MessageName]: protobuf.Type } = Object.defineProperties(
  {},
  Object.fromEntries(MESSAGES.map((name) => [name, { get: () => types()[name], enumerable: true }])),
) as { readonly [M in MessageName]: protobuf.Type };

const decodeOptions = { longs: Number, enums: Number, defaults: false, arrays: true };

/** Decodes one ONNX message as a plain object: int64 as numbers, defaults omitted. Malformed bytes are a FormatError. */
export function decode<T>(type: MessageName, bytes: Uint8Array): T {
  let message: protobuf.Message;
  try {
    message = onnxTypes[type].decode(bytes);
  } catch (error) {
    throw new FormatError(`malformed ONNX protobuf in a ${type}: ${decodeProblem(error)}`);
  }
  return onnxTypes[type].toObject(message, decodeOptions) as T;
}

/** What protobufjs's (or the UTF-8 decoder's) complaint means, in the format's terms. */
function decodeProblem(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  if (/^index out of range/.test(message)) return 'a field runs past the end of its message (truncated or corrupt file?)';
  const wire = /^invalid wire type (\d+) at offset (\d+)/.exec(message);
  if (wire) return `a field of unknown wire type ${wire[1]} at byte ${wire[2]} of the message`;
  if (/field number 0/.test(message)) return 'a field numbered 0';
  if (/length encoding|varint encoding/.test(message)) return 'a length or varint that does not end';
  if (/utf-8/i.test(message)) return 'a string that is not valid UTF-8';
  return 'its bytes are not a valid message';
}
