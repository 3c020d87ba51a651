import { extname } from 'node:path';
import { FormatError, ModsurgError, withFile } from '../cli/errors.js';
import type { ByteSource } from '../io/byte-source.js';
import type { ByteSink } from '../io/byte-sink.js';
import { STDIO } from '../io/files.js';
import type { Checkpoint, CheckpointFormat, FileFormat } from './checkpoint.js';
import type { PyValue } from './pickle/value.js';
import { readSafetensors, writeSafetensors } from './safetensors.js';
import { sniff } from './sniff.js';
import { soleStateDict, stateDictTensors, toPlainData } from './state-dict.js';
import { readTorchLegacy, writeTorchLegacy } from './torch-legacy.js';
import { readTorchZip, writeTorchZip } from './torch-zip.js';

/** Reads any checkpoint format, telling them apart by their bytes, not their names. */
export function readCheckpoint(source: ByteSource): Checkpoint {
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
  const format = extensions[extname(output).toLowerCase()];
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
  onProgress?: (bytes: number) => void;
  /** The input's name, for errors about values that cannot be written. */
  origin?: string;
}

/** Writes a checkpoint's object in a format; whole-model objects are written as their state dicts. */
export function writeCheckpoint(root: PyValue, format: CheckpointFormat, sink: ByteSink, options: WriteOptions = {}): void {
  const plain = toPlainData(root);
  try {
    switch (format) {
      case 'torch':
        return writeTorchZip(plain, sink, options.onProgress);
      case 'torch-legacy':
        return writeTorchLegacy(plain, sink);
      case 'safetensors':
        return writeSafetensors(stateDictTensors(soleStateDict(plain, undefined).dict), { ...(options.metadata ?? {}) }, sink);
    }
  } catch (error) {
    throw options.origin === undefined ? error : withFile(error, options.origin);
  }
}
