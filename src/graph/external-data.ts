import { realpathSync, statSync } from 'node:fs';
import { basename, isAbsolute, join, posix, sep, win32 } from 'node:path';
import { escapeName, ModsurgError, withFile } from '../errors.js';
import type { ByteSource } from '../io/byte-source.js';
import { openInput, STDIO, writeOutput } from '../io/files.js';
import { inputHoldingMost, piecesLength, writePieces, type Piece } from '../io/pieces.js';
import { PROTOBUF_LIMIT } from './model.js';
import type { Initializer } from './graph.js';
import {
  initializerBytes,
  initializerWithExternalData,
  initializerWithRawData,
  readTensorFields,
  type InitializerBytes,
  type ReadInitializerOptions,
} from './initializers.js';

/**
 * External data: initializer bytes kept in a file beside the model (TensorProto.external_data), how
 * models over protobuf's 2 GiB limit are stored. Reading follows onnxruntime's rules; writing lays the
 * data out as torch.onnx (onnx-ir) does.
 */

/** onnx's convert_model_to_external_data default: tensors of at least this many bytes move out. */
export const DEFAULT_SIZE_THRESHOLD = 1024;

/**
 * Offsets as torch.onnx writes them (onnx-ir `_compute_new_offset`): tensors over 1 MiB start on a 64 KiB
 * boundary (the mmap allocation granularity on every OS, and a multiple of the 4 KiB page the spec asks
 * for); smaller ones are packed, so many small tensors waste no padding. onnx's own helper does not align.
 */
const ALIGN_ABOVE = 1 << 20;
const ALIGNMENT = 64 << 10;

export function alignedOffset(end: number, length: number): number {
  return length > ALIGN_ABOVE ? Math.ceil(end / ALIGNMENT) * ALIGNMENT : end;
}

/** The name torch and onnx give a model's data file: the model's file name plus `.data`. */
export function defaultDataFileName(modelFileName: string): string {
  return `${modelFileName}.data`;
}

/**
 * A location as onnxruntime accepts it: relative, and inside the model's folder once normalised. Returns
 * the normalised POSIX form.
 */
export function checkLocation(location: string, what: string): string {
  if (location === '') throw new ModsurgError(`${what}: empty external data location`);
  if (posix.isAbsolute(location) || win32.isAbsolute(location) || isAbsolute(location)) {
    throw new ModsurgError(`${what}: external data location '${escapeName(location)}' is absolute; onnxruntime only accepts paths relative to the model's folder`);
  }
  if (location.includes('\\') || location.includes('\0')) {
    throw new ModsurgError(`${what}: external data location '${escapeName(location)}' holds a backslash or a NUL; ONNX locations are relative POSIX paths`);
  }
  const normal = posix.normalize(location.replaceAll('\\', '/'));
  if (normal === '..' || normal.startsWith('../')) {
    throw new ModsurgError(`${what}: external data location '${escapeName(location)}' escapes the model's folder; onnxruntime refuses it`);
  }
  if (normal === '.' || normal.endsWith('/')) throw new ModsurgError(`${what}: external data location '${escapeName(location)}' names a folder, not a file`);
  return normal;
}

/**
 * The file a checked location names, refused unless it is a regular file inside the model's folder once
 * symbolic links are resolved: a link to /etc/passwd, a FIFO that would hang a read, or a device is never
 * read, let alone copied into an output.
 */
function dataFileInFolder(folder: string, relative: string, what: string): string {
  const path = join(folder, relative);
  let real: string;
  let root: string;
  try {
    real = realpathSync(path);
    root = realpathSync(folder);
  } catch {
    throw new ModsurgError(`${what}: external data file ${path}: no such file`);
  }
  if (!real.startsWith(root.endsWith(sep) ? root : root + sep)) {
    throw new ModsurgError(`${what}: external data file ${path} is a link to ${real}, outside the model's folder; refusing to read it`);
  }
  if (!statSync(real).isFile()) throw new ModsurgError(`${what}: external data file ${path} is not a regular file; refusing to read it`);
  return real;
}

