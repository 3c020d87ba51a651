import * as Args from '@oclif/core/args';
import * as Flags from '@oclif/core/flags';
import { tmpdir } from 'node:os';
import { ModsurgCommand } from '../cli/base-command.js';
import { removeStale, staleTemporaries } from '../io/temp-files.js';

export default class Clean extends ModsurgCommand {
  static override summary = 'Remove what a killed modsurg left behind: temporary outputs and stdin spools whose process is gone.';
  static override description =
    "A write goes to .NAME.modsurg-PID-RANDOM.tmp beside its target and is renamed when complete; Ctrl-C removes it, but a process killed outright (SIGKILL, a crash, a power cut) cannot. The next write of the same target removes its own stale temporaries; clean removes every one in the folders named (default: the current folder) and stale stdin spools in the system's temporary folder. A temporary whose process still runs is never touched.";
  static override examples = ['<%= config.bin %> clean', '<%= config.bin %> clean models/ checkpoints/ --dry-run'];
  static override strict = false;
  static override args = { folders: Args.string({ description: 'folders to clean (default: .)' }) };
  static override flags = { 'dry-run': Flags.boolean({ description: 'list what would be removed, remove nothing' }) };

  async run(): Promise<void> {
    const { argv, flags } = await this.parse(Clean);
    const reporter = this.reporter(flags);
    const folders = (argv as string[]).length > 0 ? (argv as string[]) : ['.'];
    const stale = [...new Set([...folders, tmpdir()].flatMap((folder) => staleTemporaries(folder)))];
    const removed = flags['dry-run'] ? [] : removeStale(stale);
    for (const path of flags['dry-run'] ? stale : removed) reporter.info(`${flags['dry-run'] ? 'would remove' : 'removed'} ${path}`);
    if (stale.length === 0) reporter.info('nothing stale');
    reporter.json({ inputs: folders, stale, removed });
  }
}
