import * as Flags from '@oclif/core/flags';
import { ModsurgCommand } from '../cli/base-command.js';
import { ModsurgError } from '../errors.js';
import { editCheckpointStateDicts, writeCheckpointOutput } from '../cli/checkpoint-output.js';
import { dropUnsafeFlag, formatFlag, inputArg, keyFlag, outputFlag, fsyncFlag, maxShardSizeFlag } from '../cli/flags.js';
import { checkpointFormat, outputFormat, readCheckpoint } from '../checkpoint/files.js';
import { addModuleToStateDict } from '../head/checkpoint-head.js';
import { describeSource } from '../head/report.js';
import { initSource, weightsSource, type ParameterSource } from '../head/source.js';
import { parseHeadSpec, parseLayerSpec } from '../head/spec.js';
import { printHead } from '../head/torch-repr.js';
import { openInput } from '../io/files.js';
import { isOnnxFile, openCheckpointInput } from '../checkpoint/sharded.js';

export default class AddModule extends ModsurgCommand {
  static override summary = "Add a new module's parameters to a checkpoint's state dict, as model.add_module(name, module) would.";
  static override description = [
    "What `self.fc_add = nn.Linear(1001, 10)` in a wrapper such as the tutorial's `Model(net)`, then `model.state_dict()`, gives on a file: the new module's keys (fc_add.weight, fc_add.bias) come after the existing ones, and _metadata records it, so the result loads with load_state_dict(strict=True) into the extended model. Use it after `add-prefix --prefix net.` to turn a network's state dict into its wrapper's.",
    '',
    "--layer is one layer that is the module itself ('Linear(1001,10)', 'LayerNorm(10)'); --head is an nn.Sequential of named layers ('fc1=Linear(1000,128),relu=ReLU(),fc2=Linear(128,10)': keys fc_add.fc1.weight, …), in replace-head's spec language. Feature counts must be given: a new module has nothing in the file that feeds it. Values come from --weights (keys fc_add.weight or weight; fc1.weight … for --head) or PyTorch's default initialisation, repeatable with --seed, in the dtype of the state dict's weights. A name that already exists is an error: replacing a module is replace-head's job.",
  ].join('\n');
  static override examples = [
    "<%= config.bin %> add-prefix r50.pth --prefix net. -o - | <%= config.bin %> add-module - --at fc_add --layer 'Linear(1001,10)' --weights fc_add.pth -o model.pth",
    "<%= config.bin %> add-module model.pth --at aux --head 'fc1=Linear(2048,128),relu=ReLU(),fc2=Linear(128,3)' --seed 1 -o model_aux.pth",
  ];
  static override args = { input: inputArg };
  static override flags = {
    output: outputFlag,
    fsync: fsyncFlag,
    'max-shard-size': maxShardSizeFlag,
    at: Flags.string({ description: 'the new module\'s name (dot path), e.g. fc_add', required: true }),
    layer: Flags.string({ description: "the module, one layer: e.g. 'Linear(1001,10)'" }),
    head: Flags.string({ description: "the module, an nn.Sequential: e.g. 'fc1=Linear(1000,128),relu=ReLU(),fc2=Linear(128,10)'" }),
    weights: Flags.string({ description: 'values for the new parameters (torch or safetensors file)' }),
    seed: Flags.integer({ description: 'seed for the default initialisation (default: random, and reported)' }),
    key: keyFlag,
    format: formatFlag,
    'drop-unsafe': dropUnsafeFlag,
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(AddModule);
    const reporter = this.reporter(flags, flags.output);
    if ((flags.layer === undefined) === (flags.head === undefined)) throw new ModsurgError("say what the new module is with one of --layer 'Linear(1001,10)' and --head SPEC");
    if (flags.weights !== undefined && flags.seed !== undefined) throw new ModsurgError('--seed is for the default initialisation; with --weights the values come from the file');
    const spec = flags.layer !== undefined ? parseLayerSpec(flags.layer, '--layer') : parseHeadSpec(flags.head!);
    const source = openCheckpointInput(args.input, { streaming: true });
    const weights = flags.weights !== undefined ? openInput(flags.weights) : undefined;
    try {
      if (isOnnxFile(source)) {
        throw new ModsurgError('is an ONNX model; add-module edits checkpoints (for a model, add a head with add-output --head or add-input)', source.name);
      }
      const parameterSource: ParameterSource = weights ? weightsSource(readCheckpoint(weights).root, weights.name) : initSource(flags.seed);
      const { checkpoint, root, results: additions } = editCheckpointStateDicts(source, { key: flags.key, dropUnsafe: flags['drop-unsafe'] }, reporter, (dict) => {
        const result = addModuleToStateDict(dict, flags.at, spec, parameterSource);
        return { dict: result.dict, result };
      });
      const format = checkpointFormat(outputFormat(flags.output, flags.format, checkpoint.format), flags.output);
      await writeCheckpointOutput(flags.output, root, format, { source, checkpoint }, { maxShardSize: flags['max-shard-size'], reporter });
      for (const { path, result: addition } of additions) {
        const shapes = addition.parameters.map((p) => `${addition.at}.${p.name} [${p.shape.join(', ')}] ${p.dtype}`);
        reporter.info(
          [`${path === '' ? 'state dict' : path}: added ${addition.at} = ${printHead(addition.head).split('\n').join('\n  ')}`, `  added ${shapes.length} key${shapes.length === 1 ? '' : 's'}: ${shapes.join(', ') || '(the module has no parameters)'}`].join('\n'),
        );
      }
      reporter.info(describeSource(parameterSource));
      reporter.json({
        inputs: [source.name, ...(flags.weights !== undefined ? [flags.weights] : [])],
        output: flags.output,
        format,
        at: flags.at,
        init: parameterSource.kind === 'weights' ? { weights: parameterSource.file } : { seed: parameterSource.seed },
        stateDicts: additions.map(({ path, result: addition }) => ({
          path,
          module: printHead(addition.head),
          added: addition.parameters.map((p) => ({ key: `${addition.at}.${p.name}`, dtype: p.dtype, shape: p.shape })),
        })),
      });
    } finally {
      source.close();
      weights?.close();
    }
  }
}
