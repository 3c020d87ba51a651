import * as Flags from '@oclif/core/flags';
import { ModsurgCommand } from '../cli/base-command.js';
import { ModsurgError, withFile } from '../errors.js';
import { editCheckpointStateDicts, writeCheckpointOutput } from '../cli/checkpoint-output.js';
import { dropUnsafeFlag, formatFlag, inputArg, keyFlag, outputFlag, fsyncFlag, maxShardSizeFlag } from '../cli/flags.js';
import { checkpointFormat, outputFormat, readCheckpoint } from '../checkpoint/files.js';
import { optimizerStatePaths, replaceHeadInStateDict } from '../head/checkpoint-head.js';
import { initSource, weightsSource, type ParameterSource } from '../head/source.js';
import { describeReplacement, describeSource, replacementJson } from '../head/report.js';
import { classesHead, formatHeadSpec, parseHeadSpec } from '../head/spec.js';
import { checkAndWriteEdit, describeData, layoutRequest, onnxOutputFlags } from '../cli/onnx-output.js';
import { ExternalDataFiles } from '../graph/external-data.js';
import { readOnnxFile } from '../graph/files.js';
import { describeOnnxReplacement, onnxReplacementJson, replaceHeadInOnnx } from '../graph/surgery/onnx-head.js';
import { openInput } from '../io/files.js';
import { isOnnxFile, openCheckpointInput } from '../checkpoint/sharded.js';

