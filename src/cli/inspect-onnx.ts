import { withFile } from '../errors.js';
import { renderOnnxSummary } from './render-onnx.js';
import type { Reporter } from './report.js';
import { readOnnxModel } from '../graph/model.js';
import { summarizeOnnx, type OnnxSummary } from '../graph/summary.js';
import type { ByteSource } from '../io/byte-source.js';
import { STDIO } from '../io/files.js';

/** `inspect` of an ONNX model: imported only when the input is one, so a checkpoint never loads protobufjs. */
export function inspectOnnx(source: ByteSource, input: string, reporter: Reporter, depth: number): void {
  let summary: OnnxSummary;
  try {
    summary = summarizeOnnx(readOnnxModel(source, input === STDIO ? undefined : input));
  } catch (error) {
    throw withFile(error, source.name);
  }
  reporter.info(renderOnnxSummary(source.name, source.size, summary, reporter.colour, depth));
  reporter.json({
    inputs: [source.name],
    size: source.size,
    format: summary.format,
    irVersion: summary.irVersion,
    opsets: summary.opsets,
    producer: summary.producer,
    graphName: summary.graphName,
    graphInputs: summary.inputs,
    graphOutputs: summary.outputs,
    nodes: summary.nodes,
    ops: summary.ops,
    tensors: summary.tensors,
    totals: summary.totals,
    constants: summary.constants,
    externalData: summary.externalData,
    modules: summary.modules,
    scopeSources: summary.scopeSources,
  });
}
