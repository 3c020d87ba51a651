import { Chalk, type ChalkInstance } from 'chalk';
import { escapeName } from '../errors.js';

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
    process.stderr.write(`${this.errColour.yellow('warning:')} ${escapeName(text)}\n`);
  }

  /** The machine-readable report, printed once at the end of a command. */
  json(value: unknown): void {
    if (!this.options.json) return;
    this.out.write(`${JSON.stringify(value, jsonReplacer, 2)}\n`);
  }
}

/** BigInts (big Python ints, 64-bit sizes) print as numbers when exact, as strings otherwise. */
function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') {
    return value <= BigInt(Number.MAX_SAFE_INTEGER) && value >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(value) : value.toString();
  }
  return value;
}

/**
 * A progress bar on stderr for long work: drawn only on a terminal, and only once the work has taken
 * more than a second, so quick commands and pipelines stay silent.
 */
export class Progress {
  private readonly started = Date.now();
  private lastDraw = 0;
  private drawn = false;

  constructor(
    private readonly label: string,
    private total: number,
    private readonly enabled: boolean = process.stderr.isTTY === true,
  ) {}

  /** `total` where it is only known once the work has started. */
  update(done: number, total?: number): void {
    if (total !== undefined) this.total = total;
    if (!this.enabled || this.total <= 0) return;
    const now = Date.now();
    if (now - this.started < 1000 || now - this.lastDraw < 100) return;
    this.lastDraw = now;
    this.drawn = true;
    const fraction = Math.min(1, done / this.total);
    const width = 30;
    const filled = Math.round(fraction * width);
    process.stderr.write(`\r${this.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(fraction * 100).toFixed(0)}%`);
  }

  finish(): void {
    if (this.drawn) process.stderr.write('\r\x1b[K');
  }
}
