import { Chalk, type ChalkInstance } from 'chalk';
import { escapeName } from '../errors.js';
import { formatBytes } from './render-inspect.js';

/** Colour only when the stream is a terminal and the user has not asked for none (NO_COLOR). */
export function colourFor(stream: NodeJS.WriteStream): ChalkInstance {
  const wanted = stream.isTTY === true && !('NO_COLOR' in process.env && process.env.NO_COLOR !== '');
  return new Chalk({ level: wanted ? 1 : 0 });
}

export interface ReportOptions {
  /** `-q`: no human report. Warnings and errors still go to stderr. */
  quiet: boolean;
  /** `--json`: the report is one JSON document instead of text. */
  json: boolean;
  /** Whether stdout carries the command's data (`-o -`), so reports must go to stderr. */
  stdoutIsData: boolean;
  /** The command's id (`strip-prefix`), the first field of its JSON report. */
  command: string;
}

/**
 * A command's JSON report: the files it read and wrote and whether its check passed (`ok`: false when
 * diff finds a difference, verify or run --compare a mismatch, scan danger), then its own fields. Every
 * command's report starts with the same envelope: `command`, `inputs`, `output`, `ok`, `warnings`
 * (docs/json.md).
 */
export interface JsonReport {
  readonly inputs: readonly string[];
  readonly output?: string | null;
  readonly ok?: boolean;
  readonly [field: string]: unknown;
}

/** Warnings said with --json: they belong in the JSON report (or the JSON error), not on stderr as text. */
const jsonWarnings: string[] = [];

/** The warnings said so far with --json, for the JSON error of a command that failed after saying them. */
export function warningsSoFar(): string[] {
  return [...jsonWarnings];
}

/** A command starts with none said. */
export function forgetWarnings(): void {
  jsonWarnings.length = 0;
}

/**
 * Where a command's words go. Data owns stdout when it is written there; otherwise the report does.
 * Warnings always go to stderr, so `-q` and pipelines never hide them.
 */
export class Reporter {
  readonly out: NodeJS.WriteStream;
  readonly colour: ChalkInstance;
  readonly errColour: ChalkInstance;

  constructor(readonly options: ReportOptions) {
    this.out = options.stdoutIsData ? process.stderr : process.stdout;
    this.colour = colourFor(this.out);
    this.errColour = colourFor(process.stderr);
  }

  /** A line of the human report. */
  info(text: string): void {
    if (this.options.quiet || this.options.json) return;
    this.out.write(text.endsWith('\n') ? text : `${text}\n`);
  }

  warn(text: string): void {
    if (this.options.json) {
      jsonWarnings.push(text);
      return;
    }
    process.stderr.write(`${this.errColour.yellow('warning:')} ${escapeName(text)}\n`);
  }

  /** The machine-readable report, printed once at the end of a command, in the common envelope. */
  json(report: JsonReport): void {
    if (!this.options.json) return;
    const { inputs, output, ok, ...fields } = report;
    const envelope = { command: this.options.command, inputs, output: output ?? null, ok: ok ?? true, warnings: [...jsonWarnings], ...fields };
    this.out.write(`${JSON.stringify(envelope, jsonReplacer, 2)}\n`);
  }
}

/** BigInts (big Python ints, 64-bit sizes) print as numbers when exact, as strings otherwise. */
export function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') {
    return value <= BigInt(Number.MAX_SAFE_INTEGER) && value >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(value) : value.toString();
  }
  return value;
}

/**
 * A progress bar on stderr for long work: drawn only on a terminal, from the end of the first second
 * (quick commands and pipelines stay silent), with what is done of the total, the rate and the time left.
 */
export class Progress {
  private readonly started: number;
  private lastDraw = 0;
  private drawn = false;
  private readonly enabled: boolean;
  private readonly unit: 'bytes' | 'runs';
  private readonly stream: { write(text: string): unknown };
  private readonly now: () => number;

  constructor(
    private readonly label: string,
    private total: number,
    options: { enabled?: boolean; unit?: 'bytes' | 'runs'; stream?: { write(text: string): unknown }; now?: () => number } = {},
  ) {
    this.enabled = options.enabled ?? process.stderr.isTTY === true;
    this.unit = options.unit ?? 'bytes';
    this.stream = options.stream ?? process.stderr;
    this.now = options.now ?? Date.now;
    this.started = this.now();
  }

  /** `total` where it is only known once the work has started. */
  update(done: number, total?: number): void {
    if (total !== undefined) this.total = total;
    if (!this.enabled || this.total <= 0) return;
    const now = this.now();
    const elapsed = now - this.started;
    if (elapsed < 1000 || now - this.lastDraw < 100) return;
    this.lastDraw = now;
    this.drawn = true;
    this.stream.write(`\r${progressLine(this.label, Math.min(done, this.total), this.total, elapsed, this.unit)}\x1b[K`);
  }

  finish(): void {
    if (this.drawn) this.stream.write('\r\x1b[K');
  }
}

/** `writing [#########.....] 62%  1.3 GB of 2.1 GB, 410 MB/s, 2 s left` */
export function progressLine(label: string, done: number, total: number, elapsedMs: number, unit: 'bytes' | 'runs'): string {
  const fraction = total > 0 ? done / total : 0;
  const width = 24;
  const filled = Math.round(fraction * width);
  const rate = elapsedMs > 0 ? done / (elapsedMs / 1000) : 0;
  const amount = (n: number): string => (unit === 'bytes' ? formatBytes(n) : `${Math.round(n)}`);
  const left = rate > 0 ? (total - done) / rate : Infinity;
  const eta = Number.isFinite(left) ? `${formatSeconds(left)} left` : 'time left unknown';
  return `${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(fraction * 100).toFixed(0)}%  ${amount(done)} of ${amount(total)}${unit === 'bytes' ? ',' : ' runs,'} ${unit === 'bytes' ? `${formatBytes(rate)}/s` : `${rate.toFixed(1)}/s`}, ${eta}`;
}

function formatSeconds(seconds: number): string {
  if (seconds < 60) return `${Math.ceil(seconds)} s`;
  const minutes = Math.floor(seconds / 60);
  return minutes < 60 ? `${minutes} min ${Math.ceil(seconds - minutes * 60)} s` : `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}
