/**
 * Errors a user can act on. Everything the CLI reports goes through these, so the top level can print
 * one `error: FILE: what is wrong` line and pick the exit code without a stack trace.
 */

/** Exit codes shared by every command. */
export const ExitCode = {
  ok: 0,
  /** A check found a difference (diff, run --compare, verify). */
  different: 1,
  /** Any error: usage, unreadable or malformed input, I/O. */
  error: 2,
} as const;

/** Exit code a command asked for without failing (diff found differences: 1). */
export class ExitWith extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

export class ModsurgError extends Error {
  constructor(
    message: string,
    /** The file the message is about; printed first. */
    readonly file?: string,
  ) {
    super(message);
    this.name = 'ModsurgError';
  }

  /** The one line the user sees. */
  get line(): string {
    return this.file === undefined ? this.message : `${this.file}: ${this.message}`;
  }
}

/** Malformed input data: a reader found bytes it cannot make sense of. */
export class FormatError extends ModsurgError {
  override name = 'FormatError';
}

/** The reader of our stdout went away (`modsurg … -o - | head -c 10`): nothing to tell anyone. */
export class BrokenPipeError extends ModsurgError {
  override name = 'BrokenPipeError';
}

/** Adds the file name to an error thrown by code that only saw bytes. */
export function withFile(error: unknown, file: string): unknown {
  if (error instanceof ModsurgError && error.file === undefined) {
    const named = new (error.constructor as new (m: string, f?: string) => ModsurgError)(error.message, file);
    named.stack = error.stack;
    return named;
  }
  return error;
}

/**
 * A name from a file (a global, a member, a path), its control characters and other non-printing code
 * points as `\xNN` / `\u{N}`: what a hostile file names cannot rewrite the terminal it is reported on.
 */
export function escapeName(name: string): string {
  // a lone surrogate (from a JSON \ud800 escape) is shown as its code, not as U+FFFD
  return name.replace(/[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]/gu, (c) => {
    const code = c.codePointAt(0)!;
    return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u{${code.toString(16)}}`;
  });
}
