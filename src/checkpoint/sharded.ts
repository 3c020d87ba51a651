import { readdirSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { FormatError, ModsurgError, withFile } from '../errors.js';
import { FileSource, type ByteSource } from '../io/byte-source.js';
import { PipeSource } from '../io/pipe-source.js';
import { sniff } from './sniff.js';
import type { ByteSink } from '../io/byte-sink.js';
import { asIoError, openInput, openStreamingInput, readTextInput, STDIO, type OutputFile } from '../io/files.js';
import type { Checkpoint, CheckpointFormat } from './checkpoint.js';
import { dtypeInfo } from './dtype.js';
import { planCheckpoint, readCheckpoint, type CheckpointSource, type WriteOptions } from './files.js';
import { py, type PyDict, type PyValue } from './pickle/value.js';
import { encodeShardIndex, INDEX_SUFFIX, isIndexName, parseShardIndex, planShards, shardFileNames, type ShardIndex } from './shards.js';
import { isStateDict, toPlainData } from './state-dict.js';
import { numelOf, type Storage, type Tensor } from './tensor.js';

/** A sharded checkpoint opened through its index: every shard file open, none read yet. */
export class ShardedSource {
  readonly size: number;
  constructor(
    /** The index's path, as the user named it (or found in the folder they named). */
    readonly name: string,
    readonly index: ShardIndex,
    /** One source per file of `index.files`, in that order. */
    readonly shards: readonly FileSource[],
  ) {
    this.size = shards.reduce((n, shard) => n + shard.size, 0);
  }
  close(): void {
    for (const shard of this.shards) shard.close();
  }
}

/** Any checkpoint input: a file, a zip arriving through a pipe, or a sharded checkpoint. */
export type CheckpointInput = CheckpointSource | ShardedSource;

/** Index names in the order transformers prefers them when a folder holds several. */
const PREFERRED_INDEXES = ['model.safetensors.index.json', 'pytorch_model.bin.index.json'];

/**
 * Opens a checkpoint input: an index (`*.index.json`) or a folder holding one opens the whole sharded
 * checkpoint; anything else is one file (`streaming`: a zip on a pipe is read as it arrives).
 */
export function openCheckpointInput(path: string, options: { streaming: boolean }): CheckpointInput {
  if (path !== STDIO) {
    let isFolder = false;
    try {
      isFolder = statSync(path).isDirectory();
    } catch (error) {
      throw asIoError(error, path);
    }
    if (isFolder) return openShards(join(path, indexInFolder(path)));
    if (isIndexName(path)) return openShards(path);
  }
  return options.streaming ? openStreamingInput(path) : openInput(path);
}

function indexInFolder(folder: string): string {
  const indexes = readdirSync(folder).filter(isIndexName).sort();
  const preferred = PREFERRED_INDEXES.find((name) => indexes.includes(name));
  if (preferred !== undefined) return preferred;
  if (indexes.length === 1) return indexes[0]!;
  if (indexes.length === 0) throw new ModsurgError(`is a folder without a shard index (*${INDEX_SUFFIX}); name the checkpoint file in it`, folder);
  throw new ModsurgError(`holds several shard indexes (${indexes.join(', ')}); name the one to read`, folder);
}

function openShards(indexPath: string): ShardedSource {
  let index: ShardIndex;
  try {
    index = parseShardIndex(readTextInput(indexPath));
  } catch (error) {
    throw withFile(error, indexPath);
  }
  const folder = dirname(indexPath);
  const shards: FileSource[] = [];
  try {
    for (const file of index.files) {
      const path = join(folder, file);
      try {
        shards.push(new FileSource(path, path));
      } catch (error) {
        const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
        throw missing ? new ModsurgError(`shard ${file}, named by the index, does not exist`, indexPath) : asIoError(error, path);
      }
    }
  } catch (error) {
    for (const shard of shards) shard.close();
    throw error;
  }
  return new ShardedSource(indexPath, index, shards);
}

/** Reads any checkpoint input; a sharded one becomes one state dict, its shards read one after another. */
export function readCheckpointInput(source: CheckpointInput): Checkpoint {
  return source instanceof ShardedSource ? readSharded(source) : readCheckpoint(source);
}

/**
 * The shards' state dicts as one, in shard order and each shard's own order, checked against the index:
 * every key in the shard the index names, and nowhere else.
 */
function readSharded(source: ShardedSource): Checkpoint {
  const entries: [PyValue, PyValue][] = [];
  const globals = new Set<string>();
  // every key is checked against the index, so one held by two shards is refused at the second
  const held = new Set<string>();
  let first: { checkpoint: Checkpoint; root: PyDict } | undefined;
  source.index.files.forEach((file, i) => {
    const shardSource = source.shards[i]!;
    const shard = readCheckpoint(shardSource);
    const root = toPlainData(shard.root);
    if (!isStateDict(root) || root.kind !== 'dict') throw new FormatError('is not a flat state dict, as a shard must be', shardSource.name);
    first ??= { checkpoint: shard, root };
    if (shard.format !== first.checkpoint.format) throw new FormatError(`is ${shard.format} but ${source.index.files[0]} is ${first.checkpoint.format}: one index shards one format`, shardSource.name);
    for (const global of shard.globals) globals.add(global);
    for (const [key, value] of root.entries) {
      const name = (key as { value: string }).value;
      const listed = source.index.weightMap.get(name);
      if (listed !== file) {
        const where = listed === undefined ? 'the index does not list it' : `the index puts it in ${listed}`;
        throw new FormatError(`holds '${name}', but ${where}`, shardSource.name);
      }
      held.add(name);
      entries.push([key, value]);
    }
  });
  for (const [key, file] of source.index.weightMap) {
    if (!held.has(key)) throw new FormatError(`lists '${key}' in ${file}, which does not hold it`, source.name);
  }
  const { checkpoint } = first!;
  return {
    format: checkpoint.format,
    root: { kind: 'dict', ordered: first!.root.ordered, entries },
    globals: [...globals],
    ...(checkpoint.metadata ? { metadata: checkpoint.metadata } : {}),
    details: { index: basename(source.name), shards: String(source.shards.length) },
    sharded: { sources: source.shards, metadata: source.index.metadata },
  };
}

export interface ShardedWritePlan {
  /** The shards, then the index: written together by `writeOutputs`. */
  readonly files: OutputFile[];
  readonly shards: { file: string; keys: number; bytes: number }[];
  /** Every file's size where known (for a progress bar). */
  readonly size: number;
}

/**
 * Plans a state dict written as a sharded checkpoint at `indexPath`: shards named as the hub names them,
 * beside the index. The tensors keep the input's shards (a renamed key stays where it was; a new one
 * joins the key before it) unless `maxShardSize` re-splits them in order.
 */
export function planShardedCheckpoint(
  root: PyValue,
  format: CheckpointFormat,
  indexPath: string,
  options: WriteOptions & { maxShardSize?: number; input?: Checkpoint; onProgress?: (bytes: number) => void },
): ShardedWritePlan {
  if (!isStateDict(root) || root.kind !== 'dict') {
    throw new ModsurgError('a sharded checkpoint holds one flat state dict; pick it with --key (e.g. --key state_dict)', indexPath);
  }
  const sources = options.input?.sharded?.sources ?? [];
  const tensorEntries = root.entries.map(([key, value]) => ({ key, name: (key as { value: string }).value, tensor: (value as { kind: 'tensor'; tensor: Tensor }).tensor, value }));
  let previous = 0;
  const entries = tensorEntries.map(({ name, tensor }) => {
    const group = shardOf(tensor.storage, sources);
    if (group !== undefined) previous = group;
    return { key: name, bytes: numelOf(tensor.shape) * dtypeInfo(tensor.dtype).size, group: group ?? previous };
  });
  const keysByShard = planShards(entries, options.maxShardSize);
  const names = shardFileNames(basename(indexPath), keysByShard.length);
  const folder = dirname(indexPath);
  const byName = new Map(tensorEntries.map((entry) => [entry.name, entry]));
  const bytesOf = new Map(entries.map((entry) => [entry.key, entry.bytes]));
  let done = 0;
  const files: OutputFile[] = [];
  const shards: ShardedWritePlan['shards'] = [];
  let size = 0;
  keysByShard.forEach((keys, i) => {
    const file = names[i]!;
    const dict = py.dict(keys.map((key): [PyValue, PyValue] => [byName.get(key)!.key, byName.get(key)!.value]), root.ordered);
    const plan = planCheckpoint(dict, format, { ...options, rootFolder: file.replace(/\.[^.]*$/, '') });
    size += plan.size ?? 0;
    shards.push({ file, keys: keys.length, bytes: keys.reduce((n, key) => n + bytesOf.get(key)!, 0) });
    // progress is the bytes written so far over every shard: this one's, after the shards before it
    let start = 0;
    files.push({
      target: join(folder, file),
      write: (sink: ByteSink) => {
        start = done;
        plan.write(sink);
        done = start + sink.position;
      },
      options: { ...(plan.copyOf ? { copyOf: plan.copyOf } : {}), onProgress: (position) => options.onProgress?.(start + position) },
    });
  });
  const metadata = { ...(options.input?.sharded?.metadata ?? {}) };
  if ('total_parameters' in metadata) metadata.total_parameters = tensorEntries.reduce((n, { tensor }) => n + numelOf(tensor.shape), 0);
  const totalSize = shards.reduce((n, shard) => n + shard.bytes, 0);
  const text = encodeShardIndex(metadata, totalSize, keysByShard.map((keys, i) => ({ file: names[i]!, keys })));
  files.push({ target: indexPath, write: (sink: ByteSink) => sink.write(Buffer.from(text)) });
  return { files, shards, size };
}

/** The input shard a storage's bytes come from (following a cast back to its original), if any. */
function shardOf(storage: Storage, sources: readonly ByteSource[]): number | undefined {
  const data = storage.data;
  if (data.kind === 'range') {
    const at = sources.indexOf(data.range.source);
    return at < 0 ? undefined : at;
  }
  return data.kind === 'computed' && data.from ? shardOf(data.from, sources) : undefined;
}

/** Whether an input is one file holding an ONNX model (not a checkpoint, a pipe or a shard index). */
export function isOnnxFile(source: CheckpointInput): source is ByteSource {
  return !(source instanceof PipeSource) && !(source instanceof ShardedSource) && sniff(source).kind === 'onnx';
}