/** A model read from stdin has no folder, so the data files it names cannot be found. */
function unreachableFromStdin(tensorName: string, location: string): ModsurgError {
  return new ModsurgError(`initializer '${tensorName}' keeps its data in '${location}', which cannot be found for a model read from stdin; name the model's file`);
}

/**
 * Opens external data files relative to a model's folder, each once; `close` closes them all. A model read
 * from stdin has no folder, so its external data cannot be found.
 */
export class ExternalDataFiles {
  private readonly open = new Map<string, ByteSource>();

  constructor(
    private readonly folder: string | undefined,
    private readonly modelName: string,
  ) {}

  readonly opener = (location: string, tensorName: string): ByteSource => {
    const relative = checkLocation(location, `initializer '${tensorName}'`);
    if (this.folder === undefined) {
      throw unreachableFromStdin(tensorName, location);
    }
    const path = join(this.folder, relative);
    let source = this.open.get(path);
    if (!source) {
      let real: string;
      try {
        real = dataFileInFolder(this.folder, relative, `initializer '${tensorName}'`);
      } catch (error) {
        throw withFile(error, this.modelName);
      }
      try {
        source = openInput(real);
      } catch (error) {
        const reason = error instanceof ModsurgError ? error.message : String(error);
        throw new ModsurgError(`initializer '${tensorName}': external data file ${path}: ${reason}`, this.modelName);
      }
      this.open.set(path, source);
    }
    return source;
  };

  close(): void {
    for (const source of this.open.values()) source.close();
    this.open.clear();
  }
}

/**
 * Checks every external initializer of a model before anything else reads it (onnxruntime included, which
 * follows links): a location inside the model's folder naming a regular file there, its offset and length
 * inside that file.
 */
export function checkExternalData(initializers: readonly Initializer[], folder: string | undefined, modelName: string): void {
  const files = new ExternalDataFiles(folder, modelName);
  try {
    for (const item of initializers) {
      const fields = readTensorFields(item);
      if (fields.data.kind === 'external') initializerBytes(fields, { external: files.opener });
    }
  } finally {
    files.close();
  }
}

/** What a model's initializers should look like when written. */
export type DataLayout =
  /** Every initializer of at least `threshold` bytes in one file at `location`; smaller ones inline. */
  | { readonly kind: 'external'; readonly location: string; readonly threshold: number }
  /** Every initializer inline (raw_data). */
  | { readonly kind: 'inline' }
  /** External initializers stay external, moved into one file at `location` (beside the new model). */
  | { readonly kind: 'relocate'; readonly location: string };

/** What the user asked for a model's initializers (convert's and every ONNX edit's flags). */
export interface LayoutRequest {
  /** The model's output path (`-`: stdout). */
  readonly output: string;
  readonly inline: boolean;
  readonly externalData: boolean;
  readonly dataFile?: string | undefined;
  readonly sizeThreshold?: number | undefined;
}

/** Refuses flags that contradict each other, before any work is done. */
export function checkLayoutRequest(request: LayoutRequest): LayoutRequest {
  const { output, inline, externalData, dataFile, sizeThreshold } = request;
  if (inline && externalData) throw new ModsurgError('--inline and --external-data contradict each other; choose one');
  if (sizeThreshold !== undefined && !externalData) throw new ModsurgError('--size-threshold needs --external-data');
  if (dataFile !== undefined && inline) throw new ModsurgError('--data-file needs --external-data (--inline writes no data file)');
  if (externalData && output === STDIO) throw new ModsurgError('stdout cannot carry external data; write to a file, or use --inline', output);
  if (dataFile !== undefined) checkLocation(dataFile, '--data-file');
  return request;
}

/** What the layout depends on besides the request. */
export interface LayoutFacts {
  /** The model to write has external initializers. */
  readonly hasExternal: boolean;
  /** An edit gave new in-memory values to initializers the input kept external (load-weights). */
  readonly replacedExternal: boolean;
  /** The model may keep naming the input's data files: an edit written into the input's own folder,
   *  where those files stay valid. A copy (convert) always gets a data file of its own. */
  readonly mayKeepData: boolean;
}

