import { dirname, join, resolve } from 'node:path';
import { FormatError, ModsurgError, withFile } from '../errors.js';
import { sniff } from '../checkpoint/sniff.js';
import type { ByteSource } from '../io/byte-source.js';
import { STDIO, writeOutput } from '../io/files.js';
import { inputHoldingMost, piecesLength, writePieces, type Piece } from '../io/pieces.js';
import {
  checkModelSize,
  hasExternalData,
  planDataLayout,
  replacesExternalData,
  requestedLayout,
  writeModelWithData,
  type ExternalDataFiles,
  type LayoutRequest,
} from './external-data.js';
import { encodeOnnxModel, PROTOBUF_LIMIT, readOnnxModel, type OnnxModel } from './model.js';

/** A checkpoint (or anything else) given where a model is wanted: said plainly, before any parsing. */
export function refuseNonOnnx(source: ByteSource): void {
  const sniffed = sniff(source);
  if (sniffed.kind === 'onnx') return;
  if (sniffed.kind === 'zip' || sniffed.kind === 'torch-legacy') throw new FormatError('is a PyTorch checkpoint, not an ONNX model (torch.onnx.export makes one)');
  if (sniffed.kind === 'safetensors') throw new FormatError('is a safetensors checkpoint, not an ONNX model (torch.onnx.export makes one)');
  throw new FormatError(`is not an ONNX model (it looks like ${sniffed.looksLike})`);
}

/** Reads an ONNX model, with the file named in any error. */
export function readOnnxFile(source: ByteSource): OnnxModel {
  try {
    refuseNonOnnx(source);
    return readOnnxModel(source, source.name === STDIO ? undefined : resolve(source.name));
  } catch (error) {
    throw withFile(error, source.name);
  }
}

/** What writing a model did with its initializers' data, for the report. */
export interface OnnxWriteSummary {
  /** The data file written beside the model (its location), if one was. */
  readonly dataFile: string | undefined;
  /** Initializers in that data file. */
  readonly external: number;
  readonly dataBytes: number;
  /** Initializers moved from external data into the model. */
  readonly inlined: number;
  readonly inlinedBytes: number;
  /** The model still names the input's own data files (an edit written beside its input). */
  readonly keptInputData: boolean;
}

/** Writes a model's bytes, starting from a kernel copy of the input when its weights stay where they were. */
async function writeModelPieces(output: string, pieces: readonly Piece[], onProgress?: (bytes: number, total: number) => void): Promise<void> {
  const copyOf = inputHoldingMost(pieces);
  const total = piecesLength(pieces);
  await writeOutput(output, (sink) => writePieces(sink, pieces, (n) => onProgress?.(n, total)), copyOf ? { copyOf } : {});
}

/** How a command writes its model: a copy (convert) gets data files of its own; an edit may keep the input's. */
export type WritePolicy = 'copy' | 'edit';

/**
 * Writes a model (edited from `input`, or `input` itself) to `request.output` so that it loads there:
 * external data stays valid where the output may keep naming the input's data files, is rewritten beside
 * the output where it goes elsewhere, and is carried inline on stdout, all by one layout decision
 * (`requestedLayout`). The model and its data file appear together or not at all.
 */
export async function writeOnnxOutput(
  input: OnnxModel,
  model: OnnxModel,
  request: LayoutRequest,
  policy: WritePolicy,
  external: ExternalDataFiles,
  onProgress?: (bytes: number, total: number) => void,
): Promise<OnnxWriteSummary> {
  const { output } = request;
  const hasExternal = hasExternalData(model.graph.initializers);
  const besideInput = output !== STDIO && input.folder !== undefined && resolve(dirname(output)) === input.folder;
  const layout = requestedLayout(request, {
    hasExternal,
    replacedExternal: replacesExternalData(input.graph.initializers, model.graph.initializers),
    mayKeepData: policy === 'edit' && besideInput,
  });
  if (layout === undefined) {
    const pieces = encodeOnnxModel(model);
    checkModelSize(pieces, output);
    await writeModelPieces(output, pieces, onProgress);
    return { dataFile: undefined, external: 0, dataBytes: 0, inlined: 0, inlinedBytes: 0, keptInputData: hasExternal };
  }
  const size = piecesLength(encodeOnnxModel(model));
  const plan = planDataLayout(model.graph.initializers, layout, { external: external.opener, inlineBudget: PROTOBUF_LIMIT - size, toStdout: output === STDIO });
  const pieces = encodeOnnxModel({ ...model, graph: { ...model.graph, initializers: plan.initializers } });
  checkModelSize(pieces, output);
  const dataFile = plan.pieces.length > 0 && layout.kind !== 'inline' ? layout.location : undefined;
  if (dataFile === undefined) {
    await writeModelPieces(output, pieces, onProgress);
  } else {
    const dataPath = join(dirname(output), dataFile);
    if (resolve(dataPath) === resolve(output)) throw new ModsurgError('the data file cannot be the model itself', output);
    await writeModelWithData(output, pieces, dataPath, plan.pieces, onProgress);
  }
  return {
    dataFile,
    external: dataFile === undefined ? 0 : plan.external,
    dataBytes: dataFile === undefined ? 0 : plan.dataSize,
    inlined: plan.inlined,
    inlinedBytes: plan.inlinedBytes,
    keptInputData: false,
  };
}
