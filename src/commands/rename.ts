import * as Flags from '@oclif/core/flags';
import { ModsurgCommand } from '../cli/base-command.js';
import { ModsurgError } from '../errors.js';
import { dropUnsafeFlag, formatFlag, inputArg, keyFlag, fsyncFlag, maxShardSizeFlag } from '../cli/flags.js';
import { runKeyEdit } from '../cli/key-edit.js';
import { parseRule, parseRuleFile, renameByRules } from '../checkpoint/rename.js';
import { readTextInput } from '../io/files.js';

export default class Rename extends ModsurgCommand {
  static override summary = 'Rename state-dict keys with regular expressions.';
  static override description =
    'Each --map rule is a JavaScript regular expression and a replacement ($1 for groups), applied in order to every key (the first match in a key is replaced; use a /g-free pattern anchored with ^ or $ as needed). Two keys renamed to one name is an error. --dry-run prints old → new without writing.';
  static override examples = [
    `<%= config.bin %> rename model.pth --map '^fc\\.=>head.' -o renamed.pth`,
    `<%= config.bin %> rename model.pth --map '^backbone\\.(.*)=>encoder.$1' --map 'running_(mean|var)=>stat_$1' --dry-run -o /dev/null`,
    '<%= config.bin %> rename model.pth --map-file rules.txt -o renamed.pth',
  ];
  static override args = { input: inputArg };
  static override flags = {
    output: Flags.string({ char: 'o', description: 'output file, or - for stdout (not needed with --dry-run)' }),
    fsync: fsyncFlag,
    'max-shard-size': maxShardSizeFlag,
    map: Flags.string({ description: "a rule 'REGEX=>REPLACEMENT' (repeatable, applied in order)", multiple: true }),
    'map-file': Flags.string({ description: 'a file of rules, one per line (# comments)' }),
    'dry-run': Flags.boolean({ description: 'print old → new and write nothing' }),
    key: keyFlag,
    format: formatFlag,
    'drop-unsafe': dropUnsafeFlag,
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Rename);
    const rules = [...(flags.map ?? []).map(parseRule), ...(flags['map-file'] ? parseRuleFile(readTextInput(flags['map-file'])) : [])];
    if (rules.length === 0) throw new ModsurgError('no rename rules: give --map REGEX=>REPLACEMENT or --map-file FILE');
    if (!flags['dry-run'] && flags.output === undefined) throw new ModsurgError('missing -o OUTPUT (or use --dry-run)');
    const output = flags.output ?? '-';
    await runKeyEdit({
      input: args.input,
      flags: { ...flags, output },
      verb: 'renamed',
      edit: (dict) => renameByRules(dict, rules),
      reporter: this.reporter(flags, flags['dry-run'] ? undefined : output),
    });
  }
}