/**
 * The layout a request asks for; undefined when nothing moves and the model is written as it is. The
 * result must load wherever it is written: a model with external data written elsewhere gets its data
 * file rewritten beside the output (`OUT.data`), and stdout carries it inline.
 */
export function requestedLayout(request: LayoutRequest, facts: LayoutFacts): DataLayout | undefined {
  checkLayoutRequest(request);
  const { output, inline, externalData, dataFile, sizeThreshold } = request;
  if (dataFile !== undefined && !externalData && (inline || !facts.hasExternal)) {
    throw new ModsurgError(`--data-file needs --external-data (${inline ? '--inline writes no data file' : 'the model has no external data'})`);
  }
  const location = (): string => {
    if (output === STDIO) throw new ModsurgError('stdout cannot carry external data; write to a file, or use --inline', output);
    return checkLocation(dataFile ?? defaultDataFileName(basename(output)), '--data-file');
  };
  if (inline) return { kind: 'inline' };
  if (externalData) return { kind: 'external', location: location(), threshold: sizeThreshold ?? DEFAULT_SIZE_THRESHOLD };
  // a stream has no folder beside it: what the model needs goes inside it (up to protobuf's limit)
  if (output === STDIO) return facts.hasExternal ? { kind: 'inline' } : undefined;
  // the new values must not make the model inline what the input kept outside (it may be > 2 GiB)
  if (facts.replacedExternal) return { kind: 'external', location: location(), threshold: DEFAULT_SIZE_THRESHOLD };
  if (facts.hasExternal && (!facts.mayKeepData || dataFile !== undefined)) return { kind: 'relocate', location: location() };
  return undefined;
}

export function hasExternalData(initializers: readonly Initializer[]): boolean {
  return initializers.some((item) => readTensorFields(item).data.kind === 'external');
}

/** True when `edited` holds in-memory values for an initializer that `input` kept in external data. */
export function replacesExternalData(input: readonly Initializer[], edited: readonly Initializer[]): boolean {
  const external = new Set(input.filter((item) => readTensorFields(item).data.kind === 'external').map((item) => item.proto.name ?? ''));
  if (external.size === 0) return false;
  return edited.some((item) => external.has(item.proto.name ?? '') && readTensorFields(item).data.kind !== 'external');
}

/** One initializer's bytes in the data file. */
export interface DataPiece {
  readonly name: string;
  readonly offset: number;
  readonly bytes: InitializerBytes;
}

export interface LayoutPlan {
  /** The graph's initializers, rewritten where their data moves. */
  readonly initializers: Initializer[];
  /** What the data file holds, in order; empty when nothing is external. */
  readonly pieces: DataPiece[];
  readonly dataSize: number;
  /** Initializers moved out of the model (or into the new data file). */
  readonly external: number;
  /** Initializers moved back into the model. */
  readonly inlined: number;
  /** Bytes moved back into the model. */
  readonly inlinedBytes: number;
}

const STRING = 8;

/**
 * Plans where each initializer's bytes go. Nothing is read yet except the external bytes being inlined,
 * and those only after checking they fit in `inlineBudget` bytes (what protobuf's limit leaves).
 */
