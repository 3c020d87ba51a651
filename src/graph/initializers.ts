import { ModsurgError } from '../errors.js';
import { dtypeInfo } from '../checkpoint/dtype.js';
import { contiguousBytes, contiguousStride, isContiguous, numelOf, type StorageData, type Tensor } from '../checkpoint/tensor.js';
import { BufferSource, readRange, type ByteRange, type ByteSource } from '../io/byte-source.js';
import { materialize, pieceLength, piecesLength, type Piece } from '../io/pieces.js';
import { dtypeOfElemType, elemTypeInfo, elemTypeOfDtype } from './elem-type.js';
import type { Initializer, TensorProto } from './graph.js';
import { py, type PyDict, type PyValue } from '../checkpoint/pickle/value.js';
import { decode, onnxTypes } from './onnx-schema.js';
import { delimiterHead, lazyFieldPieces, lengthDelimited, readFields, readVarint, readVarintsBig, stringOf, varintField, type LazyField } from './wire.js';

/**
 * ONNX initializers as checkpoint tensors and back. Bytes are not copied where the file already holds
 * them as little-endian raw bytes (raw_data, external data); the typed fields (float_data, int32_data, …)
 * are decoded by the spec's packing rules.
 */

/** TensorProto field numbers (onnx.proto3). */
const TENSOR_FIELD = {
  dims: 1,
  dataType: 2,
  segment: 3,
  floatData: 4,
  int32Data: 5,
  stringData: 6,
  int64Data: 7,
  name: 8,
  rawData: 9,
  doubleData: 10,
  uint64Data: 11,
  externalData: 13,
  dataLocation: 14,
} as const;

/** The fields that carry a tensor's values, one of which a tensor uses. */
const DATA_FIELDS: ReadonlySet<number> = new Set([
  TENSOR_FIELD.floatData,
  TENSOR_FIELD.int32Data,
  TENSOR_FIELD.stringData,
  TENSOR_FIELD.int64Data,
  TENSOR_FIELD.rawData,
  TENSOR_FIELD.doubleData,
  TENSOR_FIELD.uint64Data,
  TENSOR_FIELD.externalData,
  TENSOR_FIELD.dataLocation,
]);

const EXTERNAL = 1;

/** Where an external initializer's bytes are (TensorProto.external_data), as the file says. */
export interface ExternalRef {
  readonly location: string;
  readonly offset: number;
  /** Absent: to the end of the file. */
  readonly length?: number;
}

/** An initializer's TensorProto read field by field, so 64-bit values and unknown fields stay exact. */
export interface TensorFields {
  readonly name: string;
  readonly elemType: number;
  readonly dims: number[];
  /** Where its values are: raw_data in memory or, for a large one read from a file, a range of it. */
  readonly data:
    | { readonly kind: 'raw'; readonly bytes: Uint8Array | ByteRange }
    | { readonly kind: 'typed'; readonly field: number; readonly parts: Uint8Array[] }
    | { readonly kind: 'external'; readonly ref: ExternalRef }
    | { readonly kind: 'none' };
}

/** An initializer's TensorProto fields: as read (a large raw_data a range), from the bytes it was read from, or its proto encoded. */
export function tensorWireFields(item: Initializer): readonly LazyField[] {
  if (item.tensorFields) return item.tensorFields;
  const payload = item.raw ? readFields(materialize(item.raw))[0]!.payload : onnxTypes.TensorProto.encode(onnxTypes.TensorProto.fromObject(item.proto)).finish();
  return readFields(payload).map((f) => ({ field: f.field, wireType: f.wireType, head: f.bytes.subarray(0, f.bytes.length - f.payload.length), payload: f.payload }));
}

/** A field's payload that is always small (anything but raw_data): in memory. */
function inMemory(field: LazyField): Uint8Array {
  if (field.payload instanceof Uint8Array) return field.payload;
  return readRange(field.payload);
}

/** The value of a varint field (wire type 0), whose payload is the varint itself. */
function varintValue(field: LazyField): number {
  return readVarint(inMemory(field), 0)[0];
}

