import { escapeName, FormatError, ModsurgError } from '../errors.js';
import { CHUNK, type ByteSource } from '../io/byte-source.js';
import type { ByteSink } from '../io/byte-sink.js';
import type { Checkpoint } from './checkpoint.js';
import { dtypeFromSafetensors, dtypeInfo, type DType } from './dtype.js';
import { py, type PyValue } from './pickle/value.js';
import { contiguousStride, elementPieces, coversStorageContiguously, numelOf, type Storage, type Tensor } from './tensor.js';
import { storageChunks } from './storage-io.js';

const MAX_HEADER = 100_000_000;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Reads a safetensors file: a little-endian u64 header length, a JSON header, then the tensor bytes.
 * Checked as strictly as the reference implementation: contiguous, non-overlapping offsets covering
 * the whole buffer, and sizes that match the shapes.
 */
export function readSafetensors(source: ByteSource): Checkpoint {
  if (source.size < 8) throw new FormatError('too short for a safetensors file');
  const headerLength = Number(source.read(0, 8).readBigUInt64LE(0));
  if (headerLength > MAX_HEADER) throw new FormatError(`safetensors header of ${headerLength} bytes is too large`);
  if (8 + headerLength > source.size) throw new FormatError('safetensors header runs past the end of the file (truncated?)');
  let header: unknown;
  try {
    // invalid UTF-8 is refused, as the reference reader refuses it, not replaced by U+FFFD
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(source.read(8, headerLength)));
  } catch {
    throw new FormatError('safetensors header is not valid UTF-8 JSON');
  }
  if (!isObject(header)) throw new FormatError('safetensors header is not a JSON object');
  const base = 8 + headerLength;
  const metadata = header.__metadata__;
  if (metadata !== undefined && (!isObject(metadata) || Object.entries(metadata).some(([k, v]) => typeof v !== 'string' || !v.isWellFormed() || !k.isWellFormed()))) {
    throw new FormatError('safetensors __metadata__ must map strings to strings');
  }
  const tensors: { name: string; dtype: DType; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    // a lone surrogate cannot be written back as UTF-8; serde_json refuses it
    if (!name.isWellFormed()) throw new FormatError(`a tensor name holds a lone UTF-16 surrogate (${escapeName(name)})`);
    if (!isObject(info)) throw new FormatError(`tensor ${name} is described by ${JSON.stringify(info)}, not an object with dtype, shape and data_offsets`);
    const { dtype: code, shape, data_offsets: offsets } = info;
    if (typeof code !== 'string') throw new FormatError(`tensor ${name} has no dtype`);
    const dtype = dtypeFromSafetensors(code);
    if (dtype === undefined) throw new FormatError(`tensor ${name} has unsupported dtype ${code}`);
    if (!Array.isArray(shape) || !shape.every((d): d is number => Number.isSafeInteger(d) && (d as number) >= 0)) throw new FormatError(`tensor ${name} has a bad shape`);
    if (!Array.isArray(offsets) || offsets.length !== 2) throw new FormatError(`tensor ${name} has bad data_offsets`);
    const [begin, end] = offsets as unknown[];
    if (!Number.isSafeInteger(begin) || !Number.isSafeInteger(end) || (begin as number) < 0 || (end as number) < (begin as number)) throw new FormatError(`tensor ${name} has bad data_offsets`);
    const [from, to] = [begin as number, end as number];
    const needed = numelOf(shape) * dtypeInfo(dtype).size;
    if (to - from !== needed) throw new FormatError(`tensor ${name} has ${to - from} bytes, its shape [${shape.join(', ')}] needs ${needed}`);
    tensors.push({ name, dtype, shape, begin: from, end: to });
  }
  const byOffset = [...tensors].sort((a, b) => a.begin - b.begin);
  let expected = 0;
  for (const t of byOffset) {
    if (t.begin !== expected) throw new FormatError(`tensor ${t.name} does not start where the previous one ends (overlap or hole in the data)`);
    expected = t.end;
  }
  if (base + expected !== source.size) {
    throw new FormatError(base + expected > source.size ? 'tensor data runs past the end of the file (truncated?)' : 'trailing bytes after the tensor data');
  }
  const root = py.dict(
    byOffset.map((t) => {
      const storage: Storage = {
        key: t.name,
        dtype: t.dtype,
        numel: numelOf(t.shape),
        location: 'cpu',
        data: { kind: 'range', range: { source, offset: base + t.begin, length: t.end - t.begin } },
      };
      const tensor: Tensor = { dtype: t.dtype, shape: t.shape, stride: contiguousStride(t.shape), storageOffset: 0, storage, requiresGrad: false, parameter: false };
      return [py.str(t.name), { kind: 'tensor', tensor }] as [PyValue, PyValue];
    }),
    true,
  );
  return { format: 'safetensors', root, globals: [], ...(metadata ? { metadata: metadata as Record<string, string> } : {}), details: { headerBytes: String(headerLength) } };
}

/**
 * Writes a flat name → tensor mapping as safetensors. Views are materialised contiguously and tensors
 * that share storage are written once per name (safetensors has no sharing). Tensors are ordered by
 * descending element size, then name, as the reference writer does, so each one is aligned.
 */
export function writeSafetensors(tensors: [string, Tensor][], metadata: Record<string, string>, sink: ByteSink): void {
  for (const [name, tensor] of tensors) {
    if (dtypeInfo(tensor.dtype).safetensors === undefined) throw new ModsurgError(`cannot write ${name}: safetensors has no ${tensor.dtype} dtype`);
  }
  const ordered = [...tensors].sort(([an, a], [bn, b]) => dtypeInfo(b.dtype).size - dtypeInfo(a.dtype).size || (an < bn ? -1 : an > bn ? 1 : 0));
  // no prototype: a tensor named __proto__ is a key like any other, not the object's prototype
  const header: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  header.__metadata__ = { ...metadata, format: metadata.format ?? 'pt' };
  let offset = 0;
  for (const [name, tensor] of ordered) {
    const length = numelOf(tensor.shape) * dtypeInfo(tensor.dtype).size;
    header[name] = { dtype: dtypeInfo(tensor.dtype).safetensors, shape: tensor.shape, data_offsets: [offset, offset + length] };
    offset += length;
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const padded = Math.ceil(json.length / 8) * 8;
  json = Buffer.concat([json, Buffer.alloc(padded - json.length, ' ')]);
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  sink.write(length);
  sink.write(json);
  for (const [, tensor] of ordered) {
    if (coversStorageContiguously(tensor)) for (const chunk of storageChunks(tensor.storage)) sink.write(chunk);
    else for (const piece of elementPieces(tensor, Math.floor(CHUNK / dtypeInfo(tensor.dtype).size))) sink.write(piece);
  }
}
