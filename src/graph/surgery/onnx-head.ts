import { ModsurgError } from '../../errors.js';
import type { CastTarget } from '../../checkpoint/numeric.js';
import type { HeadSpec, ResolvedHead } from '../../head/layers.js';
import { resolveHead } from '../../head/resolve.js';
import { headParametersFrom, type ParameterSource } from '../../head/source.js';
import { printHead } from '../../head/torch-repr.js';
import type { OnnxModel } from '../model.js';
import { findHeadSite, type HeadSite } from './head-site.js';
import { replaceHead } from './replace-head.js';

export interface OnnxHeadReplacement {
  readonly model: OnnxModel;
  readonly site: HeadSite;
  readonly head: ResolvedHead;
  /** The op types of the nodes the head replaced. */
  readonly removedOps: string[];
}

/** The model's default-domain (ai.onnx) opset: it decides which ops a new head may use. */
export function defaultOpset(model: OnnxModel): number {
  const opset = model.header.opsets.find((o) => o.domain === '' || o.domain === 'ai.onnx');
  if (!opset) throw new ModsurgError('the model imports no ai.onnx opset');
  return opset.version;
}

const CAST_TARGETS: readonly string[] = ['float16', 'bfloat16', 'float32', 'float64'];

/** replace-head on an ONNX model: find the module, resolve the head against it, swap the nodes. */
export function replaceHeadInOnnx(model: OnnxModel, at: string | undefined, spec: HeadSpec, source: ParameterSource): OnnxHeadReplacement {
  const site = findHeadSite(model.graph, at);
  if (!CAST_TARGETS.includes(site.dtype)) throw new ModsurgError(`'${site.at}' computes in ${site.dtype}; a new head can be float16, bfloat16, float32 or float64`);
  const head = resolveHead(spec, site.inFeatures, site.inFeatures === undefined ? undefined : `${site.at}'s weight`);
  const parameters = headParametersFrom(head, site.dtype as CastTarget, site.at, source);
  const graph = replaceHead(model.graph, site, head, parameters, defaultOpset(model));
  return { model: { ...model, graph }, site, head, removedOps: site.nodes.map((n) => n.proto.op_type ?? '?') };
}

export function describeOnnxReplacement(edit: OnnxHeadReplacement): string {
  return [
    `replaced module '${edit.site.at}' (${edit.removedOps.join(', ')}; reads ${edit.site.input}, writes ${edit.site.output}) by`,
    printHead(edit.head),
    `output ${edit.site.output} is now [batch, ${edit.head.outFeatures}]`,
  ].join('\n');
}

export function onnxReplacementJson(edit: OnnxHeadReplacement): Record<string, unknown> {
  return {
    at: edit.site.at,
    input: edit.site.input,
    output: edit.site.output,
    removedOps: edit.removedOps,
    inFeatures: edit.head.inFeatures,
    outFeatures: edit.head.outFeatures,
  };
}
