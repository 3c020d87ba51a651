import { ModsurgCommand } from '../cli/base-command.js';
import * as Flags from '@oclif/core/flags';
import { dropUnsafeFlag, formatFlag, inputArg, keyFlag, outputFlag, fsyncFlag, maxShardSizeFlag } from '../cli/flags.js';
import { stripPrefix } from '../checkpoint/rename.js';
import { runKeyEdit } from '../cli/key-edit.js';

export default class StripPrefix extends ModsurgCommand {
  static override summary = 'Remove a key prefix (default module.) from the state dicts of a checkpoint.';
  static override description =
    'What torch.nn.modules.utils.consume_prefix_in_state_dict_if_present does, on a file: keys and `_metadata` lose the prefix that nn.DataParallel (module.), torch.compile (_orig_mod.) or a wrapper (model.) added. Everything else in the file is written back unchanged.';
  static override examples = [
    '<%= config.bin %> strip-prefix dp.pth -o model.pth',
    '<%= config.bin %> strip-prefix compiled.pth --prefix _orig_mod. -o model.pth',
    '<%= config.bin %> strip-prefix lightning.ckpt --prefix model. --key state_dict -o model.ckpt',
    'curl -sL $URL | <%= config.bin %> strip-prefix - -o - | <%= config.bin %> inspect -',
  ];
  static override args = { input: inputArg };
  static override flags = {
    output: outputFlag,
    fsync: fsyncFlag,
    'max-shard-size': maxShardSizeFlag,
    prefix: Flags.string({ description: 'the prefix to remove', default: 'module.' }),
    key: keyFlag,
    format: formatFlag,
    'drop-unsafe': dropUnsafeFlag,
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(StripPrefix);
    await runKeyEdit({ input: args.input, flags, verb: 'stripped', edit: (dict) => stripPrefix(dict, flags.prefix), reporter: this.reporter(flags, flags.output), prefix: { value: flags.prefix, kind: 'strip' } });
  }
}
