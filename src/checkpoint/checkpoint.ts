import type { ByteSource } from '../io/byte-source.js';
import type { PyValue } from './pickle/value.js';

/** The file formats modsurg reads and writes. */
export type FileFormat = 'torch' | 'torch-legacy' | 'safetensors' | 'onnx';
export type CheckpointFormat = Exclude<FileFormat, 'onnx'>;

/**
 * A checkpoint file as read: the object it holds (a state dict, a training checkpoint, a whole model)
 * with tensors pointing at byte ranges of the input. Edits replace `root`; writers serialise it.
 */
export interface Checkpoint {
  readonly format: CheckpointFormat;
  readonly root: PyValue;
  /** Every pickle global the file references, in first-seen order (empty for safetensors). */
  readonly globals: readonly string[];
  /** safetensors `__metadata__`, kept when writing safetensors again. */
  readonly metadata?: Readonly<Record<string, string>>;
  /** Facts for `inspect`: the zip root folder, the torch file-format version, byte order. */
  readonly details: Readonly<Record<string, string>>;
  /** For a checkpoint read through a shard index: its shards' sources (in order) and the index's metadata. */
  readonly sharded?: { readonly sources: readonly ByteSource[]; readonly metadata: Readonly<Record<string, unknown>> };
}
