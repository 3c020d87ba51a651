import { describeTensor, isStringTensor, type HostTensor } from './dtypes.js';
import { unravelIndex, type OutputComparison } from './compare.js';
import { castTypes, describeCast, type BoundaryCast } from './boundary-cast.js';
import { dtypeLabel, type ResolvedInputs } from './inputs.js';
import type { ComparisonReport, RunResult, Timings } from './run-model.js';
import type { SkippedProvider } from './session.js';
import { tensorStats, type TensorStats } from './stats.js';
import { toFloat64 } from './values.js';
import type { VerifyResult } from './verify-models.js';

/** The words and the JSON documents of `run` and `verify`. Formatting only: every figure is computed elsewhere. */

/** Four significant digits, exponent form for very small or large magnitudes. */
export function formatNumber(value: number | null | undefined): string {
  if (value === null || value === undefined) return '-';
  if (Number.isNaN(value)) return 'nan';
  if (!Number.isFinite(value)) return value > 0 ? 'inf' : '-inf';
  if (Number.isInteger(value) && Math.abs(value) < 1e9) return String(value);
  const magnitude = Math.abs(value);
  if (magnitude !== 0 && (magnitude < 1e-3 || magnitude >= 1e6)) return value.toExponential(3).replace(/\.?0+e/, 'e');
  return String(Number(value.toPrecision(4)));
}

export function formatMs(ms: number): string {
  return ms >= 100 ? `${ms.toFixed(0)} ms` : ms >= 1 ? `${ms.toFixed(2)} ms` : `${(ms * 1000).toFixed(0)} µs`;
}

/** Left-aligned columns, two spaces apart. */
export function renderTable(rows: readonly (readonly string[])[], indent = '  '): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) => `${indent}${row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')}`.trimEnd());
}

/** `ran on: cpu (CUDA provider not installed: …)` */
export function providerLine(ep: string, skipped: readonly SkippedProvider[]): string {
  return `ran on: ${ep}${skipped.length > 0 ? ` (${skipped.map((s) => s.reason).join('; ')})` : ''}`;
}

export interface OutputSummary {
  readonly name: string;
  /** The dtype of the values (what --save writes). */
  readonly dtype: string;
  /** Set where the model declares bfloat16 or float8 and the values came back as float32 (exactly) through a Cast. */
  readonly modelDtype?: string;
  readonly shape: readonly number[];
  /** For numbers and bools; a string output has `strings` instead. */
  readonly stats?: TensorStats;
  /** The first strings of a string output. */
  readonly strings?: readonly string[];
}

const FIRST_STRINGS = 4;

export function summarizeOutputs(outputs: ReadonlyMap<string, HostTensor>, cast?: BoundaryCast): OutputSummary[] {
  return [...outputs].map(([name, tensor]) => ({
    name,
    dtype: tensor.dtype,
    ...(cast?.outputs.includes(name) ? { modelDtype: cast.types[name]! } : {}),
    shape: tensor.shape,
    ...(isStringTensor(tensor) ? { strings: tensor.data.slice(0, FIRST_STRINGS) } : { stats: tensorStats(toFloat64(tensor), tensor.shape) }),
  }));
}

function inputLines(inputs: ResolvedInputs): string[] {
  const rows = inputs.inputs.map((input) => [input.name, describeTensor(dtypeLabel(input.tensor.dtype, input.castFrom), input.tensor.shape), input.source]);
  const lines = ['inputs', ...renderTable(rows)];
  if (inputs.defaultedDims.length > 0) lines.push(`  (${inputs.defaultedDims.map((d) => `${d}=1`).join(', ')}: default size; set with --dim NAME=SIZE)`);
  for (const name of inputs.unnamedDefaulted) lines.push(`  (${name}: its dims without a name took size 1; set its whole shape with --shape ${name}=D0,D1,…)`);
  return lines;
}