export function readTensorFields(item: Initializer): TensorFields {
  const fields = tensorWireFields(item);
  const name = item.proto.name ?? '';
  const of = (field: number): LazyField[] => fields.filter((f) => f.field === field);
  const fail = (message: string): never => {
    throw new ModsurgError(`initializer '${name}': ${message}`);
  };
  const dims = of(TENSOR_FIELD.dims).flatMap((f) => (f.wireType === 2 ? readVarintsBig(inMemory(f)) : [BigInt(varintValue(f))]).map(Number));
  const dataType = of(TENSOR_FIELD.dataType).pop();
  const elemType = dataType ? varintValue(dataType) : 0;
  if (of(TENSOR_FIELD.segment).length > 0) fail('segmented tensors (TensorProto.segment) are not supported');
  const location = of(TENSOR_FIELD.dataLocation).pop();
  if (location && varintValue(location) === EXTERNAL) return { name, elemType, dims, data: { kind: 'external', ref: externalRef(name, of(TENSOR_FIELD.externalData).map(inMemory)) } };
  const raw = of(TENSOR_FIELD.rawData).pop();
  if (raw) return { name, elemType, dims, data: { kind: 'raw', bytes: raw.payload } };
  for (const field of [TENSOR_FIELD.floatData, TENSOR_FIELD.int32Data, TENSOR_FIELD.int64Data, TENSOR_FIELD.doubleData, TENSOR_FIELD.uint64Data, TENSOR_FIELD.stringData]) {
    const parts = of(field);
    if (parts.length > 0) return { name, elemType, dims, data: { kind: 'typed', field, parts: parts.map(inMemory) } };
  }
  return { name, elemType, dims, data: { kind: 'none' } };
}

function externalRef(name: string, entries: Uint8Array[]): ExternalRef {
  const values = new Map<string, string>();
  for (const entry of entries) {
    let key = '';
    let value = '';
    for (const f of readFields(entry)) {
      if (f.field === 1 && f.wireType === 2) key = stringOf(f.payload);
      if (f.field === 2 && f.wireType === 2) value = stringOf(f.payload);
    }
    values.set(key, value);
  }
  const location = values.get('location');
  if (!location) throw new ModsurgError(`initializer '${name}': external data without a location`);
  const number = (key: string): number | undefined => {
    const text = values.get(key);
    if (text === undefined) return undefined;
    if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text))) throw new ModsurgError(`initializer '${name}': bad external data ${key} '${text}'`);
    return Number(text);
  };
  const length = number('length');
  return { location, offset: number('offset') ?? 0, ...(length === undefined ? {} : { length }) };
}

/** Opens the external data file a tensor names by its `location` (checking and resolving it first). */
export type ExternalOpener = (location: string, tensorName: string) => ByteSource;

export interface ReadInitializerOptions {
  /** Opens external data files; without it, external initializers are an error. */
  readonly external?: ExternalOpener;
}

/** An initializer's bytes as stored: little-endian values, exactly what raw_data would hold. */
export interface InitializerBytes {
  readonly length: number;
  readonly data: StorageData;
}

/**
 * The bytes of an initializer's values, wherever they are: a view of raw_data, a range of the external
 * data file, or the typed fields decoded.
 */
export function initializerBytes(tensor: TensorFields, options: ReadInitializerOptions = {}): InitializerBytes {
  const { data, name } = tensor;
  switch (data.kind) {
    case 'raw': {
      if (!(data.bytes instanceof Uint8Array)) return { length: data.bytes.length, data: { kind: 'range', range: data.bytes } };
      const view = Buffer.from(data.bytes.buffer, data.bytes.byteOffset, data.bytes.byteLength);
      return { length: view.length, data: { kind: 'range', range: { source: new BufferSource(name, view), offset: 0, length: view.length } } };
    }
    case 'external': {
      if (!options.external) throw new ModsurgError(`initializer '${name}': its data is in the external file '${data.ref.location}', and no folder to find it in was given`);
      const source = options.external(data.ref.location, name);
      const length = data.ref.length ?? source.size - data.ref.offset;
      if (length < 0 || data.ref.offset + length > source.size) {
        throw new ModsurgError(
          `initializer '${name}': external data (offset ${data.ref.offset}, length ${length}) runs past the end of ${data.ref.location} (${source.size} bytes)`,
        );
      }
      return { length, data: { kind: 'range', range: { source, offset: data.ref.offset, length } } };
    }
    case 'typed': {
      const bytes = decodeTypedField(tensor, data.field, data.parts);
      return { length: bytes.length, data: { kind: 'bytes', bytes } };
    }
    case 'none':
      if (numelOf(tensor.dims) !== 0) throw new ModsurgError(`initializer '${name}': holds no data for ${numelOf(tensor.dims)} elements`);
      return { length: 0, data: { kind: 'bytes', bytes: new Uint8Array(0) } };
  }
}

