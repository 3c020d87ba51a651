import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { expect } from 'vitest';
import { python } from '../helpers/oracle.js';
import { modsurgMeasured } from '../helpers/cli.js';
import { Random, truncations, type Mutant } from './mutate.js';

/**
 * Runs mutants of one reader's seed file through the CLI (the worker's CLI server: `runCli`, the entry
 * point bin/run.js calls) and holds every run to the promise: exit 0 (1 where a command reports a finding or
 * a difference) or 2; on 2 one `error:` line that names the file, no stack, nothing internal, nothing
 * unescaped; no output left on failure, no temporary ever; bounded time and memory; and every output
 * written accepted by the reference reader (torch, safetensors, onnx), judged in one batch at the end.
 */

/** How many mutants per reader; MODSURG_FUZZ_MUTANTS asks for more (a longer, deeper run). */
export const MUTANTS = Number(process.env.MODSURG_FUZZ_MUTANTS ?? 2500);

/** Messages that come from JavaScript or a library, not from modsurg describing a file. */
const INTERNAL =
  /index out of range|invalid wire type \d+ at offset|max(imum)? (call stack|depth)|Cannot (read|convert|set|access)|undefined|\bNaN\b|not valid for encoding|Invalid (typed )?array|RangeError|TypeError|SyntaxError|ReferenceError|\bERR_[A-Z_]+|is not (a function|iterable|defined)|Unexpected (token|end of JSON)|at position \d+|out of bounds|outside (the )?buffer|\[object /;

/** No run may take longer: a mutant that does is a hang in the making (quadratic work, a loop). */
const MAX_MS = 5000;
/** Nor may the process grow past this (a bomb inflating, a length believed). */
const MAX_RSS = 3 * 2 ** 30;

export interface FuzzCommand {
  args: string[];
  /** The file it writes, if any. */
  output?: string;
  /** Exit codes that are answers, not errors (scan: 1 dangerous; diff: 1 different). */
  answers?: number[];
}

export interface FuzzReport {
  runs: number;
  byStatus: Record<number, number>;
  written: string[];
  failures: string[];
}

export async function fuzz(options: {
  name: string;
  dir: string;
  extension: string;
  mutants: Iterable<Mutant>;
  commands: (file: string, out: string) => FuzzCommand[];
  /** Outputs kept for the reference reader, at most. */
  keep?: number;
}): Promise<FuzzReport> {
  const work = join(options.dir, options.name);
  const outDir = join(work, 'out');
  const kept = join(work, 'kept');
  mkdirSync(outDir, { recursive: true });
  mkdirSync(kept, { recursive: true });
  const report: FuzzReport = { runs: 0, byStatus: {}, written: [], failures: [] };
  const seen = new Set<string>();
  let index = 0;
  for (const mutant of options.mutants) {
    const file = join(work, `m${index}${options.extension}`);
    writeFileSync(file, mutant.bytes);
    const commands = options.commands(file, outDir);
    const command = commands[index % commands.length]!;
    const result = modsurgMeasured(command.args);
    report.runs++;
    report.byStatus[result.status] = (report.byStatus[result.status] ?? 0) + 1;
    const problem = judgeRun(command, result, file, outDir);
    if (problem !== undefined && report.failures.length < 20) {
      const saved = join(work, `failed${report.failures.length}${options.extension}`);
      copyFileSync(file, saved);
      report.failures.push(`${options.name} #${index} (${mutant.how}; kept as ${saved}) \`${command.args.map((a) => (a === file ? 'MUTANT' : a.startsWith(outDir) ? `OUT/${basename(a)}` : a)).join(' ')}\`: ${problem}`);
    }
    if (result.status === 0 && command.output && existsSync(command.output)) {
      const digest = createHash('sha1').update(mutant.bytes).digest('hex');
      if (!seen.has(digest) && report.written.length < (options.keep ?? 150)) {
        seen.add(digest);
        const target = join(kept, `k${index}-${basename(command.output)}`);
        copyFileSync(command.output, target);
        report.written.push(target);
      }
    }
    for (const left of readdirSync(outDir)) rmSync(join(outDir, left), { force: true, recursive: true });
    rmSync(file, { force: true });
    index++;
  }
  return report;
}

function judgeRun(command: FuzzCommand, result: { status: number; stdout: string; stderr: string; ms: number; rss: number }, file: string, outDir: string): string | undefined {
  if (result.ms > MAX_MS) return `took ${Math.round(result.ms)} ms`;
  if (result.rss > MAX_RSS) return `the process grew to ${Math.round(result.rss / 2 ** 20)} MiB`;
  const allowed = [0, 2, ...(command.answers ?? [])];
  if (!allowed.includes(result.status)) return `exit ${result.status}`;
  const lines = result.stderr.split('\n').filter((line) => line !== '');
  if (/[\u0000-\u0009\u000b-\u001f\u007f]/.test(result.stderr)) return `unescaped control characters on stderr: ${JSON.stringify(result.stderr)}`;
  if (lines.some((line) => /^\s+at /.test(line))) return `a stack trace: ${result.stderr}`;
  const errors = lines.filter((line) => line.startsWith('error:'));
  const left = readdirSync(outDir).filter((name) => command.output === undefined || name !== basename(command.output));
  if (left.length > 0) return `left behind: ${left.join(', ')}`;
  if (result.status === 2) {
    if (errors.length !== 1 || lines.at(-1) !== errors[0]) return `not one error line at the end: ${JSON.stringify(result.stderr)}`;
    const line = errors[0]!;
    if (!line.includes(file)) return `the error does not name the file: ${line}`;
    if (INTERNAL.test(line)) return `an internal message: ${line}`;
    if (command.output && existsSync(command.output)) return 'an output left after an error';
    return undefined;
  }
  if (errors.length > 0) return `exit ${result.status} with an error line: ${errors[0]}`;
  if (command.output && !existsSync(command.output)) return 'exit 0 without the output';
  return undefined;
}

/** The reference readers' verdict on every kept output (ONNX: onnx.checker and an onnxruntime session): the files they refuse, with why. */
export function refusedByReference(files: readonly string[]): string[] {
  if (files.length === 0) return [];
  const listing = join(files[0]!, '..', 'files.txt');
  writeFileSync(listing, files.join('\n'));
  const judged = python(
    `import sys, torch, onnx, onnxruntime
from safetensors import safe_open
bad = []
for path in open(sys.argv[1]).read().split("\\n"):
    try:
        if path.endswith(".safetensors"):
            with safe_open(path, "pt") as f:
                for k in f.keys():
                    f.get_tensor(k)
        elif path.endswith(".onnx"):
            onnx.checker.check_model(path)
            onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
        else:
            torch.load(path, weights_only=True)
    except Exception as e:
        bad.append(f"{path}: {type(e).__name__}: {str(e)[:200]}")
print("\\n".join(bad))`,
    [listing],
  );
  expect(judged.status, judged.stderr).toBe(0);
  return judged.stdout.split('\n').filter((line) => line !== '');
}

/** The truncations at `boundaries` (a fifth of the mutants at most), then seeded mutants up to MUTANTS. */
export function* seededMutants(seed: Buffer, boundaries: number[], mutate: (random: Random) => Mutant, seedNumber: number): Iterable<Mutant> {
  const cuts = truncations(seed, boundaries, Math.floor(MUTANTS / 5));
  yield* cuts;
  const random = new Random(seedNumber);
  for (let i = cuts.length; i < MUTANTS; i++) yield mutate(random);
}

/** What a checkpoint mutant goes through, one command a mutant in turn. */
export const checkpointCommands = (extension: string) => (file: string, out: string): FuzzCommand[] => [
  { args: ['inspect', file] },
  { args: ['scan', file], answers: [1] },
  { args: ['convert', file, '-o', join(out, 'a.safetensors')], output: join(out, 'a.safetensors') },
  { args: ['convert', file, '-o', join(out, 'a.pth')], output: join(out, 'a.pth') },
  { args: ['strip-prefix', file, '-o', join(out, `b${extension}`)], output: join(out, `b${extension}`) },
  { args: ['convert', file, '-o', join(out, 'c.pth'), '--format', 'torch-legacy'], output: join(out, 'c.pth') },
  { args: ['diff', file, file], answers: [1] },
];

/** Every run proper, every output accepted by its reference reader, and both outcomes reached. */
export function expectProper(report: Awaited<ReturnType<typeof fuzz>>): void {
  expect(report.failures, report.failures.join('\n')).toEqual([]);
  expect(refusedByReference(report.written), 'outputs the reference reader refuses').toEqual([]);
  // the mutants reached both outcomes: a fuzz whose every mutant is refused at the door tests little
  expect(report.byStatus[0] ?? 0).toBeGreaterThan(report.runs / 20);
  expect(report.byStatus[2] ?? 0).toBeGreaterThan(report.runs / 20);
}
