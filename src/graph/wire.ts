import { FormatError } from '../errors.js';
import { BufferSource, type ByteRange, type ByteSource } from '../io/byte-source.js';
import type { Piece } from '../io/pieces.js';

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
  return readVarintAt((i) => (i < bytes.length ? bytes[i]! : -1), at);
}

/** The one varint decoder: `byteAt` gives the byte at an offset, or -1 past the end. */
function readVarintAt(byteAt: (at: number) => number, at: number): [value: number, next: number] {
  let value = 0;
  let scale = 1;
  for (let i = at; i - at < 10; i++) {
    const byte = byteAt(i);
    if (byte < 0) break;
    value += (byte & 0x7f) * scale;
    if ((byte & 0x80) === 0) return [value, i + 1];
    scale *= 128;
  }
  throw new FormatError('malformed protobuf: bad varint (truncated file?)');
}

/** Varints exact to 64 bits (a packed repeated field's payload, int64 values). */
export function readVarintsBig(payload: Uint8Array): bigint[] {
  const values: bigint[] = [];
  let value = 0n;
  let shift = 0n;
  for (const byte of payload) {
    value |= BigInt(byte & 0x7f) << shift;
    shift += 7n;
    if ((byte & 0x80) === 0) {
      values.push(value);
      value = 0n;
      shift = 0n;
    }
  }
  if (shift !== 0n) throw new FormatError('malformed protobuf: truncated varint in a packed field');
  return values;
}

/**
 * A field whose payload may stay in its file: a large `raw_data` is a range, copied when written and
 * never read whole. `head` is the tag (and length) before the payload.
 */
export interface LazyField {
  readonly field: number;
  readonly wireType: number;
  readonly head: Uint8Array;
  readonly payload: Uint8Array | ByteRange;
}

export function lazyFieldPieces(field: LazyField): Piece[] {
  return [field.head, field.payload];
}

/** A field as the cursor meets it: where its tag, payload and end are in the source. */
export interface FieldAt {
  readonly field: number;
  readonly wireType: number;
  readonly start: number;
  readonly payloadStart: number;
  readonly end: number;
}

/**
 * Walks a message's fields in a source without reading the payloads: the tag and length of each field
 * are read through a small window, so a 2 GiB model's structure is found by reading kilobytes.
 */
export class WireCursor {
  private window: Buffer = Buffer.alloc(0);
  private windowStart = 0;
  private at: number;

  constructor(
    private readonly source: ByteSource,
    start: number,
    private readonly end: number,
  ) {
    this.at = start;
    if (end > source.size) throw new FormatError('malformed protobuf: field runs past the end (truncated file?)');
  }

  atEnd(): boolean {
    return this.at >= this.end;
  }

  /** The next field's place; the cursor moves past it. */
  next(): FieldAt {
    const start = this.at;
    const [tag, afterTag] = readVarintAt((i) => this.byteAt(i), start);
    const field = Math.floor(tag / 8);
    const wireType = tag & 7;
    if (field === 0) throw new FormatError('malformed protobuf: field number 0');
    let payloadStart = afterTag;
    let end: number;
    switch (wireType) {
      case 0:
        end = readVarintAt((i) => this.byteAt(i), afterTag)[1];
        break;
      case 1:
        end = afterTag + 8;
        break;
      case 2: {
        const [length, afterLength] = readVarintAt((i) => this.byteAt(i), afterTag);
        payloadStart = afterLength;
        end = afterLength + length;
        break;
      }
      case 5:
        end = afterTag + 4;
        break;
      default:
        throw new FormatError(`malformed protobuf: a field of unknown wire type ${wireType} at byte ${start}`);
    }
    if (end > this.end) throw new FormatError('malformed protobuf: field runs past the end (truncated file?)');
    this.at = end;
    return { field, wireType, start, payloadStart, end };
  }

  /** Bytes of the source, copied (so the window can move on). */
  bytes(start: number, end: number): Uint8Array {
    if (start >= this.windowStart && end <= this.windowStart + this.window.length) {
      return Buffer.from(this.window.subarray(start - this.windowStart, end - this.windowStart));
    }
    return this.source.read(start, end - start);
  }

  private byteAt(at: number): number {
    if (at >= this.end) return -1;
    if (at < this.windowStart || at >= this.windowStart + this.window.length) {
      this.windowStart = at;
      this.window = this.source.read(at, Math.min(WINDOW, this.end - at));
    }
    return this.window[at - this.windowStart]!;
  }
}

const WINDOW = 64 << 10;

/** Splits a message held in memory into its fields, in file order (views of `bytes`, not copies). */
export function readFields(bytes: Uint8Array): WireField[] {
  const fields: WireField[] = [];
  const cursor = new WireCursor(new BufferSource('message', Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)), 0, bytes.length);
  while (!cursor.atEnd()) {
    const { field, wireType, start, payloadStart, end } = cursor.next();
    fields.push({ field, wireType, bytes: bytes.subarray(start, end), payload: bytes.subarray(payloadStart, end) });
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
  return [delimiterHead(field, payload.length), payload];
}

/** The tag and length that open a length-delimited field of `length` bytes. */
export function delimiterHead(field: number, length: number): Uint8Array {
  return Uint8Array.from([...varint(field * 8 + 2), ...varint(length)]);
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
