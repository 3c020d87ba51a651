import { onnxTypes } from './onnx-schema.js';
import { readVarint } from './wire.js';

/**
 * Whether bytes begin like an ONNX ModelProto. ONNX has no magic number, and writers may put the fields in
 * any order and encode varints overlong (protobuf allows both), so the head is parsed as protobuf: every
 * field must be one of ModelProto's, with its wire type, and a length-delimited field must fit the file.
 * A graph field is looked into, when it starts within the head, for a GraphProto field.
 */
const GRAPH = 7;
let fields: { model: Map<number, number>; graph: Map<number, number> } | undefined;

/** Field number → wire type (0 varint, 1 fixed64, 2 length-delimited, 5 fixed32; packed repeated scalars are 2). */
function wireTypes(message: 'ModelProto' | 'GraphProto'): Map<number, number> {
  const types = new Map<number, number>();
  for (const field of onnxTypes[message].fieldsArray) {
    const varint = ['int32', 'int64', 'uint32', 'uint64', 'sint32', 'sint64', 'bool', 'enum'].includes(field.type) || field.resolvedType?.constructor.name === 'Enum';
    const fixed = field.type === 'float' || field.type === 'fixed32' ? 5 : field.type === 'double' || field.type === 'fixed64' ? 1 : undefined;
    types.set(field.id, field.repeated && (varint || fixed !== undefined) ? 2 : varint ? 0 : (fixed ?? 2));
  }
  return types;
}

export function looksLikeOnnx(head: Uint8Array, fileSize: number): boolean {
  fields ??= { model: wireTypes('ModelProto'), graph: wireTypes('GraphProto') };
  return fieldsFit(head, fileSize, fields.model, true);
}

/** Whether `bytes` (a prefix of a message of `limit` bytes) parse as fields of a message with these fields. */
function fieldsFit(bytes: Uint8Array, limit: number, known: ReadonlyMap<number, number>, lookIntoGraph: boolean): boolean {
  let at = 0;
  let seen = 0;
  try {
    while (at < bytes.length) {
      const [tag, afterTag] = readVarint(bytes, at);
      const field = Math.floor(tag / 8);
      const wireType = tag % 8;
      if (field === 0 || known.get(field) !== wireType) return false;
      let end: number;
      if (wireType === 0) end = readVarint(bytes, afterTag)[1];
      else if (wireType === 1 || wireType === 5) end = afterTag + (wireType === 1 ? 8 : 4);
      else {
        const [length, afterLength] = readVarint(bytes, afterTag);
        end = afterLength + length;
        if (end > limit) return false;
        const inner = bytes.subarray(afterLength, Math.min(bytes.length, end));
        if (lookIntoGraph && field === GRAPH && inner.length > 0 && !fieldsFit(inner, length, fields!.graph, false)) return false;
      }
      seen++;
      at = end;
    }
  } catch {
    // the head ends inside a field: what was read of it fits
  }
  return seen > 0;
}
