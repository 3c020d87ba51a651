import type { Hook } from '@oclif/core/hooks';
import { closest, distance } from 'fastest-levenshtein';
import { escapeName, ModsurgError } from '../errors.js';

/**
 * An unknown command: one error line (exit 2, as every error) naming the closest command when it is a
 * likely typo. Not @oclif/plugin-not-found, which prints a multi-line warning, exits 127 and says "did
 * you mean" only by prompting on a terminal — a prompt a pipeline cannot answer.
 */
const hook: Hook<'command_not_found'> = async function (opts) {
  // with spaces as topic separators oclif glues the arguments onto the id: `inpsect:x.pth`
  const typed = opts.id.split(':')[0] ?? opts.id;
  const commands = opts.config.commands.filter((c) => !c.hidden).map((c) => c.id);
  const suggestion = commands.length > 0 ? closest(typed, commands) : undefined;
  const near = suggestion !== undefined && distance(typed, suggestion) <= Math.max(2, Math.floor(typed.length / 3));
  throw new ModsurgError(`'${escapeName(typed)}' is not a ${opts.config.bin} command${near ? `; did you mean '${suggestion}'?` : ''} (${opts.config.bin} help lists them)`);
};

export default hook;