/** Which typed field holds which element types (onnx.proto3 TensorProto comments). */
const typedFieldOf: Record<number, number> = {
  1: TENSOR_FIELD.floatData,
  14: TENSOR_FIELD.floatData,
  2: TENSOR_FIELD.int32Data,
  3: TENSOR_FIELD.int32Data,
  4: TENSOR_FIELD.int32Data,
  5: TENSOR_FIELD.int32Data,
  6: TENSOR_FIELD.int32Data,
  9: TENSOR_FIELD.int32Data,
  10: TENSOR_FIELD.int32Data,
  16: TENSOR_FIELD.int32Data,
  17: TENSOR_FIELD.int32Data,
  18: TENSOR_FIELD.int32Data,
  19: TENSOR_FIELD.int32Data,
  20: TENSOR_FIELD.int32Data,
  24: TENSOR_FIELD.int32Data,
  7: TENSOR_FIELD.int64Data,
  11: TENSOR_FIELD.doubleData,
  15: TENSOR_FIELD.doubleData,
  12: TENSOR_FIELD.uint64Data,
  13: TENSOR_FIELD.uint64Data,
};

const fieldNames: Record<number, string> = {
  [TENSOR_FIELD.floatData]: 'float_data',
  [TENSOR_FIELD.int32Data]: 'int32_data',
  [TENSOR_FIELD.stringData]: 'string_data',
  [TENSOR_FIELD.int64Data]: 'int64_data',
  [TENSOR_FIELD.doubleData]: 'double_data',
  [TENSOR_FIELD.uint64Data]: 'uint64_data',
};

/**
 * Typed fields as raw little-endian bytes. float_data and double_data already hold IEEE bytes (packed
 * fixed32/fixed64); int32_data holds one element per varint, narrower types (int8, uint16, bool) as their
 * value and float16/bfloat16/float8 as their bit pattern, so each keeps its low bytes; int64_data and
 * uint64_data hold one varint per element.
 */
function decodeTypedField(tensor: TensorFields, field: number, parts: Uint8Array[]): Uint8Array {
  const { name, elemType } = tensor;
  const typeName = elemTypeInfo(elemType).name;
  const dtype = dtypeOfElemType(elemType);
  if (!dtype || typedFieldOf[elemType] !== field) {
    throw new ModsurgError(`initializer '${name}': ${fieldNames[field]} of a ${typeName} tensor cannot be decoded`);
  }
  const size = dtypeInfo(dtype).size;
  const numel = numelOf(tensor.dims);
  let bytes: Uint8Array;
  if (field === TENSOR_FIELD.floatData || field === TENSOR_FIELD.doubleData) {
    // packed (wire type 2) or one fixed-size value per field (wire types 5 and 1): the payload is the value
    bytes = Buffer.concat(parts);
  } else {
    // packed, or one varint per field: either way the payload is varints
    const values = parts.flatMap(readVarintsBig);
    const out = Buffer.alloc(values.length * size);
    values.forEach((value, i) => {
      const bits = dtype === 'bool' ? (value === 0n ? 0n : 1n) : BigInt.asUintN(size * 8, value);
      for (let b = 0; b < size; b++) out[i * size + b] = Number((bits >> BigInt(8 * b)) & 0xffn);
    });
    bytes = out;
  }
  if (bytes.length !== numel * size) {
    throw new ModsurgError(`initializer '${name}': ${fieldNames[field]} holds ${bytes.length / size} values for ${numel} ${typeName} elements`);
  }
  return bytes;
}