export default class ReplaceHead extends ModsurgCommand {
  static override summary = "Replace a model's classifier (the last Linear, or --at MODULE) by a new head, in a checkpoint or an ONNX model.";
  static override description = [
    'What `model.fc = nn.Sequential(OrderedDict(...))` then `model.state_dict()` gives, on a file: the module\'s keys go, the head\'s keys (fc.fc1.weight, …) take their place, and _metadata records the new modules, so the result loads with load_state_dict(strict=True) into the model changed the same way. --classes N puts a plain nn.Linear(in_features, N) in place of the module itself (keys fc.weight, fc.bias).',
    '',
    "--head is a comma-separated list of [name=]Layer(args), with torch's argument names and defaults: Linear(in_features, out_features, bias=True), ReLU, LeakyReLU(negative_slope=0.01), GELU(approximate='none'|'tanh'), SiLU, Sigmoid, Tanh, Dropout(p=0.5), Softmax(dim), LogSoftmax(dim), Flatten(start_dim=1, end_dim=-1), Identity, BatchNorm1d(num_features, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True), LayerNorm(normalized_shape, eps=1e-05, elementwise_affine=True). A `?` for a feature count takes it from the model; unnamed layers are named 0, 1, … by position.",
    '',
    "In an ONNX model the module's nodes (found from the exporter's scopes: /fc/Gemm, the dynamo exporter's name_scopes metadata, or initializer names) are replaced by the head's, which read the same tensor and write the same one, so the graph output keeps its name; its declared shape becomes [batch, out_features]. New initializers are named like state-dict keys (fc.fc1.weight).",
    '',
    'New parameters take the dtype of the module replaced. They come from --weights (keys fc1.weight … or fc.fc1.weight …; weight, bias for --classes), or get PyTorch\'s default initialisation (Linear: uniform ±1/√in_features; norms: ones and zeros), repeatable with --seed. Acts on every state dict in the file, or --key; everything else is written back unchanged.',
  ].join('\n');
  static override examples = [
    "<%= config.bin %> replace-head resnet50.pth --classes 5 -o resnet50_5.pth",
    "<%= config.bin %> replace-head resnet50.pth --at fc --head 'fc1=Linear(?,128),relu1=ReLU(),dropout1=Dropout(0.5),fc2=Linear(128,10),output=Softmax(dim=1)' -o new_head.pth",
    "<%= config.bin %> replace-head model.safetensors --head 'Linear(?,256),GELU(),Linear(256,3)' --seed 7 -o model3.safetensors",
    "<%= config.bin %> replace-head model.pth --at classifier --classes 2 --weights head.safetensors -o binary.pth",
    "<%= config.bin %> replace-head training.ckpt --key model_state_dict --classes 100 -o cifar100.ckpt",
    "<%= config.bin %> replace-head model.onnx --at fc --head 'fc1=Linear(?,128),relu1=ReLU(),fc2=Linear(128,10),output=Softmax(dim=1)' --weights head.safetensors -o new_head.onnx",
  ];
  static override args = { input: inputArg };
  static override flags = {
    output: outputFlag,
    fsync: fsyncFlag,
    'max-shard-size': maxShardSizeFlag,
    head: Flags.string({ description: "the new head: [name=]Layer(args),… e.g. 'fc1=Linear(?,128),relu1=ReLU(),fc2=Linear(128,10)'" }),
    classes: Flags.integer({ description: 'replace the module by nn.Linear(in_features, N)' }),
    at: Flags.string({ description: "dot path of the module to replace (default: the model's classifier: a known head name such as fc, head.fc, classifier.N, lm_head, else the one Linear nothing reads)" }),
    weights: Flags.string({ description: 'values for the new parameters (torch or safetensors file)' }),
    seed: Flags.integer({ description: 'seed for the default initialisation (default: random, and reported)' }),
    key: keyFlag,
    format: formatFlag,
    'drop-unsafe': dropUnsafeFlag,
    ...onnxOutputFlags,
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(ReplaceHead);
    const reporter = this.reporter(flags, flags.output);
    const layout = layoutRequest(flags);
    if ((flags.head === undefined) === (flags.classes === undefined)) throw new ModsurgError('say what the new head is with one of --head SPEC and --classes N');
    if (flags.weights !== undefined && flags.seed !== undefined) throw new ModsurgError('--seed is for the default initialisation; with --weights the values come from the file');
    const spec = flags.head !== undefined ? parseHeadSpec(flags.head) : classesHead(flags.classes!);
    const source = openCheckpointInput(args.input, { streaming: true });
    const weights = flags.weights !== undefined ? openInput(flags.weights) : undefined;
    try {
      const parameterSource: ParameterSource = weights ? weightsSource(readCheckpoint(weights).root, weights.name) : initSource(flags.seed);
      if (isOnnxFile(source)) {
        const model = readOnnxFile(source);
        const external = new ExternalDataFiles(model.folder, source.name);
        try {
          const edit = replaceHeadInOnnx(model, flags.at, spec, parameterSource);
          const { written } = await checkAndWriteEdit(model, edit.model, layout, external);
          reporter.info(describeOnnxReplacement(edit));
          reporter.info(describeSource(parameterSource));
          const data = describeData(written, model);
          if (data) reporter.info(data);
          reporter.json({
            inputs: [source.name, ...(flags.weights !== undefined ? [flags.weights] : [])],
            output: flags.output,
            format: 'onnx',
            ...onnxReplacementJson(edit),
            init: parameterSource.kind === 'weights' ? { weights: parameterSource.file } : { seed: parameterSource.seed },
            dataFile: written.dataFile ?? null,
          });
        } catch (error) {
          throw withFile(error, source.name);
        } finally {
          external.close();
        }
        return;
      }
      const { checkpoint, root, results: replacements } = editCheckpointStateDicts(source, { key: flags.key, dropUnsafe: flags['drop-unsafe'] }, reporter, (dict) => {
        const result = replaceHeadInStateDict(dict, flags.at, spec, parameterSource);
        return { dict: result.dict, result };
      });
      for (const path of optimizerStatePaths(root)) {
        reporter.warn(`${path || 'the file'}: the optimizer state still describes the old head's parameters; start a new optimizer for the new head`);
      }
      const format = checkpointFormat(outputFormat(flags.output, flags.format, checkpoint.format), flags.output);
      await writeCheckpointOutput(flags.output, root, format, { source, checkpoint }, { maxShardSize: flags['max-shard-size'], reporter });
      for (const { path, result } of replacements) reporter.info(describeReplacement(path, result).join('\n'));
      reporter.info(describeSource(parameterSource));
      reporter.json({
        inputs: [source.name, ...(flags.weights !== undefined ? [flags.weights] : [])],
        output: flags.output,
        format,
        spec: spec.kind === 'sequential' ? formatHeadSpec(spec.layers) : null,
        classes: spec.kind === 'single' && spec.layer.kind === 'Linear' ? spec.layer.outFeatures : null,
        init: parameterSource.kind === 'weights' ? { weights: parameterSource.file } : { seed: parameterSource.seed },
        stateDicts: replacements.map(({ path, result }) => replacementJson(path, result)),
      });
    } finally {
      source.close();
      weights?.close();
    }
  }
}
