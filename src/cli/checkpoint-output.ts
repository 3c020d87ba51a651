import type { Checkpoint, CheckpointFormat } from '../checkpoint/checkpoint.js';
import { readCheckpoint, writeCheckpoint } from '../checkpoint/files.js';
import type { PyDict, PyValue } from '../checkpoint/pickle/value.js';
import { editStateDicts, isModuleObject, moduleClassName, toPlainData } from '../checkpoint/state-dict.js';
import { withFile } from './errors.js';
import type { ByteSource } from '../io/byte-source.js';
import { writeOutput } from '../io/files.js';
import { Progress, type Reporter } from './report.js';

/**
 * Reads a checkpoint and applies `edit` to each of its state dicts (or to the one at `key`), collecting
 * what each edit says by its path. A whole-model pickle is said to become plain data. Errors name the file.
 */
export function editCheckpointStateDicts<T>(
  source: ByteSource,
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
export async function writeCheckpointOutput(output: string, root: PyValue, format: CheckpointFormat, input: { source: ByteSource; checkpoint?: Checkpoint }): Promise<void> {
  const progress = new Progress('writing', input.source.size);
  const metadata = input.checkpoint?.metadata;
  await writeOutput(output, (sink) => writeCheckpoint(root, format, sink, { ...(metadata ? { metadata } : {}), onProgress: (n) => progress.update(n), origin: input.source.name }));
  progress.finish();
}