export function planDataLayout(
  initializers: readonly Initializer[],
  layout: DataLayout,
  options: ReadInitializerOptions & { inlineBudget?: number; toStdout?: boolean },
): LayoutPlan {
  const pieces: DataPiece[] = [];
  let end = 0;
  const placed = (item: Initializer, name: string, bytes: InitializerBytes, location: string): Initializer => {
    const offset = alignedOffset(end, bytes.length);
    pieces.push({ name, offset, bytes });
    end = offset + bytes.length;
    return initializerWithExternalData(item, { location, offset, length: bytes.length });
  };
  interface Decision {
    item: Initializer;
    /** Placed in the data file. */
    moved?: boolean;
    /** External now, to be written inline. */
    inline?: boolean;
    bytes?: InitializerBytes;
  }
  const decided = initializers.map((item): Decision => {
    const fields = readTensorFields(item);
    const isExternal = fields.data.kind === 'external';
    // strings have no raw byte form, and a tensor without data has nothing to move
    if (fields.elemType === STRING || fields.data.kind === 'none') return { item };
    switch (layout.kind) {
      case 'external': {
        const bytes = initializerBytes(fields, options);
        if (bytes.length >= layout.threshold) return { item: placed(item, fields.name, bytes, layout.location), moved: true };
        return { item, inline: isExternal, bytes };
      }
      case 'relocate':
        return isExternal ? { item: placed(item, fields.name, initializerBytes(fields, options), layout.location), moved: true } : { item };
      case 'inline':
        return isExternal ? { item, inline: true, bytes: initializerBytes(fields, options) } : { item };
    }
  });
  const toInline = decided.filter((d) => d.inline);
  const inlinedBytes = toInline.reduce((n, d) => n + (d.bytes?.length ?? 0), 0);
  if (options.inlineBudget !== undefined && inlinedBytes > options.inlineBudget) {
    throw new ModsurgError(
      `moving ${inlinedBytes.toLocaleString('en-US')} bytes of external data into the model would take it past protobuf's 2 GiB limit; ${
        options.toStdout ? 'stdout can only carry a model whole: write it to a file (-o FILE), which keeps them external' : 'keep them external (--external-data)'
      }`,
    );
  }
  return {
    initializers: decided.map((d) => (d.inline && d.bytes ? initializerWithRawData(d.item, pieceOf(d.bytes)) : d.item)),
    pieces,
    dataSize: end,
    external: decided.filter((d) => d.moved).length,
    inlined: toInline.length,
    inlinedBytes,
  };
}

/** An initializer's bytes as one piece: a range stays a range, to be copied when written. */
function pieceOf(bytes: InitializerBytes): Piece {
  switch (bytes.data.kind) {
    case 'range':
      return bytes.data.range;
    case 'bytes':
      return bytes.data.bytes;
    case 'computed':
      return Buffer.concat([...bytes.data.chunks()]);
  }
}

/** A data file's bytes: each initializer at its offset, zeros in the alignment gaps. */
export function dataFilePieces(pieces: readonly DataPiece[]): Piece[] {
  const out: Piece[] = [];
  let at = 0;
  for (const piece of pieces) {
    if (at < piece.offset) out.push(new Uint8Array(piece.offset - at));
    out.push(pieceOf(piece.bytes));
    at = piece.offset + piece.bytes.length;
  }
  return out;
}

/**
 * Writes a model and its data file so that both appear or neither does: each goes to a temporary file, and
 * the model is renamed into place only after its data file has been. On any error both temporaries go. A
 * data file whose initializers keep the offsets they had in the input's starts as a kernel copy of it.
 */
export async function writeModelWithData(
  modelPath: string,
  model: readonly Piece[],
  dataPath: string,
  pieces: readonly DataPiece[],
  onProgress?: (bytes: number, total: number) => void,
): Promise<void> {
  const data = dataFilePieces(pieces);
  const total = piecesLength(data);
  const copyOf = inputHoldingMost(data);
  await writeOutput(modelPath, async (modelSink) => {
    writePieces(modelSink, model);
    await writeOutput(dataPath, (dataSink) => writePieces(dataSink, data, (n) => onProgress?.(n, total)), copyOf ? { copyOf } : {});
  });
}

/** The size of a model's bytes, checked against protobuf's limit. */
export function checkModelSize(pieces: readonly Piece[], what: string): number {
  const size = piecesLength(pieces);
  if (size > PROTOBUF_LIMIT) {
    throw new ModsurgError(`${what} would be ${size.toLocaleString('en-US')} bytes, over protobuf's 2 GiB limit; keep the weights as external data (--external-data)`);
  }
  return size;
}
