import { dirname } from 'node:path';
import { FormatError } from '../cli/errors.js';
import type { ByteSource } from '../io/byte-source.js';
import { onnxTypes } from './onnx-schema.js';
import { lengthDelimited, readFields, stringOf, varintOf, type WireField } from './wire.js';
import type { Graph, GraphNode, Initializer, NodeProto, TensorProto, ValueInfo, ValueInfoProto } from './graph.js';

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
}

const MODEL_GRAPH = 7;
const GRAPH_NODE = 1;
const GRAPH_INITIALIZER = 5;
const GRAPH_INPUT = 11;
const GRAPH_OUTPUT = 12;
const GRAPH_VALUE_INFO = 13;

const decodeOptions = { longs: Number, enums: Number, defaults: false, arrays: true };

/** Decodes one ONNX message as a plain object: int64 as numbers, defaults omitted. */
export function decode<T>(type: keyof typeof onnxTypes, bytes: Uint8Array): T {
  const message = onnxTypes[type].decode(bytes);
  return onnxTypes[type].toObject(message, decodeOptions) as T;
}

export function readOnnxModel(source: ByteSource, path: string | undefined): OnnxModel {
  const bytes = source.read(0, source.size);
  let fields: WireField[];
  try {
    fields = readFields(bytes);
  } catch (error) {
    throw new FormatError(`not a valid ONNX model (${(error as Error).message})`);
  }
  // protobuf's merge rules: a scalar field given twice keeps its last value, a message field given twice is
  // the merge of both (its parts are read as one)
  const irVersion = fields.findLast((f) => f.field === 1 && f.wireType === 0);
  const graphBytes = graphPayload(fields);
  if (!irVersion || graphBytes === undefined) throw new FormatError('not an ONNX model (no ir_version or graph)');
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
  return {
    header: { irVersion: varintOf(irVersion), opsets, producerName: text(2), producerVersion: text(3) },
    fields,
    graph: readGraph(graphBytes),
    folder: path === undefined ? undefined : dirname(path),
  };
}

/** ModelProto.graph's payload: its one record, or its records joined (protobuf merges them so); undefined when none. */
export function graphPayload(fields: readonly WireField[]): Uint8Array | undefined {
  const parts = fields.filter((f) => f.field === MODEL_GRAPH && f.wireType === 2);
  if (parts.length === 0) return undefined;
  return parts.length === 1 ? parts[0]!.payload : Buffer.concat(parts.map((p) => p.payload));
}

/** Decodes a GraphProto's payload (ModelProto.graph), keeping each item's bytes. */
export function readGraph(bytes: Uint8Array): Graph {
  const fields = readFields(bytes);
  const of = (field: number) => fields.filter((f) => f.field === field && f.wireType === 2);
  const valueInfo = (f: WireField): ValueInfo => ({ proto: decode<ValueInfoProto>('ValueInfoProto', f.payload), raw: f.bytes });
  const nameField = fields.findLast((f) => f.field === 2 && f.wireType === 2);
  return {
    name: nameField ? stringOf(nameField.payload) : '',
    nodes: of(GRAPH_NODE).map((f): GraphNode => ({ proto: decode<NodeProto>('NodeProto', f.payload), raw: f.bytes })),
    initializers: of(GRAPH_INITIALIZER).map((f): Initializer => ({ proto: decode<TensorProto>('TensorProto', f.payload), raw: f.bytes })),
    inputs: of(GRAPH_INPUT).map(valueInfo),
    outputs: of(GRAPH_OUTPUT).map(valueInfo),
    valueInfo: of(GRAPH_VALUE_INFO).map(valueInfo),
    fields,
  };
}

/**
 * The bytes of a model: untouched fields copied, the graph's edited lists re-encoded. A graph read from
 * several records is written back in them while it is unchanged, else as one record where the first was.
 */
export function encodeOnnxModel(model: OnnxModel): Uint8Array[] {
  const out: Uint8Array[] = [];
  const graph = encodeGraph(model.graph);
  const records = model.fields.filter((f) => f.field === MODEL_GRAPH && f.wireType === 2);
  const unchanged = records.length > 1 && Buffer.from(graphPayload(records)!).equals(Buffer.from(graph));
  let written = false;
  for (const field of model.fields) {
    if (field.field !== MODEL_GRAPH || field.wireType !== 2 || unchanged) out.push(field.bytes);
    else if (!written) {
      out.push(...lengthDelimited(MODEL_GRAPH, graph));
      written = true;
    }
  }
  return out;
}

function encodeGraph(graph: Graph): Uint8Array {
  const parts: Uint8Array[] = [];
  const lists: Record<number, { proto: object; raw?: Uint8Array }[]> = {
    [GRAPH_NODE]: [...graph.nodes],
    [GRAPH_INITIALIZER]: [...graph.initializers],
    [GRAPH_INPUT]: [...graph.inputs],
    [GRAPH_OUTPUT]: [...graph.outputs],
    [GRAPH_VALUE_INFO]: [...graph.valueInfo],
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
      if (item.raw) parts.push(item.raw);
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
  return Buffer.concat(parts);
}
