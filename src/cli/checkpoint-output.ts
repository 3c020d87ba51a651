import type { Checkpoint, CheckpointFormat } from '../checkpoint/checkpoint.js';
import { writeCheckpoint } from '../checkpoint/files.js';
import type { PyValue } from '../checkpoint/pickle/value.js';
import type { ByteSource } from '../io/byte-source.js';
import { writeOutput } from '../io/files.js';
import { Progress } from './report.js';

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
