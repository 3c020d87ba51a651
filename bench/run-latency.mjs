#!/usr/bin/env node
// Latency of `modsurg run` per model, execution provider and batch size, as a Markdown table and JSON.
// Plain JavaScript on purpose: it runs where only `node` and the built CLI exist (the GPU machines have
// no npm, npx or TypeScript). Each cell is one `node bin/run.js run … --repeat N --warmup M --json`
// process, so one provider failing (CUDA not loadable) fails only its cells.
//
//   node bench/run-latency.mjs --models fixtures/resnet.onnx,fixtures/unet.onnx --eps cuda,cpu \
//        --batches 1,32 --repeat 50 --warmup 5 [--out DIR] [--timeout 90]
//
// Writes DIR/latency.md and DIR/latency.json when --out is given; prints the table either way.

import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';

const defaults = { models: 'fixtures/resnet.onnx,fixtures/unet.onnx', eps: 'cuda,cpu', batches: '1', repeat: '50', warmup: '5', out: '', timeout: '90', dim: 'batch' };

/** @returns {Record<string, string>} */
function parseArgs(argv) {
  const options = { ...defaults };
  for (let i = 0; i < argv.length; i++) {
    const key = argv[i].replace(/^--/, '');
    if (!(key in options)) throw new Error(`unknown option ${argv[i]} (known: ${Object.keys(defaults).map((k) => `--${k}`).join(' ')})`);
    options[key] = argv[++i] ?? '';
  }
  return options;
}

/** One measurement: the run's JSON report, or why there is none. */
function measure(model, ep, batch, options) {
  const args = ['bin/run.js', 'run', model, '--ep', ep, '--dim', `${options.dim}=${batch}`, '--repeat', options.repeat, '--warmup', options.warmup, '--json'];
  const result = spawnSync(process.execPath, args, { encoding: 'utf8', timeout: Number(options.timeout) * 1000, maxBuffer: 64 << 20 });
  const cell = { model, ep, batch, command: `node ${args.join(' ')}` };
  if (result.error) return { ...cell, ok: false, error: result.error.code === 'ETIMEDOUT' ? `timed out after ${options.timeout} s` : String(result.error.message) };
  if (result.status !== 0) {
    const line = result.stderr.split('\n').find((l) => l.startsWith('error:')) ?? result.stderr.trim().split('\n').pop() ?? '';
    return { ...cell, ok: false, error: `exit ${result.status}: ${line}` };
  }
  try {
    const report = JSON.parse(result.stdout);
    return { ...cell, ok: true, ranOn: report.ep, timings: report.timings, cpuFallbackNodes: report.cpuFallbackNodes?.length ?? null };
  } catch (error) {
    return { ...cell, ok: false, error: `unreadable JSON: ${error.message}` };
  }
}

const ms = (value) => (value === undefined || value === null ? '-' : value >= 100 ? value.toFixed(0) : value >= 1 ? value.toFixed(2) : value.toFixed(3));

function table(cells, eps, options) {
  const header = ['model', 'batch', ...eps.flatMap((ep) => [`${ep} p50`, `${ep} p90`, `${ep} min`, `${ep} session`])];
  if (eps.length === 2) header.push(`${eps[1]}/${eps[0]} p50`);
  const rows = [];
  const keys = [...new Set(cells.map((c) => `${c.model}\u0000${c.batch}`))];
  for (const key of keys) {
    const [model, batch] = key.split('\u0000');
    const row = [basename(model), batch];
    const p50 = [];
    for (const ep of eps) {
      const cell = cells.find((c) => c.model === model && String(c.batch) === batch && c.ep === ep);
      if (!cell || !cell.ok) {
        row.push('failed', '', '', '');
        p50.push(undefined);
        continue;
      }
      const l = cell.timings.latencyMs;
      const wrongProvider = cell.ranOn !== ep ? ` (ran on ${cell.ranOn})` : '';
      row.push(ms(l?.p50) + wrongProvider, ms(l?.p90), ms(l?.min), ms(cell.timings.sessionCreateMs));
      p50.push(l?.p50);
    }
    if (eps.length === 2) row.push(p50[0] && p50[1] ? `${(p50[1] / p50[0]).toFixed(2)}x` : '-');
    rows.push(row);
  }
  const lines = [
    `Latency of one run() in ms (p50 / p90 / min over ${options.repeat} runs after ${options.warmup} warmup; session = InferenceSession.create)`,
    '',
    `| ${header.join(' | ')} |`,
    `| ${header.map(() => '---').join(' | ')} |`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ];
  const failures = cells.filter((c) => !c.ok);
  if (failures.length > 0) lines.push('', 'Failed cells:', ...failures.map((c) => `- ${basename(c.model)} ${c.ep} batch ${c.batch}: ${c.error.slice(0, 300)}`));
  return lines.join('\n');
}

const options = parseArgs(process.argv.slice(2));
const models = options.models.split(',').filter(Boolean);
const eps = options.eps.split(',').filter(Boolean);
const batches = options.batches.split(',').filter(Boolean);
const cells = [];
/** Written after every cell, so a run cut short by a time limit still leaves what it measured. */
function save() {
  const markdown = table(cells, eps, options);
  if (options.out) {
    mkdirSync(options.out, { recursive: true });
    writeFileSync(join(options.out, 'latency.md'), `${markdown}\n`);
    writeFileSync(join(options.out, 'latency.json'), `${JSON.stringify({ options, cells }, null, 2)}\n`);
  }
  return markdown;
}
for (const model of models) {
  for (const batch of batches) {
    for (const ep of eps) {
      process.stderr.write(`latency: ${basename(model)} ${ep} batch ${batch} ...\n`);
      cells.push(measure(model, ep, batch, options));
      save();
    }
  }
}
process.stdout.write(`${save()}\n`);
process.exitCode = cells.every((c) => c.ok) ? 0 : 1;
