import { dirname } from 'node:path';
import { FormatError } from '../errors.js';
import type { ByteSource } from '../io/byte-source.js';
import { piecesLength, type Piece } from '../io/pieces.js';
import { decode, onnxTypes } from './onnx-schema.js';
import { initializerOfFields } from './initializers.js';
import { delimiterHead, lengthDelimited, stringOf, varintOf, WireCursor, type FieldAt, type LazyField, type WireField } from './wire.js';
import type { Graph, GraphNode, Initializer, Item, NodeProto, TensorProto, ValueInfo, ValueInfoProto } from './graph.js';

/** Model-level facts, decoded for reports; the bytes they came from are kept in `fields`. */
export interface ModelHeader {
  readonly irVersion: number;
  readonly opsets: readonly { domain: string; version: number }[];
  readonly producerName: string;
  readonly producerVersion: string;
}

/**
 * An ONNX model as read: its top-level fields as they were in the file, and the main graph decoded for
 * editing. Writing re-encodes only the graph parts an edit replaced; everything else is copied as is.
 */
export interface OnnxModel {
  readonly header: ModelHeader;
  readonly fields: readonly WireField[];
  readonly graph: Graph;
  /** The folder external data locations are relative to (undefined for stdin). */
  readonly folder: string | undefined;
  /** The graph as read and the bytes of its records: a model whose graph was not replaced is written as read. */
  readonly asRead?: { readonly graph: Graph; readonly records: readonly Piece[][] };
}

const MODEL_GRAPH = 7;
const GRAPH_NODE = 1;
const GRAPH_INITIALIZER = 5;
const GRAPH_INPUT = 11;
const GRAPH_OUTPUT = 12;
const GRAPH_VALUE_INFO = 13;


/** Protobuf's limit on one message (INT_MAX bytes): onnxruntime and onnx refuse bigger models. */
export const PROTOBUF_LIMIT = 2 ** 31 - 1;

/** Fields larger than this stay in the file as ranges (an initializer's raw_data) or are read on their own. */
const LAZY_THRESHOLD = 64 << 10;

const EMPTY = new Uint8Array(0);

/**
 * Reads a model's structure: every field but the initializers' large raw_data is read (nodes, inputs,
 * outputs, small tensors), those stay ranges of the file, copied when the model is written. A model of
 * any size is read in the time and memory its graph takes, not its weights.
 */
export function readOnnxModel(source: ByteSource, path: string | undefined): OnnxModel {
  const { fields, graphRecords } = readModelFields(source);
  // protobuf's merge rules: a scalar field given twice keeps its last value, a message field given twice is
  // the merge of both (its parts are read as one)
  const irVersion = fields.findLast((f) => f.field === 1 && f.wireType === 0);
  if (!irVersion || graphRecords.length === 0) throw new FormatError('not an ONNX model (no ir_version or graph)');
  const opsets = fields
    .filter((f) => f.field === 8 && f.wireType === 2)
    .map((f) => {
      const o = decode<{ domain?: string; version?: number }>('OperatorSetIdProto', f.payload);
      return { domain: o.domain ?? '', version: o.version ?? 0 };
    });
  const text = (field: number): string => {
    const f = fields.findLast((x) => x.field === field && x.wireType === 2);
    return f ? stringOf(f.payload) : '';
  };
  const graph = readGraphRecords(source, graphRecords);
  const records = graphRecords.map((at): Piece[] => [source.read(at.start, at.payloadStart - at.start), { source, offset: at.payloadStart, length: at.end - at.payloadStart }]);
  return {
    header: { irVersion: varintOf(irVersion), opsets, producerName: text(2), producerVersion: text(3) },
    fields,
    graph,
    folder: path === undefined ? undefined : dirname(path),
    asRead: { graph, records },
  };
}

/** A model's main graph; undefined for a model without one. */
export function readModelGraph(source: ByteSource): Graph | undefined {
  const { graphRecords } = readModelFields(source);
  return graphRecords.length === 0 ? undefined : readGraphRecords(source, graphRecords);
}

/** ModelProto's fields, the graph's records only located. */
function readModelFields(source: ByteSource): { fields: WireField[]; graphRecords: FieldAt[] } {
  if (source.size > PROTOBUF_LIMIT) {
    throw new FormatError(
      `is ${source.size.toLocaleString('en-US')} bytes, over protobuf's 2 GiB limit: onnx and onnxruntime cannot read it (a model this large keeps its weights in external data)`,
    );
  }
  const fields: WireField[] = [];
  const graphRecords: FieldAt[] = [];
  try {
    const cursor = new WireCursor(source, 0, source.size);
    while (!cursor.atEnd()) {
      const at = cursor.next();
      if (at.field === MODEL_GRAPH && at.wireType === 2) {
        graphRecords.push(at);
        fields.push(placeholder(at));
      } else fields.push(wireField(cursor, at));
    }
  } catch (error) {
    throw new FormatError(`not a valid ONNX model (${(error as Error).message})`);
  }
  return { fields, graphRecords };
}

