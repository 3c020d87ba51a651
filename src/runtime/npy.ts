import { FormatError } from '../errors.js';
import { numelOf } from '../checkpoint/tensor.js';
import { ELEMENT_INFO, ELEMENT_TYPES, isStringTensor, makeTensor, tensorBytes, type ElementType, type HostTensor, type StringTensor } from './dtypes.js';

/**
 * NumPy's .npy format (versions 1.0, 2.0 and 3.0): a magic string, a Python-literal header dict
 * (`descr`, `fortran_order`, `shape`) and the raw C-order array bytes.
 * https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html
 */

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY
const ALIGNMENT = 64;

const BY_DESCR = new Map<string, ElementType>(
  ELEMENT_TYPES.map((dtype) => [`${ELEMENT_INFO[dtype].npyChar}${ELEMENT_INFO[dtype].bytes}`, dtype]),
);

/** Decodes a whole .npy file. The data is copied into its own aligned buffer; string arrays become text. */
export function parseNpy(bytes: Uint8Array): HostTensor {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buffer.length < 10 || !buffer.subarray(0, 6).equals(MAGIC)) throw new FormatError('not a .npy file (no \\x93NUMPY magic)');
  const major = buffer[6]!;
  let headerLength: number;
  let headerStart: number;
  if (major === 1) {
    headerLength = buffer.readUInt16LE(8);
    headerStart = 10;
  } else if (major === 2 || major === 3) {
    if (buffer.length < 12) throw new FormatError('truncated .npy header');
    headerLength = buffer.readUInt32LE(8);
    headerStart = 12;
  } else {
    throw new FormatError(`unsupported .npy format version ${major}.${buffer[7]}`);
  }
  const dataStart = headerStart + headerLength;
  if (dataStart > buffer.length) throw new FormatError('truncated .npy header');
  const header = buffer.subarray(headerStart, dataStart).toString(major === 3 ? 'utf8' : 'latin1');
  const { descr, fortranOrder, shape } = parseHeader(header);
  if (fortranOrder) {
    throw new FormatError('Fortran-order (column-major) arrays are not supported; save it with np.save(f, np.ascontiguousarray(a))');
  }
  const strings = /^([<>|=]?)([US])(\d+)$/.exec(descr);
  if (strings) return parseStrings(buffer.subarray(dataStart), strings[2] as 'U' | 'S', Number(strings[3]), strings[1] === '>', shape, descr);
  const { dtype, swap } = dtypeOf(descr);
  const info = ELEMENT_INFO[dtype];
  const count = numelOf(shape);
  const byteLength = count * info.bytes;
  if (dataStart + byteLength > buffer.length) {
    throw new FormatError(`truncated .npy data: ${descr} ${formatShape(shape)} needs ${byteLength} bytes, the file has ${buffer.length - dataStart}`);
  }
  const aligned = new ArrayBuffer(byteLength);
  const target = new Uint8Array(aligned);
  target.set(buffer.subarray(dataStart, dataStart + byteLength));
  if (swap) swapBytes(target, info.bytes);
  return makeTensor(dtype, shape, info.view(aligned, 0, count));
}

/**
 * NumPy's fixed-width strings: `U` holds N UTF-32 code units per element, `S` N bytes (taken as UTF-8, as
 * ONNX strings are), both padded with NULs at the end.
 */
function parseStrings(data: Buffer, kind: 'U' | 'S', width: number, bigEndian: boolean, shape: number[], descr: string): StringTensor {
  const count = numelOf(shape);
  const itemBytes = kind === 'U' ? width * 4 : width;
  if (count * itemBytes > data.length) throw new FormatError(`truncated .npy data: ${descr} ${formatShape(shape)} needs ${count * itemBytes} bytes, the file has ${data.length}`);
  const values: string[] = [];
  for (let i = 0; i < count; i++) {
    const item = data.subarray(i * itemBytes, (i + 1) * itemBytes);
    if (kind === 'S') {
      const end = item.indexOf(0);
      values.push(item.subarray(0, end < 0 ? item.length : end).toString('utf8'));
      continue;
    }
    let text = '';
    for (let at = 0; at < item.length; at += 4) {
      const code = bigEndian ? item.readUInt32BE(at) : item.readUInt32LE(at);
      if (code === 0) break;
      text += String.fromCodePoint(code);
    }
    values.push(text);
  }
  return { dtype: 'string', shape, data: values };
}