function outputLines(summaries: readonly OutputSummary[]): string[] {
  const rows = [['name', 'dtype', 'shape', 'min', 'max', 'mean', 'first values', 'argmax']];
  for (const { name, dtype, modelDtype, shape, stats, strings } of summaries) {
    if (stats === undefined) {
      const count = shape.reduce((a, b) => a * b, 1);
      rows.push([name, dtype, `[${shape.join(',')}]`, '', '', '', (strings ?? []).map((s) => JSON.stringify(s)).join(' ') + (count > (strings ?? []).length ? ' …' : ''), '']);
      continue;
    }
    const nonFinite = stats.nanCount + stats.infCount > 0 ? ` (${stats.nanCount} nan, ${stats.infCount} inf)` : '';
    rows.push([
      name,
      dtypeLabel(dtype, modelDtype),
      `[${shape.join(',')}]`,
      formatNumber(stats.min),
      formatNumber(stats.max),
      formatNumber(stats.mean) + nonFinite,
      stats.first.map(formatNumber).join(' ') + (stats.count > stats.first.length ? ' …' : ''),
      stats.argmax ? stats.argmax.join(' ') : '',
    ]);
  }
  return ['outputs', ...renderTable(rows)];
}

function timingLines(timings: Timings): string[] {
  const lines = [`time: session ${formatMs(timings.sessionCreateMs)}, first run ${formatMs(timings.firstRunMs)}`];
  const l = timings.latencyMs;
  if (l) lines.push(`latency over ${l.runs} runs (after ${timings.warmup} warmup): p50 ${formatMs(l.p50)}  p90 ${formatMs(l.p90)}  min ${formatMs(l.min)}  mean ${formatMs(l.mean)}`);
  return lines;
}

function placementLines(result: RunResult): string[] {
  const p = result.placement;
  if (!p || result.ep === 'cpu') return [];
  const counts = Object.entries(p.byProvider).map(([provider, n]) => `${n} on ${provider}`).join(', ');
  const fallback = result.cpuFallbackNodes ?? [];
  const lines = [`nodes: ${counts}`];
  if (fallback.length > 0) {
    const shown = fallback.slice(0, 10).map((n) => `${n.name} (${n.op})`).join(', ');
    lines.push(`  not on ${result.ep}: ${shown}${fallback.length > 10 ? `, … ${fallback.length - 10} more` : ''}`);
  }
  return lines;
}

export function comparisonLines(report: ComparisonReport, heading: string): string[] {
  const rows = [['output', 'max abs err', 'max rel err', 'mismatches', 'cosine', 'atol needed', 'result']];
  const notes: string[] = [];
  for (const c of report.outputs) {
    if (c.kind === 'shape-mismatch') {
      rows.push([c.name, '-', '-', '-', '-', '-', `FAIL shape [${c.shape.join(',')}] vs expected [${c.expectedShape.join(',')}]`]);
      continue;
    }
    if (c.kind === 'type-mismatch') {
      rows.push([c.name, '-', '-', '-', '-', '-', `FAIL ${c.dtype} vs an expected ${c.expectedDtype}`]);
      continue;
    }
    if (c.kind === 'strings') {
      rows.push([c.name, '-', '-', `${c.mismatches}/${c.count}`, '-', '-', c.pass ? 'pass (strings equal)' : 'FAIL']);
      if (!c.pass) notes.push(`  ${c.name}: first differing string at [${unravelIndex(c.firstMismatch, c.shape).join(',')}]`);
      continue;
    }
    rows.push([
      c.name,
      formatNumber(c.maxAbsErr),
      formatNumber(c.maxRelErr),
      `${c.mismatches}/${c.count}`,
      c.cosine.toFixed(6),
      c.requiredAtol === null ? 'none' : formatNumber(c.requiredAtol),
      c.pass ? 'pass' : 'FAIL',
    ]);
    const nonFinite = c.nan.actual + c.nan.expected + c.inf.actual + c.inf.expected;
    if (nonFinite > 0) notes.push(`  ${c.name}: nan ${c.nan.actual} vs ${c.nan.expected} expected, inf ${c.inf.actual} vs ${c.inf.expected} expected; ${c.nonFiniteMismatches} disagree`);
    if (!c.pass && c.maxAbsErrIndex >= 0) notes.push(`  ${c.name}: largest error at [${unravelIndex(c.maxAbsErrIndex, c.shape).join(',')}]`);
    if (c.dtype !== c.expectedDtype) notes.push(`  ${c.name}: ${c.dtype} compared with a ${c.expectedDtype} reference`);
  }
  const lines = [`${heading} (atol ${formatNumber(report.tolerance.atol)}, rtol ${formatNumber(report.tolerance.rtol)}: |a-b| <= atol + rtol*|b|)`, ...renderTable(rows), ...notes];
  if (report.notCompared.length > 0) lines.push(`  not compared (no reference): ${report.notCompared.join(', ')}`);
  const failed = report.outputs.filter((c) => !c.pass).length;
  lines.push(failed === 0 ? `all ${report.outputs.length} compared outputs match` : `${failed} of ${report.outputs.length} compared outputs differ`);
  return lines;
}