/**
 * An initializer as a checkpoint tensor (contiguous, offset 0, one storage of its own). Element types
 * torch has no dtype for (string, int4, uint4, float4, int2, uint2) are refused by name.
 */
export function initializerTensor(item: Initializer, options: ReadInitializerOptions = {}): Tensor {
  const tensor = readTensorFields(item);
  const dtype = dtypeOfElemType(tensor.elemType);
  if (!dtype) {
    throw new ModsurgError(`initializer '${tensor.name}': element type ${elemTypeInfo(tensor.elemType).name} has no PyTorch dtype to hold it`);
  }
  const bytes = initializerBytes(tensor, options);
  const numel = numelOf(tensor.dims);
  const size = dtypeInfo(dtype).size;
  if (bytes.length !== numel * size) {
    throw new ModsurgError(`initializer '${tensor.name}': holds ${bytes.length} bytes, but ${dtype}[${tensor.dims.join(', ')}] needs ${numel * size}`);
  }
  return {
    dtype,
    shape: tensor.dims,
    stride: contiguousStride(tensor.dims),
    storageOffset: 0,
    storage: { key: tensor.name, dtype, numel, location: 'cpu', data: bytes.data },
    requiresGrad: false,
    parameter: false,
  };
}

/** Every initializer of a graph as a tensor, in graph order; duplicate names are an error. */
export function initializerTensors(initializers: readonly Initializer[], options: ReadInitializerOptions = {}): [string, Tensor][] {
  const seen = new Set<string>();
  return initializers.map((item) => {
    const name = item.proto.name ?? '';
    if (seen.has(name)) throw new ModsurgError(`two initializers are named '${name}'`);
    seen.add(name);
    return [name, initializerTensor(item, options)];
  });
}

/** A model's initializers as a state dict (an OrderedDict in graph order): what `convert model.onnx -o weights.pth` writes. */
export function initializersAsStateDict(initializers: readonly Initializer[], options: ReadInitializerOptions = {}): PyDict {
  const tensors = initializerTensors(initializers, options);
  if (tensors.length === 0) throw new ModsurgError('has no initializers to write as a state dict');
  return py.dict(tensors.map(([name, tensor]): [PyValue, PyValue] => [py.str(name), { kind: 'tensor', tensor }]), true);
}

/** A tensor as an initializer: raw_data little-endian and contiguous, as exporters write it. */
export function tensorToInitializer(name: string, tensor: Tensor): TensorProto {
  const elemType = elemTypeOfDtype(tensor.dtype);
  if (elemType === undefined) throw new ModsurgError(`tensor '${name}': ONNX has no element type for ${tensor.dtype}`);
  return { dims: [...tensor.shape], data_type: elemType, name, raw_data: contiguousBytes(tensor) };
}

/**
 * A tensor as an initializer item whose raw_data, for a contiguous tensor covering a range of its
 * file, stays that range until written: loading a large checkpoint into a model never holds it whole.
 */
export function initializerOfTensor(name: string, tensor: Tensor): Initializer {
  const elemType = elemTypeOfDtype(tensor.dtype);
  if (elemType === undefined) throw new ModsurgError(`tensor '${name}': ONNX has no element type for ${tensor.dtype}`);
  const proto: TensorProto = { dims: [...tensor.shape], data_type: elemType, name };
  return initializerWithRawData({ proto }, tensorPiece(tensor));
}

/** A tensor's row-major bytes as one piece: the range of its file they are, for a contiguous tensor, else gathered. */
export function tensorPiece(tensor: Tensor): Piece {
  return tensorRange(tensor) ?? contiguousBytes(tensor);
}

