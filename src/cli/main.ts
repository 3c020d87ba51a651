import { ExitError } from '@oclif/core/errors';
import { flush } from '@oclif/core/flush';
import type { Config } from '@oclif/core/config';
import { run } from '@oclif/core/run';
import { BrokenPipeError, escapeName, ExitCode, ExitWith, ModsurgError } from '../errors.js';
import { colourFor, forgetWarnings, jsonReplacer, warningsSoFar } from './report.js';

/**
 * The CLI's top level: runs the oclif command, then turns any failure into one `error:` line on stderr
 * and exit code 2 (the stack only with --debug).
 */
export async function runCli(argv: string[], binUrl: string | Config): Promise<void> {
  const debug = argv.includes('--debug');
  forgetWarnings();
  try {
    await run(argv, binUrl);
    await flush();
  } catch (error) {
    if (error instanceof ExitWith) {
      process.exitCode = error.code;
      return;
    }
    // oclif signals a normal exit (after --help / --version) with an ExitError of code 0.
    if (error instanceof ExitError && error.oclif.exit === 0) return;
    // like other pipeline tools, stay quiet when the reader of stdout has gone; its own error says why
    if (error instanceof BrokenPipeError) {
      process.exitCode = ExitCode.error;
      return;
    }
    const red = colourFor(process.stderr);
    if (argv.includes('--json')) {
      // a JSON reader gets JSON for a failure too: the envelope, on stderr, with the error in it
      const file = error instanceof ModsurgError ? (error.file ?? null) : null;
      const message = error instanceof ModsurgError ? error.message : errorLine(error);
      const command = argv.find((arg) => !arg.startsWith('-')) ?? null;
      process.stderr.write(`${JSON.stringify({ command, ok: false, warnings: warningsSoFar(), error: { message, file } }, jsonReplacer, 2)}\n`);
    } else {
      // the line quotes names from files: their control characters must not reach the terminal as such
      process.stderr.write(`${red.red('error:')} ${escapeName(errorLine(error))}\n`);
    }
    if (debug && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
    process.exitCode = ExitCode.error;
  }
}

function errorLine(error: unknown): string {
  if (error instanceof ModsurgError) return error.line;
  if (error instanceof Error) {
    // oclif's parse errors span several lines ("See more help with --help"): the first that says what is
    // wrong, after a "The following error occurred:" header where there is one, becomes the line; one that
    // ends in a colon ("Missing 1 required arg:") takes the lines listing what it means ("input  input file")
    const lines = error.message
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '' && !/^The following errors? occurred:$/.test(line) && !/^(See more help with|Note:|Alternatively,)/.test(line));
    const first = (lines[0] ?? error.message).replace(/^(Error:\s*)?/, '');
    if (!first.endsWith(':') || lines.length < 2) return first;
    const listed = lines.slice(1).map((line) => line.replace(/^(\S+)\s{2,}(.+)$/, '$1 ($2)'));
    return `${first} ${listed.join(', ')}`;
  }
  return String(error);
}
