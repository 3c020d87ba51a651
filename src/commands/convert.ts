import { Flags } from '@oclif/core';
import { ModsurgCommand } from '../cli/base-command.js';
import { formatFlag, inputArg, outputFlag } from '../cli/flags.js';
import { Progress } from '../cli/report.js';
import { castFloatingTensors } from '../checkpoint/cast.js';
import { checkpointFormat, outputFormat, readCheckpoint, writeCheckpoint } from '../checkpoint/files.js';
import type { CastTarget } from '../checkpoint/numeric.js';
import { getPath, isModuleObject, moduleClassName, resolvePath, toPlainData } from '../checkpoint/state-dict.js';
import { openInput, writeOutput } from '../io/files.js';

export default class Convert extends ModsurgCommand {
  static override summary = 'Convert a checkpoint between torch zip, torch legacy and safetensors; extract a sub-object; cast dtypes.';
  static override description =
    'The output format follows the extension (.pth .pt .bin .ckpt → torch zip, .safetensors) or --format. Whole-model pickles are written as their state dict (plain data, loadable with weights_only=True). --key writes only that part of the file (e.g. the model out of a training checkpoint). --dtype casts every floating-point tensor, rounding to nearest even like torch.';
  static override examples = [
    '<%= config.bin %> convert model.pth -o model.safetensors',
    '<%= config.bin %> convert model.safetensors -o model.pth',
    '<%= config.bin %> convert training.pth --key model_state_dict -o weights.pth',
    '<%= config.bin %> convert model.pth --dtype float16 -o model_fp16.safetensors',
    '<%= config.bin %> convert old.pth --format torch-legacy -o legacy.pth',
  ];
  static override args = { input: inputArg };
  static override flags = {
    output: outputFlag,
    format: formatFlag,
    key: Flags.string({ description: 'write only the object at this dot path (e.g. model_state_dict)' }),
    dtype: Flags.string({ description: 'cast floating-point tensors to this dtype', options: ['float16', 'bfloat16', 'float32', 'float64'] }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Convert);
    const reporter = this.reporter(flags, flags.output);
    const source = openInput(args.input);
    try {
      const checkpoint = readCheckpoint(source);
      if (isModuleObject(checkpoint.root)) {
        reporter.info(`${source.name}: whole-model pickle (${moduleClassName(checkpoint.root)}); writing its state dict`);
      }
      let root = toPlainData(checkpoint.root);
      if (flags.key !== undefined) root = getPath(root, resolvePath(root, flags.key));
      let cast = 0;
      if (flags.dtype !== undefined) ({ root, cast } = castFloatingTensors(root, flags.dtype as CastTarget));
      const format = checkpointFormat(outputFormat(flags.output, flags.format, checkpoint.format), flags.output);
      const progress = new Progress('writing', source.size);
      await writeOutput(flags.output, (sink) =>
        writeCheckpoint(root, format, sink, { ...(checkpoint.metadata ? { metadata: checkpoint.metadata } : {}), onProgress: (n) => progress.update(n), origin: source.name }),
      );
      progress.finish();
      reporter.info(`${source.name} (${checkpoint.format}) → ${flags.output} (${format})${flags.dtype ? `, ${cast} tensors cast to ${flags.dtype}` : ''}`);
      reporter.json({ input: source.name, inputFormat: checkpoint.format, output: flags.output, format, key: flags.key ?? null, cast });
    } finally {
      source.close();
    }
  }
}