/** A string tensor's bytes as NumPy's `<U` of its longest element (at least 1). */
function stringBytes(tensor: StringTensor): { descr: string; bytes: Buffer } {
  const points = tensor.data.map((text) => [...text].map((ch) => ch.codePointAt(0)!));
  const width = Math.max(1, ...points.map((p) => p.length));
  const bytes = Buffer.alloc(points.length * width * 4);
  points.forEach((p, i) => p.forEach((code, j) => bytes.writeUInt32LE(code, (i * width + j) * 4)));
  return { descr: `<U${width}`, bytes };
}

/** Encodes a tensor as .npy: version 1.0 unless the header needs more than 64 KiB (then 2.0). */
export function encodeNpy(tensor: HostTensor): Buffer {
  let descr: string;
  let data: Uint8Array;
  if (isStringTensor(tensor)) {
    ({ descr, bytes: data } = stringBytes(tensor));
  } else {
    const info = ELEMENT_INFO[tensor.dtype];
    descr = info.npyChar === 'b' ? '|b1' : `${info.bytes === 1 ? '|' : '<'}${info.npyChar}${info.bytes}`;
    data = tensorBytes(tensor);
  }
  const dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${formatShape(tensor.shape)}, }`;
  const encoded = (prefixLength: number): Buffer => {
    // Pad with spaces and end with a newline so the data starts on a 64-byte boundary.
    const total = prefixLength + dict.length + 1;
    const padding = (ALIGNMENT - (total % ALIGNMENT)) % ALIGNMENT;
    return Buffer.from(`${dict}${' '.repeat(padding)}\n`, 'latin1');
  };
  let header = encoded(10);
  let prefix: Buffer;
  if (header.length <= 0xffff) {
    prefix = Buffer.alloc(10);
    MAGIC.copy(prefix);
    prefix[6] = 1;
    prefix.writeUInt16LE(header.length, 8);
  } else {
    header = encoded(12);
    prefix = Buffer.alloc(12);
    MAGIC.copy(prefix);
    prefix[6] = 2;
    prefix.writeUInt32LE(header.length, 8);
  }
  return Buffer.concat([prefix, header, data]);
}

/** Python's tuple spelling: `()`, `(3,)`, `(2, 3)`. */
export function formatShape(shape: readonly number[]): string {
  if (shape.length === 1) return `(${shape[0]},)`;
  return `(${shape.join(', ')})`;
}

interface NpyHeader {
  descr: string;
  fortranOrder: boolean;
  shape: number[];
}

/** Reads the three keys NumPy writes. The header is a Python literal; only this much of Python is needed. */
function parseHeader(header: string): NpyHeader {
  const descrList = /['"]descr['"]\s*:\s*\[/.exec(header);
  if (descrList) throw new FormatError('structured (record) arrays are not supported; save one plain array per input');
  const descr = /['"]descr['"]\s*:\s*['"]([^'"]*)['"]/.exec(header)?.[1];
  const fortran = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw new FormatError(`malformed .npy header: ${JSON.stringify(header.trim())}`);
  }
  const shape = shapeText
    .split(',')
    .map((part) => part.trim().replace(/L$/, ''))
    .filter((part) => part !== '')
    .map((part) => {
      if (!/^\d+$/.test(part)) throw new FormatError(`malformed .npy shape (${shapeText})`);
      return Number(part);
    });
  return { descr, fortranOrder: fortran === 'True', shape };
}

function dtypeOf(descr: string): { dtype: ElementType; swap: boolean } {
  const order = descr[0];
  const code = /^[<>|=]/.test(descr) ? descr.slice(1) : descr;
  if (code === 'O') throw new FormatError('object arrays (dtype=object) are not supported: they hold pickled Python objects, not numbers');
  if (code.startsWith('a')) throw new FormatError(`byte-string arrays of type ${descr} are not supported; save them as unicode (dtype U) or bytes (dtype S)`);
  if (code.startsWith('V')) throw new FormatError(`void/structured arrays (${descr}) are not supported`);
  if (code.startsWith('c')) throw new FormatError(`complex arrays (${descr}) are not supported by onnxruntime-node`);
  if (code.startsWith('M') || code.startsWith('m')) throw new FormatError(`datetime arrays (${descr}) are not supported`);
  const dtype = code === 'b1' || code === '?' ? 'bool' : BY_DESCR.get(code);
  if (dtype === undefined) throw new FormatError(`unsupported .npy dtype ${descr}`);
  return { dtype, swap: order === '>' && ELEMENT_INFO[dtype].bytes > 1 };
}

function swapBytes(bytes: Uint8Array, width: number): void {
  for (let at = 0; at < bytes.length; at += width) bytes.subarray(at, at + width).reverse();
}
