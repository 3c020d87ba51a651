import { FormatError } from '../cli/errors.js';

/**
 * The protobuf wire format, just enough to read an ONNX model's graph inputs and outputs and to write
 * a tiny test model, without a compiled onnx.proto. Varints are read as JS numbers (exact to 2^53,
 * plenty for field numbers, lengths and tensor dimensions).
 */

export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_BYTES = 2;
export const WIRE_FIXED32 = 5;

export interface WireField {
  readonly field: number;
  readonly wire: number;
  /** The varint value (varint fields only). */
  readonly value: number;
  /** The payload (length-delimited fields only). */
  readonly bytes: Uint8Array;
}

/** Walks the top-level fields of one message. */
export function* fieldsOf(message: Uint8Array): Generator<WireField> {
  let at = 0;
  const varint = (): number => {
    let result = 0;
    let scale = 1;
    for (;;) {
      if (at >= message.length) throw new FormatError('truncated protobuf message (not an ONNX model?)');
      const byte = message[at++]!;
      result += (byte & 0x7f) * scale;
      if (byte < 0x80) return result;
      scale *= 128;
      if (scale > 2 ** 63) throw new FormatError('malformed protobuf varint (not an ONNX model?)');
    }
  };
  const empty = new Uint8Array(0);
  while (at < message.length) {
    const key = varint();
    const field = Math.floor(key / 8);
    const wire = key % 8;
    if (field === 0) throw new FormatError('malformed protobuf field (not an ONNX model?)');
    if (wire === WIRE_VARINT) {
      yield { field, wire, value: varint(), bytes: empty };
    } else if (wire === WIRE_BYTES) {
      const length = varint();
      if (at + length > message.length) throw new FormatError('truncated protobuf message (not an ONNX model?)');
      yield { field, wire, value: 0, bytes: message.subarray(at, at + length) };
      at += length;
    } else if (wire === WIRE_FIXED64 || wire === WIRE_FIXED32) {
      at += wire === WIRE_FIXED64 ? 8 : 4;
      if (at > message.length) throw new FormatError('truncated protobuf message (not an ONNX model?)');
      yield { field, wire, value: 0, bytes: empty };
    } else {
      throw new FormatError(`unsupported protobuf wire type ${wire} (not an ONNX model?)`);
    }
  }
}

export function utf8(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
}

/** Builds one message; nested messages are built separately and added as bytes. */
export class WireWriter {
  private readonly parts: Uint8Array[] = [];

  varint(field: number, value: number | bigint): this {
    this.parts.push(encodeVarint(field * 8 + WIRE_VARINT), encodeVarint(value));
    return this;
  }

  bytes(field: number, payload: Uint8Array): this {
    this.parts.push(encodeVarint(field * 8 + WIRE_BYTES), encodeVarint(payload.length), payload);
    return this;
  }

  string(field: number, text: string): this {
    return this.bytes(field, Buffer.from(text, 'utf8'));
  }

  message(field: number, nested: WireWriter): this {
    return this.bytes(field, nested.finish());
  }

  float(field: number, value: number): this {
    const payload = Buffer.alloc(4);
    payload.writeFloatLE(value);
    this.parts.push(encodeVarint(field * 8 + WIRE_FIXED32), payload);
    return this;
  }

  finish(): Uint8Array {
    return Buffer.concat(this.parts);
  }
}

/** Negative int64s are written as their 64-bit two's complement, as protobuf does. */
function encodeVarint(value: number | bigint): Uint8Array {
  let v = BigInt.asUintN(64, BigInt(value));
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return Uint8Array.from(out);
}
