#!/usr/bin/env node
// `npm run bench`: modsurg against the tools people would use instead (cp, cat, torch, Python onnx),
// side by side in one run, on inputs the oracle makes. Each cell is the median (with min and max) of
// --runs runs, the tools interleaved run by run, outputs removed and the disk synced before each;
// peak RSS from /usr/bin/time. Writes bench/results.json, the generated section of bench/RESULTS.md
// (machine, date, commit) and bench/results.svg (time against file size).
//
//   node bench/run.mjs [--sizes 256,1024,4096] [--onnx-sizes 256,1024,2560] [--runs 3] [--dir DIR] [--only id,id] [--no-write]
//
// Inputs are in the page cache (a second run of a command, the usual case); the disk is synced
// between runs so no run pays for another's writes.

import { execSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, totalmem, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { renderSvg } from './chart.mjs';

const ROOT = resolve(import.meta.dirname, '..');
const PYTHON = join(ROOT, '.oracle/bin/python');
const ANCHORS = join(ROOT, 'bench/anchors.py');
const CLI = `'${process.execPath}' '${join(ROOT, 'bin/run.js')}'`;

const defaults = { sizes: '256,1024,4096', 'onnx-sizes': '256,1024,2560', runs: '3', dir: process.env.BENCH_DIR ?? tmpdir(), only: '', write: true };

function parseArgs(argv) {
  const options = { ...defaults };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--no-write') options.write = false;
    else {
      const key = argv[i].replace(/^--/, '');
      if (!(key in options)) throw new Error(`unknown option ${argv[i]}`);
      options[key] = argv[++i] ?? '';
    }
  }
  return options;
}

