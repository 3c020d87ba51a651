import { FormatError } from '../cli/errors.js';

/**
 * The protobuf wire format, read field by field without decoding: what lets an edit re-encode only
 * what it changed and keep every other byte (unknown fields included) exactly as it was.
 */
export interface WireField {
  readonly field: number;
  readonly wireType: number;
  /** The whole field, tag included. */
  readonly bytes: Uint8Array;
  /** For length-delimited fields: the payload (a sub-message, a string, packed values). */
  readonly payload: Uint8Array;
}

/** A varint at `at` and the position after it; a truncated or over-long one is a FormatError. */
export function readVarint(bytes: Uint8Array, at: number): [value: number, next: number] {
  let value = 0;
  let scale = 1;
  for (let i = at; i < bytes.length; i++) {
    const byte = bytes[i]!;
    value += (byte & 0x7f) * scale;
    if ((byte & 0x80) === 0) return [value, i + 1];
    scale *= 128;
    if (i - at > 9) break;
  }
  throw new FormatError('malformed protobuf: bad varint (truncated file?)');
}

/** Splits a message into its fields, in file order. */
export function readFields(bytes: Uint8Array): WireField[] {
  const fields: WireField[] = [];
  let at = 0;
  while (at < bytes.length) {
    const start = at;
    const [tag, afterTag] = readVarint(bytes, at);
    const field = Math.floor(tag / 8);
    const wireType = tag & 7;
    if (field === 0) throw new FormatError('malformed protobuf: field number 0');
    let payloadStart = afterTag;
    let end: number;
    switch (wireType) {
      case 0:
        end = readVarint(bytes, afterTag)[1];
        break;
      case 1:
        end = afterTag + 8;
        break;
      case 2: {
        const [length, afterLength] = readVarint(bytes, afterTag);
        payloadStart = afterLength;
        end = afterLength + length;
        break;
      }
      case 5:
        end = afterTag + 4;
        break;
      default:
        throw new FormatError(`malformed protobuf: wire type ${wireType}`);
    }
    if (end > bytes.length) throw new FormatError('malformed protobuf: field runs past the end (truncated file?)');
    fields.push({ field, wireType, bytes: bytes.subarray(start, end), payload: bytes.subarray(payloadStart, end) });
    at = end;
  }
  return fields;
}

function varint(value: number): number[] {
  const out: number[] = [];
  let rest = value;
  while (rest >= 0x80) {
    out.push((rest % 128) | 0x80);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
  return out;
}

/** A length-delimited field: tag, length, payload. */
export function lengthDelimited(field: number, payload: Uint8Array): Uint8Array[] {
  return [Uint8Array.from([...varint(field * 8 + 2), ...varint(payload.length)]), payload];
}

export function varintField(field: number, value: number): Uint8Array {
  return Uint8Array.from([...varint(field * 8), ...varint(value)]);
}

export function stringOf(payload: Uint8Array): string {
  return Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('utf8');
}

/** The value of a varint field (wire type 0), whose payload is the varint itself. */
export function varintOf(field: WireField): number {
  return readVarint(field.payload, 0)[0];
}
