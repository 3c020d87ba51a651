import * as Args from '@oclif/core/args';
import * as Flags from '@oclif/core/flags';

/** The argument and flags shared by commands that read one file and write another. */
export const inputArg = Args.string({ description: 'input file, or - for stdin', required: true });

export const outputFlag = Flags.string({ char: 'o', description: 'output file, or - for stdout', required: true });

/** Outputs are flushed to the disk before taking their name only when they replace a file; this asks it always. */
export const fsyncFlag = Flags.boolean({ description: 'flush the output to the disk before it takes its name, also when it replaces no file (slower; a crash then never leaves a new file half-written)' });

export const formatFlag = Flags.string({
  description: 'output format (default: from the output extension; on stdout, the input format)',
  options: ['torch', 'torch-legacy', 'safetensors', 'onnx'],
});

/** For commands that write checkpoints: re-split a sharded output. */
export const maxShardSizeFlag = Flags.string({
  description: 'with -o DIR/NAME.index.json: start a new shard before one would pass this size (hub units: 5GB = 5·10⁹ bytes, 5GiB = 5·2³⁰); default: keep the input\'s shards',
});

export const keyFlag = Flags.string({
  description: 'act only on the state dict at this dot path (e.g. model_state_dict); default: every state dict found',
});

/** For commands that write checkpoints: leave out what torch.load(weights_only=True) would refuse instead of refusing the file. */
export const dropUnsafeFlag = Flags.boolean({
  description: "leave out every value torch.load(weights_only=True) would refuse (objects of unknown classes, calls of functions outside its allowlist), listing what was dropped, instead of refusing the file",
});