export function runText(result: RunResult, comparison: ComparisonReport | undefined): string {
  return [
    `model: ${result.model}`,
    ...inputLines(result.inputs),
    ...outputLines(summarizeOutputs(result.outputs, result.boundaryCast)),
    ...placementLines(result),
    ...timingLines(result.timings),
    ...(comparison ? comparisonLines(comparison, 'compare') : []),
  ].join('\n');
}

function inputsJson(inputs: ResolvedInputs): unknown {
  return inputs.inputs.map((input) => ({
    name: input.name,
    dtype: input.tensor.dtype,
    ...(input.castFrom !== undefined ? { modelDtype: input.castFrom } : {}),
    shape: input.tensor.shape,
    source: input.source,
  }));
}

function comparisonJson(c: OutputComparison): unknown {
  if (c.kind === 'shape-mismatch') return { name: c.name, pass: false, reason: 'shape', shape: c.shape, expectedShape: c.expectedShape };
  if (c.kind === 'type-mismatch') return { name: c.name, pass: false, reason: 'type', dtype: c.dtype, expectedDtype: c.expectedDtype };
  if (c.kind === 'strings') return { name: c.name, pass: c.pass, dtype: 'string', shape: c.shape, count: c.count, mismatches: c.mismatches, firstMismatchAt: c.firstMismatch >= 0 ? unravelIndex(c.firstMismatch, c.shape) : null };
  const { kind: _kind, ...rest } = c;
  return { ...rest, maxAbsErrAt: c.maxAbsErrIndex >= 0 ? unravelIndex(c.maxAbsErrIndex, c.shape) : null };
}

export function comparisonReportJson(report: ComparisonReport): unknown {
  return { atol: report.tolerance.atol, rtol: report.tolerance.rtol, pass: report.pass, outputs: report.outputs.map(comparisonJson), notCompared: report.notCompared };
}

function sideJson(result: RunResult): Record<string, unknown> {
  return {
    model: result.model,
    ep: result.ep,
    skippedProviders: result.skipped.map((s) => ({ provider: s.provider, reason: s.reason, missing: s.diagnosis.missing })),
    nodesByProvider: result.placement?.byProvider ?? null,
    cpuFallbackNodes: result.cpuFallbackNodes ?? null,
    // only for a model with bfloat16 or float8 inputs or outputs: they were fed and fetched as float32 through Casts
    ...(result.boundaryCast ? { castThroughFloat32: { inputs: result.boundaryCast.inputs, outputs: result.boundaryCast.outputs, types: result.boundaryCast.types } } : {}),
  };
}

export function runJson(result: RunResult, comparison: ComparisonReport | undefined, saved: readonly string[]): Record<string, unknown> {
  return {
    ...sideJson(result),
    feeds: inputsJson(result.inputs),
    dims: Object.fromEntries(result.inputs.dims),
    outputs: summarizeOutputs(result.outputs, result.boundaryCast),
    timings: result.timings,
    ...(comparison ? { comparison: comparisonReportJson(comparison) } : {}),
    ...(saved.length > 0 ? { saved } : {}),
  };
}

export function verifyText(result: VerifyResult): string {
  const side = (label: string, r: RunResult): string => `${label}: ${r.model} on ${r.ep}${r.boundaryCast ? ` (${castTypes(r.boundaryCast)} ${describeCast(r.boundaryCast)} run as float32 through Casts)` : ''}`;
  const lines = [side('reference', result.reference), side('candidate', result.candidate), ...inputLines(result.candidate.inputs)];
  for (const r of result.kind === 'providers' ? [result.candidate, result.reference] : []) lines.push(...placementLines(r).map((l) => `${r.ep} ${l}`));
  lines.push(...comparisonLines(result.comparison, 'compare candidate with reference'));
  if (result.onlyInReference.length > 0) lines.push(`  only in the reference: ${result.onlyInReference.join(', ')}`);
  return lines.join('\n');
}

export function verifyJson(result: VerifyResult): Record<string, unknown> {
  return {
    kind: result.kind,
    reference: { ...sideJson(result.reference), timings: result.reference.timings },
    candidate: { ...sideJson(result.candidate), timings: result.candidate.timings },
    feeds: inputsJson(result.candidate.inputs),
    comparison: comparisonReportJson(result.comparison),
    onlyInReference: result.onlyInReference,
  };
}
