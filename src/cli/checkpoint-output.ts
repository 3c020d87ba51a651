import type { Checkpoint, CheckpointFormat } from '../checkpoint/checkpoint.js';
import { planCheckpoint, readCheckpoint, type CheckpointSource } from '../checkpoint/files.js';
import type { PyDict, PyValue } from '../checkpoint/pickle/value.js';
import { editStateDicts, isModuleObject, moduleClassName, toPlainData } from '../checkpoint/state-dict.js';
import { withFile } from '../errors.js';
import type { ByteSink } from '../io/byte-sink.js';
import { completeInput, writeOutput } from '../io/files.js';
import { PipeSource } from '../io/pipe-source.js';
import { Progress, type Reporter } from './report.js';

/**
 * Reads a checkpoint and applies `edit` to each of its state dicts (or to the one at `key`), collecting
 * what each edit says by its path. A whole-model pickle is said to become plain data. Errors name the file.
 */
export function editCheckpointStateDicts<T>(
  source: CheckpointSource,
  key: string | undefined,
  reporter: Reporter,
  edit: (dict: PyDict) => { dict: PyDict; result: T },
): { checkpoint: Checkpoint; root: PyValue; results: { path: string; result: T }[] } {
  const checkpoint = readCheckpoint(source);
  if (isModuleObject(checkpoint.root)) {
    reporter.info(`${source.name}: whole-model pickle (${moduleClassName(checkpoint.root)}); its state dict is written as plain data`);
  }
  const results: { path: string; result: T }[] = [];
  try {
    const { root } = editStateDicts(toPlainData(checkpoint.root), key, (dict, location) => {
      const edited = edit(dict);
      results.push({ path: location.path.join('.'), result: edited.result });
      return edited.dict;
    });
    return { checkpoint, root, results };
  } catch (error) {
    throw withFile(error, source.name);
  }
}

/**
 * Writes an edited checkpoint's object to `output` in `format`, with a progress bar on a terminal: the
 * input's safetensors metadata carried over, errors about values that cannot be written naming the input.
 * The one way every checkpoint command writes.
 */
export async function writeCheckpointOutput(output: string, root: PyValue, format: CheckpointFormat, input: { source: CheckpointSource; checkpoint?: Checkpoint }): Promise<void> {
  const metadata = input.checkpoint?.metadata;
  const rootFolder = input.checkpoint?.details.rootFolder;
  const plan = planCheckpoint(root, format, { ...(metadata ? { metadata } : {}), ...(rootFolder !== undefined ? { rootFolder } : {}), origin: input.source.name });
  const progress = new Progress('writing', plan.size ?? (input.source instanceof PipeSource ? 0 : input.source.size));
  const write = (sink: ByteSink): void => {
    plan.write(sink, (n) => progress.update(n));
    // a streamed input is read to its end and checked before the output is committed
    completeInput(input.source);
  };
  await writeOutput(output, write, plan.copyOf ? { copyOf: plan.copyOf } : {});
  progress.finish();
}
