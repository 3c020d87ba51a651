import { Command } from '@oclif/core/command';
import * as Flags from '@oclif/core/flags';
import type * as Interfaces from '@oclif/core/interfaces';
import { Reporter } from './report.js';
import { checkOutputTarget, setFsyncAlways, STDIO } from '../io/files.js';

/** Flags every command has. */
export const commonFlags = {
  json: Flags.boolean({ description: 'print a machine-readable JSON report (on stderr when stdout carries data)' }),
  quiet: Flags.boolean({ char: 'q', description: 'print no human report (warnings and errors still go to stderr)' }),
  debug: Flags.boolean({ description: 'show stack traces of errors' }),
};

/** What oclif parses flags and arguments into. */
type Parsed = Record<string, unknown>;

export type CommonFlags = Interfaces.InferredFlags<typeof commonFlags>;

/**
 * The base of every modsurg command: it only builds the reporter. Parsing, reading, editing and
 * writing stay in each command's `run`, which wires modules together and holds no logic of its own.
 */
export abstract class ModsurgCommand extends Command {
  static override baseFlags = commonFlags;

  /**
   * Flags that set process-wide output policy (`--fsync`) take effect as soon as they are parsed, and an
   * output that cannot be written (`-o nodir/x.pth`, `-o adir`) is refused before any input is read.
   */
  protected override async parse<F extends Parsed, B extends Parsed, A extends Parsed>(
    options?: Interfaces.Input<F, B, A>,
    argv?: string[],
  ): Promise<Interfaces.ParserOutput<F, B, A>> {
    const parsed = await super.parse(options, argv);
    const flags = parsed.flags as { fsync?: boolean; output?: unknown };
    setFsyncAlways(flags.fsync === true);
    if (typeof flags.output === 'string') checkOutputTarget(flags.output);
    return parsed;
  }

  protected reporter(flags: CommonFlags, output?: string): Reporter {
    return new Reporter({ quiet: flags.quiet, json: flags.json, stdoutIsData: output === STDIO, command: this.id ?? 'modsurg' });
  }

  /** Errors are printed by the top level (src/cli/main.ts) as one line; let them through. */
  protected override async catch(error: Error & { exitCode?: number }): Promise<unknown> {
    throw error;
  }
}