/** Decodes ModelProto.graph (its records read as one, as protobuf merges them), keeping each item's bytes. */
function readGraphRecords(source: ByteSource, records: readonly FieldAt[]): Graph {
  const fields: WireField[] = [];
  const nodes: GraphNode[] = [];
  const initializers: Initializer[] = [];
  const lists: Record<number, ValueInfo[]> = { [GRAPH_INPUT]: [], [GRAPH_OUTPUT]: [], [GRAPH_VALUE_INFO]: [] };
  for (const record of records) {
    const cursor = new WireCursor(source, record.payloadStart, record.end);
    while (!cursor.atEnd()) {
      const at = cursor.next();
      if (at.wireType !== 2 || !(at.field === GRAPH_NODE || at.field === GRAPH_INITIALIZER || at.field in lists)) {
        fields.push(wireField(cursor, at));
        continue;
      }
      fields.push(placeholder(at));
      if (at.field === GRAPH_INITIALIZER && at.end - at.payloadStart > LAZY_THRESHOLD) {
        initializers.push(lazyInitializer(source, cursor, at));
        continue;
      }
      const bytes = cursor.bytes(at.start, at.end);
      const payload = bytes.subarray(at.payloadStart - at.start);
      if (at.field === GRAPH_NODE) nodes.push({ proto: decode<NodeProto>('NodeProto', payload), raw: [bytes] });
      else if (at.field === GRAPH_INITIALIZER) initializers.push({ proto: decode<TensorProto>('TensorProto', payload), raw: [bytes] });
      else lists[at.field]!.push({ proto: decode<ValueInfoProto>('ValueInfoProto', payload), raw: [bytes] });
    }
  }
  const nameField = fields.findLast((f) => f.field === 2 && f.wireType === 2);
  return {
    name: nameField ? stringOf(nameField.payload) : '',
    nodes,
    initializers,
    inputs: lists[GRAPH_INPUT]!,
    outputs: lists[GRAPH_OUTPUT]!,
    valueInfo: lists[GRAPH_VALUE_INFO]!,
    fields,
  };
}

/** A large initializer, its fields read but a large raw_data left in the file as a range. */
function lazyInitializer(source: ByteSource, outer: WireCursor, at: FieldAt): Initializer {
  const fields: LazyField[] = [];
  const cursor = new WireCursor(source, at.payloadStart, at.end);
  while (!cursor.atEnd()) {
    const f = cursor.next();
    const head = cursor.bytes(f.start, f.payloadStart);
    const large = f.field === TENSOR_RAW_DATA && f.wireType === 2 && f.end - f.payloadStart > LAZY_THRESHOLD;
    fields.push({ field: f.field, wireType: f.wireType, head, payload: large ? { source, offset: f.payloadStart, length: f.end - f.payloadStart } : cursor.bytes(f.payloadStart, f.end) });
  }
  return initializerOfFields(fields, outer.bytes(at.start, at.payloadStart));
}

const TENSOR_RAW_DATA = 9;

function wireField(cursor: WireCursor, at: FieldAt): WireField {
  const bytes = cursor.bytes(at.start, at.end);
  return { field: at.field, wireType: at.wireType, bytes, payload: bytes.subarray(at.payloadStart - at.start) };
}

/** A field whose bytes live elsewhere (the graph, a list item): kept for its place in the order. */
function placeholder(at: FieldAt): WireField {
  return { field: at.field, wireType: at.wireType, bytes: EMPTY, payload: EMPTY };
}

/**
 * The bytes of a model: untouched fields copied, the graph's edited lists re-encoded, large weights as
 * ranges of the file they came from. A graph not replaced since it was read is copied as its records
 * were; an edited one read from several records is written as one (the merge protobuf reads them as),
 * where the first was.
 */
export function encodeOnnxModel(model: OnnxModel): Piece[] {
  const out: Piece[] = [];
  const records = model.asRead?.graph === model.graph ? [...model.asRead.records] : undefined;
  let written = false;
  for (const field of model.fields) {
    if (field.field !== MODEL_GRAPH || field.wireType !== 2) out.push(field.bytes);
    else if (records) out.push(...records.shift()!);
    else if (!written) {
      const graph = encodeGraph(model.graph);
      out.push(delimiterHead(MODEL_GRAPH, piecesLength(graph)), ...graph);
      written = true;
    }
  }
  return out;
}

function encodeGraph(graph: Graph): Piece[] {
  const parts: Piece[] = [];
  const lists: Record<number, readonly Item<object>[]> = {
    [GRAPH_NODE]: graph.nodes,
    [GRAPH_INITIALIZER]: graph.initializers,
    [GRAPH_INPUT]: graph.inputs,
    [GRAPH_OUTPUT]: graph.outputs,
    [GRAPH_VALUE_INFO]: graph.valueInfo,
  };
  const types: Record<number, keyof typeof onnxTypes> = {
    [GRAPH_NODE]: 'NodeProto',
    [GRAPH_INITIALIZER]: 'TensorProto',
    [GRAPH_INPUT]: 'ValueInfoProto',
    [GRAPH_OUTPUT]: 'ValueInfoProto',
    [GRAPH_VALUE_INFO]: 'ValueInfoProto',
  };
  const emitted = new Set<number>();
  const emit = (field: number): void => {
    emitted.add(field);
    for (const item of lists[field]!) {
      if (item.raw) parts.push(...item.raw);
      else {
        const type = onnxTypes[types[field]!];
        parts.push(...lengthDelimited(field, type.encode(type.fromObject(item.proto)).finish()));
      }
    }
  };
  // each list goes where its first item was, so an unedited model is written byte for byte as read
  for (const field of graph.fields) {
    if (field.wireType === 2 && field.field in lists) {
      if (!emitted.has(field.field)) emit(field.field);
    } else parts.push(field.bytes);
  }
  for (const field of [GRAPH_NODE, GRAPH_INITIALIZER, GRAPH_INPUT, GRAPH_OUTPUT, GRAPH_VALUE_INFO]) if (!emitted.has(field)) emit(field);
  return parts;
}
