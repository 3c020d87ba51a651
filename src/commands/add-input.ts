import * as Flags from '@oclif/core/flags';
import { ModsurgCommand } from '../cli/base-command.js';
import { withFile } from '../errors.js';
import { inputArg, outputFlag, fsyncFlag } from '../cli/flags.js';
import { readCheckpoint } from '../checkpoint/files.js';
import { checkAndWriteEdit, describeData, layoutRequest, onnxOutputFlags } from '../cli/onnx-output.js';
import { ExternalDataFiles } from '../graph/external-data.js';
import { readOnnxFile } from '../graph/files.js';
import { tensorOrModuleOutput } from '../graph/module-scopes.js';
import { addInput, planAddInput } from '../graph/surgery/add-input.js';
import { defaultOpset } from '../graph/surgery/onnx-head.js';
import { initSource, weightsSource } from '../head/source.js';
import { printHead } from '../head/torch-repr.js';
import { openInput } from '../io/files.js';
import { onnxruntimeTypeOf } from '../runtime/check-model.js';

export default class AddInput extends ModsurgCommand {
  static override summary = 'Feed an extra input into an ONNX model before its head: head(cat(pre(T), NAME), dim=1).';
  static override description = [
    "The PyTorch tutorial's extra input — `x = torch.cat((x, add_variable.unsqueeze(1)), 1); x = self.fc(x)` in the model's forward — done on the exported file: a new graph input NAME is reshaped to [batch, -1], concatenated with pre(T) along dim 1, and fed through --head; the result replaces the graph output (keeping its name, or --replace another). T is --at: a tensor name, or a module whose output it is (avgpool, layer4). --shape batch (the default) means a 1-D input of the batch size, unsqueezed like add_variable.unsqueeze(1); other shapes are dims like 'batch,4'. --pre layers (Flatten(1), activations) must have no parameters. The part of the graph that only fed the old output is removed, or kept with --keep-outputs (as <output>_original).",
    '',
    "--head uses replace-head's spec language ('fc=Linear(?,10)': ? is the features of pre(T) plus NAME's); its values come from --weights (keys fc.weight, …) or PyTorch's default initialisation (--seed).",
  ].join('\n');
  static override examples = [
    "<%= config.bin %> add-input resnet.onnx --name add_variable --at avgpool --pre 'Flatten(1)' --head 'fc=Linear(?,10)' --weights fc9.safetensors -o extra_input.onnx",
    "<%= config.bin %> add-input model.onnx --name meta --shape batch,4 --dtype float32 --at /Flatten_output_0 --head 'fc1=Linear(?,64),relu=ReLU(),fc2=Linear(64,2)' --seed 1 -o with_meta.onnx",
  ];
  static override args = { input: inputArg };
  static override flags = {
    output: outputFlag,
    fsync: fsyncFlag,
    name: Flags.string({ description: 'name of the new graph input', required: true }),
    shape: Flags.string({ description: "its shape: 'batch' (a 1-D input of the batch size) or dims like 'batch,4'", default: 'batch' }),
    dtype: Flags.string({ description: 'its element type', default: 'float32', options: ['float32', 'float16', 'float64'] }),
    at: Flags.string({ description: 'T: a tensor name, or a module whose output T is', required: true }),
    pre: Flags.string({ description: "parameter-free layers applied to T first, e.g. 'Flatten(1)'" }),
    head: Flags.string({ description: "the head on cat(pre(T), NAME), e.g. 'fc=Linear(?,10)'", required: true }),
    weights: Flags.string({ description: 'values for the head (torch or safetensors file)' }),
    seed: Flags.integer({ description: 'seed for the default initialisation' }),
    replace: Flags.string({ description: 'the graph output the head replaces (default: the first)' }),
    'keep-outputs': Flags.boolean({ description: 'keep the old output too, as <output>_original' }),
    ...onnxOutputFlags,
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(AddInput);
    const reporter = this.reporter(flags, flags.output);
    const layout = layoutRequest(flags);
    const source = openInput(args.input);
    const weights = flags.weights !== undefined ? openInput(flags.weights) : undefined;
    let external: ExternalDataFiles | undefined;
    try {
      const model = readOnnxFile(source);
      external = new ExternalDataFiles(model.folder, source.name);
      const graph = model.graph;
      const at = tensorOrModuleOutput(graph, flags.at);
      const tType = await onnxruntimeTypeOf(model, at);
      const parameterSource = weights ? weightsSource(readCheckpoint(weights).root, weights.name) : initSource(flags.seed);
      const { request, preFeatures, features } = planAddInput(graph, {
        name: flags.name,
        shape: flags.shape,
        dtype: flags.dtype,
        at,
        atType: tType,
        ...(flags.pre !== undefined ? { pre: flags.pre } : {}),
        head: flags.head,
        parameterSource,
        ...(flags.replace !== undefined ? { replace: flags.replace } : {}),
        keepOutput: flags['keep-outputs'],
        opset: defaultOpset(model),
      });
      const edit = addInput(graph, request);
      const { head, type: inputType, output } = request;
      const { written } = await checkAndWriteEdit(model, { ...model, graph: edit.graph }, layout, external);
      reporter.info(`new input ${flags.name}: ${flags.dtype} [${(inputType.shape ?? []).join(', ')}], joined to ${at} (${preFeatures} features) → ${features} features`);
      reporter.info(`head on the joined features, writing ${output}:\n${printHead(head)}`);
      if (edit.keptAs) reporter.info(`the old output is kept as ${edit.keptAs}`);
      const data = describeData(written, model);
      if (data) reporter.info(data);
      reporter.json({
        inputs: [args.input, ...(flags.weights !== undefined ? [flags.weights] : [])],
        output: flags.output,
        name: flags.name,
        shape: inputType.shape,
        at,
        features,
        replaces: output,
        keptAs: edit.keptAs ?? null,
        dataFile: written.dataFile ?? null,
      });
    } catch (error) {
      throw withFile(error, source.name);
    } finally {
      external?.close();
      source.close();
      weights?.close();
    }
  }
}
