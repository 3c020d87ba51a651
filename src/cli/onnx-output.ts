import * as Flags from '@oclif/core/flags';
import { checkLayoutRequest, DEFAULT_SIZE_THRESHOLD, type ExternalDataFiles, type LayoutRequest } from '../graph/external-data.js';
import { writeOnnxOutput, type OnnxWriteSummary, type WritePolicy } from '../graph/files.js';
import type { ValueType } from '../graph/graph.js';
import type { OnnxModel } from '../graph/model.js';
import { ModelLoadError, onnxruntimeOutputTypes } from '../runtime/check-model.js';
import { ModsurgError } from '../errors.js';
import { formatBytes } from './render-inspect.js';
import { Progress } from './report.js';

/** Where an ONNX output keeps its initializers: the flags of convert and of every ONNX edit. */
export const onnxOutputFlags = {
  'external-data': Flags.boolean({ description: 'ONNX: store initializers of at least --size-threshold bytes in a data file beside the output' }),
  inline: Flags.boolean({ description: 'ONNX: store every initializer inside the model (refused past 2 GiB)' }),
  'data-file': Flags.string({ description: "ONNX: the data file's name, relative to the output's folder (default: OUTPUT's name + .data)" }),
  'size-threshold': Flags.integer({
    description: `ONNX: with --external-data, the smallest initializer (bytes) to move out (default ${DEFAULT_SIZE_THRESHOLD}, as onnx)`,
    min: 0,
  }),
};

export interface OnnxOutputFlags {
  output: string;
  'external-data': boolean;
  inline: boolean;
  'data-file'?: string | undefined;
  'size-threshold'?: number | undefined;
}

/** The flags as a layout request, checked: commands call this first, so contradicting flags fail before any work. */
export function layoutRequest(flags: OnnxOutputFlags): LayoutRequest {
  return checkLayoutRequest({ output: flags.output, inline: flags.inline, externalData: flags['external-data'], dataFile: flags['data-file'], sizeThreshold: flags['size-threshold'] });
}

/** Writes a model with a progress bar for its data file; the one way every ONNX command writes. */
export async function writeOnnxWithProgress(input: OnnxModel, model: OnnxModel, request: LayoutRequest, policy: WritePolicy, external: ExternalDataFiles): Promise<OnnxWriteSummary> {
  const progress = new Progress('writing', 0);
  try {
    return await writeOnnxOutput(input, model, request, policy, external, (n, total) => progress.update(n, total));
  } finally {
    progress.finish();
  }
}

/**
 * The end of every ONNX edit: the edited model is loaded in onnxruntime first (a model it cannot load is
 * refused, not written), then written so that it loads where it goes. Returns onnxruntime's types of the
 * outputs and what was done with the data.
 */
export async function checkAndWriteEdit(
  input: OnnxModel,
  edited: OnnxModel,
  request: LayoutRequest,
  external: ExternalDataFiles,
  /** Completes the model with what onnxruntime inferred (add-output declares its new outputs' types). */
  complete: (model: OnnxModel, types: ReadonlyMap<string, ValueType>) => OnnxModel = (model) => model,
): Promise<{ model: OnnxModel; types: ReadonlyMap<string, ValueType>; written: OnnxWriteSummary }> {
  let types: ReadonlyMap<string, ValueType>;
  try {
    types = await onnxruntimeOutputTypes(edited);
  } catch (error) {
    if (!(error instanceof ModelLoadError)) throw error;
    throw new ModsurgError(`the edited model would not load, so nothing was written: ${error.message}`);
  }
  const model = complete(edited, types);
  const written = await writeOnnxWithProgress(input, model, request, 'edit', external);
  return { model, types, written };
}

/** The line that says where the weights went, when that is worth saying. */
export function describeData(written: OnnxWriteSummary, input: OnnxModel): string | undefined {
  if (written.dataFile !== undefined) return `${written.external} initializers (${formatBytes(written.dataBytes)}) in ${written.dataFile}, beside the model`;
  if (written.inlined > 0) return `${written.inlined} initializers (${formatBytes(written.inlinedBytes)}) of external data moved into the model`;
  if (written.keptInputData) return `external data: the model still reads the input's data file, in ${input.folder}`;
  return undefined;
}
