import { escapeName, FormatError, ModsurgError } from '../errors.js';

/**
 * The hub's sharded checkpoints, as transformers and huggingface_hub write them: shard files of one flat
 * state dict each (`model-00001-of-00004.safetensors`, `pytorch_model-00001-of-00004.bin`) and an index,
 * `model.safetensors.index.json` / `pytorch_model.bin.index.json`, that maps every key to its shard:
 * `{"metadata": {"total_size": bytes, …}, "weight_map": {key: file}}`. This module is the index and
 * the arithmetic of splitting; reading and writing the shards is in `sharded.ts`.
 */
export interface ShardIndex {
  /** `metadata` without `total_size` (which is recomputed when written): `total_parameters` and the like. */
  readonly metadata: Readonly<Record<string, unknown>>;
  /** Each key's shard file, in the index's order. */
  readonly weightMap: ReadonlyMap<string, string>;
  /** The shard files, in the order their names sort (the hub numbers them). */
  readonly files: readonly string[];
}

export const INDEX_SUFFIX = '.index.json';

export function isIndexName(path: string): boolean {
  return path.toLowerCase().endsWith(INDEX_SUFFIX);
}

/** Parses an index, refusing anything that would make a shard's name reach outside the index's folder. */
export function parseShardIndex(text: string): ShardIndex {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new FormatError(`not a shard index: invalid JSON (${(error as Error).message})`);
  }
  const object = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
  if (!object(json) || !object(json.weight_map)) throw new FormatError('not a shard index: no "weight_map" object');
  const metadata = object(json.metadata) ? { ...json.metadata } : {};
  delete metadata.total_size;
  const weightMap = new Map<string, string>();
  for (const [key, file] of Object.entries(json.weight_map)) {
    if (typeof file !== 'string') throw new FormatError(`shard index: the shard of '${key}' is not a file name`);
    if (file === '' || file === '.' || file === '..' || /[/\\\0]/.test(file)) {
      throw new FormatError(`shard index: '${escapeName(file)}' (the shard of '${key}') is not a file name in the index's folder`);
    }
    weightMap.set(key, file);
  }
  if (weightMap.size === 0) throw new FormatError('shard index: "weight_map" names no tensors');
  const files = [...new Set(weightMap.values())].sort();
  return { metadata, weightMap, files };
}

/**
 * The shard file names the hub gives `count` shards of an index: `model.safetensors.index.json` →
 * `model-00001-of-00004.safetensors`, `pytorch_model.bin.index.json` → `pytorch_model-00001-of-00004.bin`.
 * One shard keeps the plain name (`model.safetensors`), as the hub saves an unsharded model.
 */
export function shardFileNames(indexName: string, count: number): string[] {
  const base = indexName.slice(0, indexName.length - INDEX_SUFFIX.length);
  const dot = base.lastIndexOf('.');
  const [stem, extension] = dot > 0 ? [base.slice(0, dot), base.slice(dot)] : [base, ''];
  if (count === 1) return [base];
  const pad = (n: number): string => String(n).padStart(5, '0');
  return Array.from({ length: count }, (_, i) => `${stem}-${pad(i + 1)}-of-${pad(count)}${extension}`);
}

const UNITS: Record<string, number> = { B: 1, KB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12, KIB: 2 ** 10, MIB: 2 ** 20, GIB: 2 ** 30, TIB: 2 ** 40 };

/** `--max-shard-size`: hub units (`5GB` is 5·10⁹ bytes, `5GiB` 5·2³⁰), or a plain number of bytes. */
export function parseShardSize(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const unit = match?.[2] === '' ? 1 : UNITS[match?.[2]?.toUpperCase() ?? ''];
  const bytes = match && unit !== undefined ? Math.floor(Number(match[1]) * unit) : NaN;
  if (!(bytes >= 1)) throw new ModsurgError(`--max-shard-size must be a size such as 5GB, 500MB or 2GiB, not '${text}'`);
  return bytes;
}

/** A tensor of the state dict to shard: its key, its size and the input shard it came from. */
export interface ShardEntry {
  readonly key: string;
  readonly bytes: number;
  readonly group: number;
}

/**
 * Which keys go in which shard, in order. Without a limit the input's grouping is kept (shards in the
 * order they first appear, an empty one dropped); with one, keys are taken in order and a shard is
 * closed before the tensor that would take it past the limit, so a shard is over only when one tensor is.
 */
export function planShards(entries: readonly ShardEntry[], maxBytes?: number): string[][] {
  if (maxBytes === undefined) {
    const groups = new Map<number, string[]>();
    for (const { key, group } of entries) {
      const keys = groups.get(group) ?? [];
      keys.push(key);
      groups.set(group, keys);
    }
    return [...groups.values()];
  }
  const shards: string[][] = [];
  let current: string[] = [];
  let size = 0;
  for (const { key, bytes } of entries) {
    if (current.length > 0 && size + bytes > maxBytes) {
      shards.push(current);
      current = [];
      size = 0;
    }
    current.push(key);
    size += bytes;
  }
  if (current.length > 0) shards.push(current);
  return shards;
}

/** The index as transformers writes it: keys sorted at every level, two-space indent, a final newline. */
export function encodeShardIndex(metadata: Readonly<Record<string, unknown>>, totalSize: number, shards: readonly { file: string; keys: readonly string[] }[]): string {
  const weightMap: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const { file, keys } of shards) for (const key of keys) weightMap[key] = file;
  return `${JSON.stringify({ metadata: { ...metadata, total_size: totalSize }, weight_map: weightMap }, sortedKeys, 2)}\n`;
}

function sortedKeys(_key: string, value: unknown): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  return Object.fromEntries(Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
