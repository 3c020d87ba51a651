import type { Checkpoint, CheckpointFormat } from '../checkpoint/checkpoint.js';
import { planCheckpoint } from '../checkpoint/files.js';
import { planShardedCheckpoint, readCheckpointInput, ShardedSource, type CheckpointInput } from '../checkpoint/sharded.js';
import { isIndexName, parseShardSize } from '../checkpoint/shards.js';
import type { PyDict, PyValue } from '../checkpoint/pickle/value.js';
import { dropUnsafe, type DroppedValue } from '../checkpoint/drop-unsafe.js';
import { editStateDicts, isModuleObject, moduleClassName, toPlainData } from '../checkpoint/state-dict.js';
import { ModsurgError, withFile } from '../errors.js';
import type { ByteSink } from '../io/byte-sink.js';
import { completeInput, STDIO, writeOutput, writeOutputs } from '../io/files.js';
import { PipeSource } from '../io/pipe-source.js';
import { formatBytes } from './render-inspect.js';
import { Progress, type Reporter } from './report.js';

/**
 * Reads a checkpoint and applies `edit` to each of its state dicts (or to the one at `key`), collecting
 * what each edit says by its path. A whole-model pickle is said to become plain data; with `dropUnsafe`,
 * what torch.load(weights_only=True) would refuse is left out, with a warning naming it. Errors name the file.
 */
export function editCheckpointStateDicts<T>(
  source: CheckpointInput,
  options: { key: string | undefined; dropUnsafe: boolean },
  reporter: Reporter,
  edit: (dict: PyDict) => { dict: PyDict; result: T },
): { checkpoint: Checkpoint; root: PyValue; results: { path: string; result: T }[]; dropped: DroppedValue[] } {
  const checkpoint = readCheckpointInput(source);
  if (isModuleObject(checkpoint.root)) {
    reporter.info(`${source.name}: whole-model pickle (${moduleClassName(checkpoint.root)}); its state dict is written as plain data`);
  }
  const results: { path: string; result: T }[] = [];
  try {
    const { root: plain, dropped } = plainData(checkpoint.root, options.dropUnsafe, source.name, reporter);
    const { root } = editStateDicts(plain, options.key, (dict, location) => {
      const edited = edit(dict);
      results.push({ path: location.path.join('.'), result: edited.result });
      return edited.dict;
    });
    return { checkpoint, root, results, dropped };
  } catch (error) {
    throw withFile(error, source.name);
  }
}

/** A checkpoint's object as plain data (modules as state dicts), and with `dropUnsafe` without what torch would refuse. */
export function plainData(root: PyValue, drop: boolean, name: string, reporter: Reporter): { root: PyValue; dropped: DroppedValue[] } {
  const plain = toPlainData(root);
  if (!drop) return { root: plain, dropped: [] };
  const result = dropUnsafe(plain);
  const shown = result.dropped.slice(0, 5).map((d) => `${d.global} at ${d.path}`);
  if (result.dropped.length > 0) {
    reporter.warn(`${name}: left out ${result.dropped.length} value${result.dropped.length === 1 ? '' : 's'} torch.load(weights_only=True) would refuse: ${shown.join(', ')}${result.dropped.length > 5 ? ', …' : ''}`);
  }
  return result;
}

/**
 * Writes an edited checkpoint's object to `output` in `format`, with a progress bar on a terminal: the
 * input's safetensors metadata carried over, errors about values that cannot be written naming the input.
 * An output named `NAME.index.json` is a sharded checkpoint (the input's shards kept, or re-split at
 * `maxShardSize`); any other name merges a sharded input into one file. The one way every checkpoint
 * command writes.
 */
export async function writeCheckpointOutput(
  output: string,
  root: PyValue,
  format: CheckpointFormat,
  input: { source: CheckpointInput; checkpoint?: Checkpoint },
  options: { maxShardSize?: string | undefined; reporter?: Reporter } = {},
): Promise<void> {
  const metadata = input.checkpoint?.metadata;
  const rootFolder = input.checkpoint?.details.rootFolder;
  const writeOptions = { ...(metadata ? { metadata } : {}), origin: input.source.name };
  const inputSize = input.source instanceof PipeSource ? 0 : input.source.size;
  if (output !== STDIO && isIndexName(output)) {
    const maxShardSize = options.maxShardSize === undefined ? undefined : parseShardSize(options.maxShardSize);
    const plan = planShardedCheckpoint(root, format, output, {
      ...writeOptions,
      ...(maxShardSize !== undefined ? { maxShardSize } : {}),
      ...(input.checkpoint ? { input: input.checkpoint } : {}),
      onProgress: (n) => progress.update(n),
    });
    const progress = new Progress('writing', plan.size || inputSize);
    const index = plan.files.at(-1)!;
    // a streamed input is read to its end and checked before any shard is committed
    await writeOutputs([...plan.files.slice(0, -1), { ...index, write: (sink) => (completeInput(input.source), index.write(sink)) }]);
    progress.finish();
    const bytes = plan.shards.map((shard) => `${shard.file} (${shard.keys} tensors, ${formatBytes(shard.bytes)})`);
    options.reporter?.info(`wrote ${plan.shards.length} shard${plan.shards.length === 1 ? '' : 's'} and ${output}: ${bytes.join(', ')}`);
    return;
  }
  if (options.maxShardSize !== undefined) throw new ModsurgError('--max-shard-size applies to a sharded output: -o DIR/NAME.index.json', output);
  const plan = planCheckpoint(root, format, { ...writeOptions, ...(rootFolder !== undefined && !(input.source instanceof ShardedSource) ? { rootFolder } : {}) });
  const progress = new Progress('writing', plan.size ?? inputSize);
  const write = (sink: ByteSink): void => {
    plan.write(sink);
    // a streamed input is read to its end and checked before the output is committed
    completeInput(input.source);
  };
  // the bar follows the bytes written, chunk by chunk: one 2 GB tensor is no 2 GB jump
  await writeOutput(output, write, { ...(plan.copyOf ? { copyOf: plan.copyOf } : {}), onProgress: (n) => progress.update(n) });
  progress.finish();
}
