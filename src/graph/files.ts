import { resolve } from 'node:path';
import { FormatError, withFile } from '../cli/errors.js';
import { sniff } from '../checkpoint/sniff.js';
import type { ByteSource } from '../io/byte-source.js';
import type { ByteSink } from '../io/byte-sink.js';
import { STDIO } from '../io/files.js';
import { encodeOnnxModel, readOnnxModel, type OnnxModel } from './model.js';

/** Reads an ONNX model, with the file named in any error. */
export function readOnnxFile(source: ByteSource): OnnxModel {
  try {
    const sniffed = sniff(source);
    if (sniffed.kind !== 'onnx') {
      const what = sniffed.kind === 'unknown' ? sniffed.looksLike : sniffed.kind === 'zip' || sniffed.kind === 'torch-legacy' ? 'a PyTorch checkpoint' : sniffed.kind;
      throw new FormatError(`not an ONNX model (looks like ${what})`);
    }
    return readOnnxModel(source, source.name === STDIO ? undefined : resolve(source.name));
  } catch (error) {
    throw withFile(error, source.name);
  }
}

export function writeOnnxModel(model: OnnxModel, sink: ByteSink): void {
  for (const chunk of encodeOnnxModel(model)) sink.write(chunk);
}