const options = parseArgs(process.argv.slice(2));
if (!existsSync(PYTHON)) throw new Error('no oracle: run bash scripts/setup-oracle.sh first');
if (!existsSync(join(ROOT, 'dist/commands'))) throw new Error('not built: run npm run build first');
const sizes = options.sizes.split(',').map(Number);
const runs = Number(options.runs);
const only = new Set(options.only.split(',').filter(Boolean));
const work = mkdtempSync(join(options.dir, 'modsurg-bench-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));
const file = (name) => join(work, name);
const sh = (script) => execSync(script, { stdio: ['ignore', 'ignore', 'inherit'], shell: '/bin/bash' });
const py = (...args) => sh(`'${PYTHON}' '${ANCHORS}' ${args.map((a) => `'${a}'`).join(' ')}`);

/** One timed run: wall seconds and the peak RSS of the largest process (MB). */
function timed(script, clean) {
  for (const path of clean) rmSync(path, { force: true });
  sh('sync');
  const stats = file('time.txt');
  const started = process.hrtime.bigint();
  const result = spawnSync('/usr/bin/time', ['-f', '%M', '-o', stats, 'bash', '-o', 'pipefail', '-c', script], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (result.status !== 0) throw new Error(`failed (${result.status}): ${script}\n${result.stderr}`);
  const kb = Number(readFileSync(stats, 'utf8').trim().split('\n').pop());
  return { seconds, rssMB: kb / 1024 };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * Times each tool of a case `runs` times, interleaved (modsurg, then each anchor, then again), and
 * keeps median, min and max of the wall time and the largest peak RSS.
 */
function measureCase(tools, clean) {
  const samples = new Map(tools.map((t) => [t.name, []]));
  // an anchor that fails (Python onnx cannot save a model over 2 GiB inline) is reported as failed;
  // modsurg failing is a bug, and stops the run
  const failed = new Map();
  for (let run = 0; run < runs; run++) {
    for (const tool of tools) {
      if (failed.has(tool.name)) continue;
      try {
        samples.get(tool.name).push(timed(tool.script, clean));
      } catch (error) {
        if (tool.name === 'modsurg') throw error;
        failed.set(tool.name, String(error.message).split('\n').filter((line) => line.trim() !== '').at(-1));
      }
    }
  }
  return tools.map((tool) => {
    if (failed.has(tool.name)) return { tool: tool.name, failed: failed.get(tool.name) };
    const s = samples.get(tool.name);
    const secs = s.map((x) => x.seconds);
    return { tool: tool.name, median: median(secs), min: Math.min(...secs), max: Math.max(...secs), rssMB: Math.max(...s.map((x) => x.rssMB)) };
  });
}

/** The workloads: what modsurg runs, what people would run instead, and the issue's target. */
function checkpointCases(size) {
  const input = file(`dp_${size}.pth`);
  const plain = file(`plain_${size}.pth`);
  const st = file(`sd_${size}.safetensors`);
  const out = file('out.pth');
  const outSt = file('out.safetensors');
  const torchToo = size <= 1024;
  const anchor = (name, command, ...args) => ({ name, script: `'${PYTHON}' '${ANCHORS}' ${command} ${args.map((a) => `'${a}'`).join(' ')}` });
  const cp = (from, to) => ({ name: 'cp', script: `cp '${from}' '${to}'` });
  return [
    {
      id: 'strip-prefix', title: 'strip-prefix', target: '≤ 1.2× cp; ≥ 4× faster than torch; ≤ 150 MB',
      tools: [{ name: 'modsurg', script: `${CLI} strip-prefix '${input}' -o '${out}' -q` }, cp(input, out), ...(size <= 4096 ? [anchor('torch', 'strip-prefix', input, out)] : [])],
      clean: [out],
    },
    {
      id: 'add-prefix', title: 'add-prefix (the pickle grows: storages move)', target: '≤ 1.2× cp; ≥ 4× faster than torch; ≤ 150 MB',
      tools: [{ name: 'modsurg', script: `${CLI} add-prefix '${plain}' -o '${out}' -q` }, cp(plain, out), ...(torchToo ? [anchor('torch', 'add-prefix', plain, out)] : [])],
      clean: [out],
    },
    {
      id: 'rename', title: 'rename', target: '≤ 1.2× cp; ≤ 150 MB',
      tools: [{ name: 'modsurg', script: `${CLI} rename '${input}' --map '^module\\.layer0\\.=>module.stem.' -o '${out}' -q` }, cp(input, out)],
      clean: [out],
    },
    {
      id: 'replace-head', title: 'replace-head --classes 10', target: '≤ 1.2× cp; ≥ 4× faster than torch; ≤ 150 MB',
      tools: [{ name: 'modsurg', script: `${CLI} replace-head '${input}' --classes 10 --seed 1 -o '${out}' -q` }, cp(input, out), ...(torchToo ? [anchor('torch', 'replace-head', input, out)] : [])],
      clean: [out],
    },
    {
      id: 'add-module', title: "add-module --layer 'Linear(1000,10)'", target: '≤ 1.2× cp; ≤ 150 MB',
      tools: [{ name: 'modsurg', script: `${CLI} add-module '${input}' --layer 'Linear(1000,10)' --at module.fc2 --seed 1 -o '${out}' -q` }, cp(input, out)],
      clean: [out],
    },
    {
      id: 'pipeline', title: 'cat F | strip-prefix - -o - | replace-head - … -o G', target: '≤ 2× cat F | cat > G; ≤ 200 MB per process',
      tools: [
        { name: 'modsurg', script: `cat '${input}' | ${CLI} strip-prefix - -o - -q | ${CLI} replace-head - --classes 10 --seed 1 -o '${out}' -q` },
        { name: 'cat | cat', script: `cat '${input}' | cat > '${out}'` },
      ],
      clean: [out],
    },
    {
      id: 'to-safetensors', title: 'convert torch zip → safetensors', target: '≤ 1.3× cp',
      tools: [{ name: 'modsurg', script: `${CLI} convert '${input}' -o '${outSt}' -q` }, cp(input, outSt), ...(torchToo ? [anchor('torch', 'to-safetensors', input, outSt)] : [])],
      clean: [outSt],
    },
    {
      id: 'from-safetensors', title: 'convert safetensors → torch zip', target: '≤ 1.3× cp',
      tools: [{ name: 'modsurg', script: `${CLI} convert '${st}' -o '${out}' -q` }, cp(st, out)],
      clean: [out],
    },
    {
      id: 'to-legacy', title: 'convert torch zip → legacy', target: '≤ 1.3× cp',
      tools: [{ name: 'modsurg', script: `${CLI} convert '${input}' --format torch-legacy -o '${out}' -q` }, cp(input, out), ...(torchToo ? [anchor('torch', 'to-legacy', input, out)] : [])],
      clean: [out],
    },
    {
      id: 'inspect', title: 'inspect', target: '≤ 0.2 s, any size',
      tools: [{ name: 'modsurg', script: `${CLI} inspect '${input}' -q` }, ...(torchToo ? [anchor('torch', 'inspect', input)] : [])],
      clean: [],
    },
  ];
}

/** ONNX edits: an inline model of `size` MiB, and one keeping its weights in external data. */
function onnxCases(size) {
  const inline = file(`inline_${size}.onnx`);
  const external = file(`ext/external_${size}.onnx`);
  const weights = file(`weights_${size}.safetensors`);
  const out = file('out.onnx');
  const outExt = file('elsewhere/out.onnx');
  const anchor = (name, command, ...args) => ({ name, script: `'${PYTHON}' '${ANCHORS}' ${command} ${args.map((a) => `'${a}'`).join(' ')}` });
  const cases = [];
  if (size <= 1536) {
    cases.push(
      {
        id: 'onnx-add-output', title: 'add-output (ONNX, inline)', target: '≤ 1.3× cp; ≥ 4× faster than Python onnx; ≤ 300 MB',
        tools: [{ name: 'modsurg', script: `${CLI} add-output '${inline}' --tensor relu0 -o '${out}' -q` }, { name: 'cp', script: `cp '${inline}' '${out}'` }, anchor('python onnx', 'onnx-add-output', inline, out)],
        clean: [out],
      },
      {
        id: 'onnx-load-weights', title: 'load-weights (ONNX, inline, from safetensors)', target: '≤ 1.3× cp; ≤ 300 MB',
        tools: [{ name: 'modsurg', script: `${CLI} load-weights '${inline}' --weights '${weights}' -o '${out}' -q` }, { name: 'cp', script: `cp '${inline}' '${out}'` }],
        clean: [out],
      },
    );
  }
  cases.push({
    id: 'onnx-add-output-external', title: 'add-output (ONNX, external data, written to another folder)', target: '≤ 1.3× cp; ≥ 4× faster than Python onnx; ≤ 300 MB',
    tools: [
      { name: 'modsurg', script: `${CLI} add-output '${external}' --tensor relu0 -o '${outExt}' -q` },
      { name: 'cp', script: `cp '${external}' '${external}.data' '${dirname(outExt)}/'` },
      anchor('python onnx', 'onnx-add-output', external, outExt),
    ],
    clean: [outExt, `${outExt}.data`, join(dirname(outExt), `external_${size}.onnx`), join(dirname(outExt), `external_${size}.onnx.data`)],
  });
  return cases;
}

function startupCases() {
  return [
    { id: 'startup-version', title: 'modsurg --version', target: '≤ 0.15 s', tools: [{ name: 'modsurg', script: `${CLI} --version` }, { name: 'node -e 0', script: `'${process.execPath}' -e 0` }], clean: [] },
    { id: 'startup-help', title: 'modsurg --help', target: '≤ 0.15 s', tools: [{ name: 'modsurg', script: `${CLI} --help` }], clean: [] },
    { id: 'startup-inspect', title: 'inspect a small file (fixtures/resnet_sd.pth)', target: '≤ 0.15 s', tools: [{ name: 'modsurg', script: `${CLI} inspect '${join(ROOT, 'fixtures/resnet_sd.pth')}' -q` }], clean: [] },
  ];
}

function machine() {
  const read = (cmd) => {
    try {
      return execSync(cmd, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      return '?';
    }
  };
  const commit = read('git rev-parse --short HEAD');
  const dirty = read('git status --porcelain --untracked-files=no') === '' ? '' : ' (with uncommitted changes)';
  return {
    date: new Date().toISOString().slice(0, 10),
    commit: `${commit}${dirty}`,
    cpu: `${cpus()[0]?.model ?? '?'}, ${cpus().length} cores`,
    memory: `${Math.round(totalmem() / 2 ** 30)} GiB`,
    node: process.version,
    torch: read(`'${PYTHON}' -c "import torch; print(torch.__version__)"`),
    disk: read(`df -T '${work}' | tail -1 | awk '{print $2}'`),
  };
}

// ---- run ----
const results = [];
const wanted = (c) => only.size === 0 || only.has(c.id);
for (const c of startupCases().filter(wanted)) {
  process.stderr.write(`${c.title} …\n`);
  results.push({ id: c.id, title: c.title, target: c.target, size: null, cells: measureCase(c.tools, c.clean) });
}
for (const size of sizes) {
  const cases = checkpointCases(size).filter(wanted);
  if (cases.length === 0) continue;
  process.stderr.write(`inputs of ${size} MiB …\n`);
  py('make-ckpt', file(`dp_${size}.pth`), String(size));
  py('strip-prefix', file(`dp_${size}.pth`), file(`plain_${size}.pth`));
  sh(`${CLI} convert '${file(`dp_${size}.pth`)}' -o '${file(`sd_${size}.safetensors`)}' -q`);
  for (const c of cases) {
    process.stderr.write(`  ${c.title} …\n`);
    results.push({ id: c.id, title: c.title, target: c.target, size, cells: measureCase(c.tools, c.clean) });
  }
  for (const name of [`dp_${size}.pth`, `plain_${size}.pth`, `sd_${size}.safetensors`]) rmSync(file(name), { force: true });
}
for (const size of options['onnx-sizes'].split(',').map(Number)) {
  const cases = onnxCases(size).filter(wanted);
  if (cases.length === 0) continue;
  process.stderr.write(`ONNX inputs of ${size} MiB …\n`);
  mkdirSync(file('ext'), { recursive: true });
  mkdirSync(file('elsewhere'), { recursive: true });
  if (size <= 1536) {
    py('make-onnx', file(`inline_${size}.onnx`), String(size));
    sh(`${CLI} convert '${file(`inline_${size}.onnx`)}' -o '${file(`weights_${size}.safetensors`)}' -q`);
  }
  py('make-onnx', file(`ext/external_${size}.onnx`), String(size), '--external');
  for (const c of cases) {
    process.stderr.write(`  ${c.title} …\n`);
    results.push({ id: c.id, title: c.title, target: c.target, size, cells: measureCase(c.tools, c.clean) });
  }
  rmSync(file('ext'), { recursive: true, force: true });
  for (const name of [`inline_${size}.onnx`, `weights_${size}.safetensors`]) rmSync(file(name), { force: true });
}
if (wanted({ id: 'inspect-sparse' })) {
  process.stderr.write('inspect, a sparse 10 GiB file …\n');
  py('make-sparse', file('sparse.pth'), '10240');
  const size = Math.round(statSync(file('sparse.pth')).size / 2 ** 20);
  results.push({ id: 'inspect-sparse', title: 'inspect (a sparse 10 GiB file)', target: '≤ 0.2 s, any size', size, cells: measureCase([{ name: 'modsurg', script: `${CLI} inspect '${file('sparse.pth')}' -q` }], []) });
}

const info = machine();
const report = { machine: info, runs, results };
const markdown = renderMarkdown(report);
process.stdout.write(`${markdown}\n`);
if (options.write) {
  writeFileSync(join(ROOT, 'bench/results.json'), `${JSON.stringify(report, null, 2)}\n`);
  const path = join(ROOT, 'bench/RESULTS.md');
  const existing = existsSync(path) ? readFileSync(path, 'utf8') : '# Benchmark results\n';
  const start = '<!-- bench:start -->';
  const end = '<!-- bench:end -->';
  const section = `${start}\n${markdown}\n${end}`;
  const updated = existing.includes(start) ? existing.replace(new RegExp(`${start}[\\s\\S]*${end}`), section) : existing.replace(/^(# .*\n)/, `$1\n${section}\n`);
  writeFileSync(path, updated);
  writeFileSync(join(ROOT, 'bench/results.svg'), renderSvg(report));
  process.stderr.write('wrote bench/RESULTS.md, bench/results.svg, bench/results.json\n');
}

function fmt(seconds) {
  return seconds >= 10 ? seconds.toFixed(1) : seconds >= 1 ? seconds.toFixed(2) : seconds.toFixed(3);
}

function renderMarkdown({ machine: m, runs: n, results: rows }) {
  const lines = [
    '## `npm run bench`',
    '',
    `${m.date}, commit ${m.commit}: ${m.cpu}, ${m.memory} RAM, ${m.disk} disk, Node ${m.node}, torch ${m.torch}. ` +
      `Wall time in seconds, median of ${n} runs [min–max], tools interleaved, inputs in the page cache, disk synced between runs; ` +
      'peak RSS of the largest process. Ratio: modsurg’s median over the anchor’s (below 1: modsurg is faster).',
    '',
    '| work | size | modsurg s [min–max] | RSS MB | anchor | anchor s | ratio | target |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  const cell = (text) => String(text).replace(/\|/g, '\\|');
  for (const row of rows) {
    const mine = row.cells.find((c) => c.tool === 'modsurg');
    const anchors = row.cells.filter((c) => c.tool !== 'modsurg');
    const size = row.size === null ? '' : row.size >= 1024 ? `${(row.size / 1024).toFixed(row.size % 1024 ? 1 : 0)} GiB` : `${row.size} MiB`;
    const own = `${fmt(mine.median)} [${fmt(mine.min)}–${fmt(mine.max)}]`;
    if (anchors.length === 0) lines.push(`| ${cell(row.title)} | ${size} | ${own} | ${mine.rssMB.toFixed(0)} | – | – | – | ${cell(row.target)} |`);
    anchors.forEach((a, i) => {
      const first = i === 0;
      const theirs = a.failed !== undefined ? `failed: ${cell(a.failed)}` : `${fmt(a.median)} [${fmt(a.min)}–${fmt(a.max)}]`;
      const ratio = a.failed !== undefined ? '–' : `${(mine.median / a.median).toFixed(2)}×`;
      lines.push(
        `| ${first ? cell(row.title) : ''} | ${first ? size : ''} | ${first ? own : ''} | ${first ? mine.rssMB.toFixed(0) : ''} | ${cell(a.tool)} | ${theirs} | ${ratio} | ${first ? cell(row.target) : ''} |`,
      );
    });
  }
  return lines.join('\n');
}
