import { ExitError } from '@oclif/core/errors';
import { flush } from '@oclif/core/flush';
import type { Config } from '@oclif/core/config';
import { run } from '@oclif/core/run';
import { BrokenPipeError, escapeName, ExitCode, ExitWith, ModsurgError } from '../errors.js';
import { colourFor } from './report.js';

/**
 * The CLI's top level: runs the oclif command, then turns any failure into one `error:` line on stderr
 * and exit code 2 (the stack only with --debug).
 */
export async function runCli(argv: string[], binUrl: string | Config): Promise<void> {
  const debug = argv.includes('--debug');
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
    // the line quotes names from files: their control characters must not reach the terminal as such
    process.stderr.write(`${red.red('error:')} ${escapeName(errorLine(error))}\n`);
    if (debug && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
    process.exitCode = ExitCode.error;
  }
}

function errorLine(error: unknown): string {
  if (error instanceof ModsurgError) return error.line;
  if (error instanceof Error) {
    // oclif's parse errors span several lines ("See more help with --help"): the first that says what is
    // wrong, after a "The following error occurred:" header where there is one, becomes the line.
    const lines = error.message.split('\n').filter((line) => line.trim() !== '' && !/^The following errors? occurred:$/.test(line.trim()));
    return (lines[0] ?? error.message).replace(/^\s*(Error:\s*)?/, '').trim();
  }
  return String(error);
}
