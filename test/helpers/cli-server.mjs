// One long-lived CLI process for a test worker: the built CLI's entry point (runCli, what bin/run.js
// calls) run once per request, so a test's hundred commands cost one Node start-up and one load of
// oclif and onnxruntime instead of a hundred. Requests and replies are JSON lines over two FIFOs, as
// the Python oracle's (test/oracle/server.py).
//
// usage: node cli-server.mjs REQUEST_FIFO RESPONSE_FIFO
//   request:  {"args": [...], "env": {NAME: VALUE}}
//   reply:    {"status": N, "stdout": BASE64, "stderr": TEXT, "ms": N, "rss": N}  (time taken; this process's RSS after)
// Commands whose data goes to stdout (-o -) or that read stdin are not sent here (test/helpers/cli.ts
// spawns those): data is written to file descriptor 1 directly, which this process cannot capture.
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { Config, ModuleLoader } from '@oclif/core';

const [requestsPath, responsesPath] = process.argv.slice(2);
const root = join(import.meta.dirname, '..', '..');
const config = await Config.load(root);
const { runCli } = await ModuleLoader.load(config, join(root, 'dist/cli/main.js'));

const requests = openSync(requestsPath, 'r');
const responses = openSync(responsesPath, 'w');
process.stdout.setMaxListeners(0);
let pending = Buffer.alloc(0);

function nextLine() {
  for (;;) {
    const newline = pending.indexOf(0x0a);
    if (newline >= 0) {
      const line = pending.subarray(0, newline).toString('utf8');
      pending = pending.subarray(newline + 1);
      return line;
    }
    const chunk = Buffer.alloc(1 << 16);
    const n = readSync(requests, chunk, 0, chunk.length, null);
    if (n === 0) return undefined;
    pending = Buffer.concat([pending, chunk.subarray(0, n)]);
  }
}

async function run({ args, env = {} }) {
  const out = [];
  const err = [];
  const capture = (into) => (chunk, ...rest) => {
    into.push(typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk));
    rest.find((r) => typeof r === 'function')?.();
    return true;
  };
  const saved = { stdout: process.stdout.write, stderr: process.stderr.write, env: { ...process.env } };
  Object.assign(process.env, env);
  process.stdout.write = capture(out);
  process.stderr.write = capture(err);
  process.exitCode = 0;
  const started = performance.now();
  try {
    await runCli(args, config);
  } catch (error) {
    err.push(Buffer.from(`cli-server: ${error?.stack ?? error}\n`));
    process.exitCode = 99;
  } finally {
    process.stdout.removeAllListeners('drain');
    process.stdout.write = saved.stdout;
    process.stderr.write = saved.stderr;
    for (const name of Object.keys(process.env)) if (!(name in saved.env)) delete process.env[name];
    Object.assign(process.env, saved.env);
  }
  const status = Number(process.exitCode ?? 0);
  process.exitCode = 0;
  return { status, stdout: Buffer.concat(out).toString('base64'), stderr: Buffer.concat(err).toString('utf8'), ms: performance.now() - started, rss: process.memoryUsage().rss };
}

for (let line = nextLine(); line !== undefined; line = nextLine()) {
  const reply = await run(JSON.parse(line));
  const bytes = Buffer.from(`${JSON.stringify(reply)}\n`);
  for (let at = 0; at < bytes.length; ) at += writeSync(responses, bytes, at);
}
closeSync(responses);
process.exit(0);
