import { Config, ModuleLoader } from '@oclif/core';
import { ROOT } from './cli.js';

/**
 * The built CLI's own entry point (`runCli`, what bin/run.js calls) run in this process with its stdout
 * and stderr captured: the same parsing, commands and error handling as `bin/run.js ARGS`, without the
 * ~0.2 s a new Node process costs — which is what lets the fuzz suite run thousands of files.
 */
export interface InProcessResult {
  status: number;
  stdout: string;
  stderr: string;
  ms: number;
}

type RunCli = (argv: string[], config: Config) => Promise<void>;

let loaded: { runCli: RunCli; config: Config } | undefined;

export async function runInProcess(args: string[]): Promise<InProcessResult> {
  if (!loaded) {
    // imported by Node itself, as oclif imports the commands, not through vitest's module runner: the
    // commands must see the same error classes as the top level that reports them (two copies would
    // fail every instanceof)
    const config = await Config.load(ROOT);
    const main = (await ModuleLoader.load(config, `${ROOT}/dist/cli/main.js`)) as { runCli: RunCli };
    loaded = { runCli: main.runCli, config };
  }
  const out: string[] = [];
  const err: string[] = [];
  const stdoutWrite = process.stdout.write.bind(process.stdout);
  const stderrWrite = process.stderr.write.bind(process.stderr);
  const capture = (into: string[]) =>
    ((chunk: string | Uint8Array, ...rest: unknown[]): boolean => {
      into.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
      const done = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
      done?.();
      return true;
    }) as typeof process.stdout.write;
  // oclif's flush waits for 'drain' on stdout, which a captured stream never emits: thousands of runs
  // would each leave a listener (a warning after ten)
  process.stdout.setMaxListeners(0);
  process.stdout.write = capture(out);
  process.stderr.write = capture(err);
  const previousExit = process.exitCode;
  process.exitCode = 0;
  const started = performance.now();
  try {
    await loaded.runCli(args, loaded.config);
  } finally {
    process.stdout.removeAllListeners('drain');
    process.stdout.write = stdoutWrite;
    process.stderr.write = stderrWrite;
  }
  const status = Number(process.exitCode ?? 0);
  process.exitCode = previousExit;
  return { status, stdout: out.join(''), stderr: err.join(''), ms: performance.now() - started };
}
