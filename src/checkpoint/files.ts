import { extname } from 'node:path';
import { FormatError, ModsurgError, withFile } from '../errors.js';
import { FileSource, type ByteSource } from '../io/byte-source.js';
import { PipeSource } from '../io/pipe-source.js';
import { readTorchZipStream } from './torch-zip-stream.js';
import type { ByteSink } from '../io/byte-sink.js';
import { STDIO } from '../io/files.js';
import type { Checkpoint, CheckpointFormat, FileFormat } from './checkpoint.js';
import type { PyValue } from './pickle/value.js';
import { readSafetensors, writeSafetensors } from './safetensors.js';
import { INDEX_SUFFIX, isIndexName } from './shards.js';
import { sniff } from './sniff.js';
import { soleStateDict, stateDictTensors, toPlainData } from './state-dict.js';
import { readTorchLegacy, writeTorchLegacy } from './torch-legacy.js';
import { planTorchZip, readTorchZip } from './torch-zip.js';
import type { AlignedZipLayout } from '../io/zip.js';

/** Where a checkpoint is read from: a file, or a zip arriving through a pipe. */
export type CheckpointSource = ByteSource | PipeSource;

/** Reads any checkpoint format, telling them apart by their bytes, not their names. */
export function readCheckpoint(source: CheckpointSource): Checkpoint {
  if (source instanceof PipeSource) {
    try {
      return readTorchZipStream(source);
    } catch (error) {
      throw withFile(error, source.name);
    }
  }
  try {
    const sniffed = sniff(source);
    switch (sniffed.kind) {
      case 'zip':
        return readTorchZip(source);
      case 'torch-legacy':
        return readTorchLegacy(source);
      case 'safetensors':
        return readSafetensors(source);
      case 'onnx':
        throw new FormatError('is an ONNX model, not a PyTorch checkpoint');
      case 'unknown':
        throw new FormatError(`not a PyTorch checkpoint (looks like ${sniffed.looksLike})`);
    }
  } catch (error) {
    throw withFile(error, source.name);
  }
}

const extensions: Record<string, FileFormat> = {
  '.pth': 'torch',
  '.pt': 'torch',
  '.bin': 'torch',
  '.ckpt': 'torch',
  '.tar': 'torch',
  '.safetensors': 'safetensors',
  '.onnx': 'onnx',
};

export const FORMAT_NAMES: readonly FileFormat[] = ['torch', 'torch-legacy', 'safetensors', 'onnx'];

/** The format to write: `--format`, else the output's extension, else (stdout) the input's format. */
export function outputFormat(output: string, flag: string | undefined, inputFormat: FileFormat): FileFormat {
  if (flag !== undefined) return flag as FileFormat;
  if (output === STDIO) return inputFormat;
  // a shard index names its shards' format: model.safetensors.index.json, pytorch_model.bin.index.json
  const format = extensions[extname(isIndexName(output) ? output.slice(0, -INDEX_SUFFIX.length) : output).toLowerCase()];
  if (format === undefined) {
    throw new ModsurgError(`cannot tell the output format from the name; use --format ${FORMAT_NAMES.join('|')}`, output);
  }
  return format;
}

export function checkpointFormat(format: FileFormat, output: string): CheckpointFormat {
  if (format === 'onnx') throw new ModsurgError('cannot write a checkpoint as ONNX; export the model with torch.onnx.export', output);
  return format;
}

export interface WriteOptions {
  /** safetensors `__metadata__` to keep ({"format": "pt"} is always set). */
  metadata?: Readonly<Record<string, string>>;
  /** The zip root folder to keep (a torch zip input's). */
  rootFolder?: string;
  /** The input's name, for errors about values that cannot be written. */
  origin?: string;
}

/** A checkpoint ready to be written: what to write, and the input a copy of which holds most of it. */
export interface CheckpointPlan {
  write(sink: ByteSink): void;
  /** The output's size, where it is known before writing. */
  readonly size?: number;
  /** An input file whose copy already holds the output's storages where they belong (`OutputOptions.copyOf`). */
  readonly copyOf?: FileSource;
}

/** Plans writing a checkpoint's object in a format; whole-model objects are written as their state dicts. */
export function planCheckpoint(root: PyValue, format: CheckpointFormat, options: WriteOptions = {}): CheckpointPlan {
  const named = <T>(work: () => T): T => {
    try {
      return work();
    } catch (error) {
      throw options.origin === undefined ? error : withFile(error, options.origin);
    }
  };
  const plain = toPlainData(root);
  switch (format) {
    case 'torch': {
      const layout = named(() => planTorchZip(plain, options.rootFolder === undefined ? {} : { rootFolder: options.rootFolder }));
      const copyOf = inputHoldingMost(layout);
      return {
        write: (sink) => named(() => layout.write(sink)),
        size: layout.size,
        ...(copyOf ? { copyOf } : {}),
      };
    }
    case 'torch-legacy':
      return { write: (sink) => named(() => writeTorchLegacy(plain, sink)) };
    case 'safetensors':
      return { write: (sink) => named(() => writeSafetensors(stateDictTensors(soleStateDict(plain, undefined).dict), { ...(options.metadata ?? {}) }, sink)) };
  }
}

/** Writes a checkpoint's object in a format, start to end. */
export function writeCheckpoint(root: PyValue, format: CheckpointFormat, sink: ByteSink, options: WriteOptions = {}): void {
  planCheckpoint(root, format, options).write(sink);
}

/** The input file a copy of which already holds at least half the output's tensor data in place, if one does. */
function inputHoldingMost(layout: AlignedZipLayout): FileSource | undefined {
  const sources = new Set<FileSource>();
  let data = 0;
  for (const { spec, size } of layout.members) {
    if (spec.data.kind === 'range' && spec.data.range.source instanceof FileSource) sources.add(spec.data.range.source);
    if (spec.data.kind !== 'bytes') data += size;
  }
  return [...sources].find((source) => layout.bytesInPlace(source) * 2 >= data && source.size <= layout.size * 2);
}
