import { ModsurgCommand } from '../cli/base-command.js';
import * as Flags from '@oclif/core/flags';
import { dropUnsafeFlag, formatFlag, inputArg, keyFlag, outputFlag, fsyncFlag, maxShardSizeFlag } from '../cli/flags.js';
import { addPrefix } from '../checkpoint/rename.js';
import { runKeyEdit } from '../cli/key-edit.js';

export default class AddPrefix extends ModsurgCommand {
  static override summary = 'Add a key prefix (default module.) to the state dicts of a checkpoint.';
  static override description =
    'The inverse of strip-prefix: makes a plain state dict load into a model wrapped in nn.DataParallel / DistributedDataParallel (or any wrapper whose attribute name you give). `_metadata` gets the wrapper as its root.';
  static override examples = [
    '<%= config.bin %> add-prefix model.pth -o dp.pth',
    '<%= config.bin %> add-prefix model.safetensors --prefix model. -o wrapped.safetensors',
  ];
  static override args = { input: inputArg };
  static override flags = {
    output: outputFlag,
    fsync: fsyncFlag,
    'max-shard-size': maxShardSizeFlag,
    prefix: Flags.string({ description: 'the prefix to add', default: 'module.' }),
    key: keyFlag,
    format: formatFlag,
    'drop-unsafe': dropUnsafeFlag,
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(AddPrefix);
    await runKeyEdit({ input: args.input, flags, verb: 'prefixed', edit: (dict) => addPrefix(dict, flags.prefix), reporter: this.reporter(flags, flags.output), prefix: { value: flags.prefix, kind: 'add' } });
  }
}