function tensorRange(tensor: Tensor): ByteRange | undefined {
  if (tensor.storage.data.kind !== 'range' || !isContiguous(tensor)) return undefined;
  const range = tensor.storage.data.range;
  const size = dtypeInfo(tensor.dtype).size;
  const length = numelOf(tensor.shape) * size;
  const start = tensor.storageOffset * size;
  return start === 0 && length === range.length ? range : { source: range.source, offset: range.offset + start, length };
}

/** GraphProto.initializer: the field an initializer item's `raw` bytes are. */
const GRAPH_INITIALIZER = 5;

/** The initializer with its values in raw_data (bytes, or a range copied when written); its other fields kept as they were. */
export function initializerWithRawData(item: Initializer, data: Piece): Initializer {
  return withDataFields(item, [{ field: TENSOR_FIELD.rawData, wireType: 2, head: delimiterHead(TENSOR_FIELD.rawData, pieceLength(data)), payload: data }]);
}

/** The initializer with its values in an external file (data_location EXTERNAL, location/offset/length). */
export function initializerWithExternalData(item: Initializer, ref: Required<ExternalRef>): Initializer {
  const entry = (key: string, value: string): LazyField => {
    const payload = Buffer.concat([...lengthDelimited(1, Buffer.from(key)), ...lengthDelimited(2, Buffer.from(value))]);
    return { field: TENSOR_FIELD.externalData, wireType: 2, head: delimiterHead(TENSOR_FIELD.externalData, payload.length), payload };
  };
  return withDataFields(item, [
    entry('location', ref.location),
    entry('offset', String(ref.offset)),
    entry('length', String(ref.length)),
    { field: TENSOR_FIELD.dataLocation, wireType: 0, head: varintField(TENSOR_FIELD.dataLocation, EXTERNAL).subarray(0, 1), payload: varintField(TENSOR_FIELD.dataLocation, EXTERNAL).subarray(1) },
  ]);
}

/** The initializer under another name, its data where it was (raw_data in its file stays there). */
export function initializerRenamed(item: Initializer, name: string): Initializer {
  const fields = tensorWireFields(item).filter((f) => f.field !== TENSOR_FIELD.name);
  const payload = Buffer.from(name, 'utf8');
  return initializerOfFields([...fields, { field: TENSOR_FIELD.name, wireType: 2, head: delimiterHead(TENSOR_FIELD.name, payload.length), payload }].sort((a, b) => a.field - b.field));
}

/**
 * Replaces the data fields of a TensorProto at the wire level: every other field keeps its bytes and
 * place, and the new ones go where a serializer puts them (by field number), so moving data out and back
 * in gives the original bytes.
 */
function withDataFields(item: Initializer, added: LazyField[]): Initializer {
  const kept = tensorWireFields(item).filter((f) => !DATA_FIELDS.has(f.field));
  const fields: LazyField[] = [];
  let next = 0;
  for (const field of kept) {
    while (next < added.length && added[next]!.field < field.field) fields.push(added[next++]!);
    fields.push(field);
  }
  while (next < added.length) fields.push(added[next++]!);
  return initializerOfFields(fields);
}

/**
 * An initializer item made of its TensorProto's fields, a large raw_data possibly a range of a file:
 * its bytes are those fields, and its `proto` is decoded from the small ones, asking it for `raw_data`
 * reads the range (only code that inspects values ever does).
 */
export function initializerOfFields(fields: readonly LazyField[], recordHead?: Uint8Array): Initializer {
  const pieces = fields.flatMap(lazyFieldPieces);
  const small = fields.filter((f) => f.payload instanceof Uint8Array).flatMap((f) => [f.head, f.payload as Uint8Array]);
  const proto = decode<TensorProto>('TensorProto', Buffer.concat(small));
  const range = fields.find((f) => f.field === TENSOR_FIELD.rawData && !(f.payload instanceof Uint8Array))?.payload as ByteRange | undefined;
  if (range !== undefined) Object.defineProperty(proto, 'raw_data', { get: () => readRange(range), enumerable: true, configurable: true });
  return { proto, raw: [recordHead ?? delimiterHead(GRAPH_INITIALIZER, piecesLength(pieces)), ...pieces], tensorFields: fields };
}
