import * as Flags from '@oclif/core/flags';
import { ModsurgCommand } from '../cli/base-command.js';
import { ModsurgError, withFile } from '../errors.js';
import { inputArg, outputFlag, fsyncFlag } from '../cli/flags.js';
import { checkAndWriteEdit, describeData, layoutRequest, onnxOutputFlags } from '../cli/onnx-output.js';
import { readCheckpoint } from '../checkpoint/files.js';
import { elemTypeInfo } from '../graph/elem-type.js';
import { ExternalDataFiles } from '../graph/external-data.js';
import { readOnnxFile } from '../graph/files.js';
import { describeValueType, isTensorValueType, tensorNames, type Graph } from '../graph/graph.js';
import type { OnnxModel } from '../graph/model.js';
import { moduleOutput } from '../graph/module-scopes.js';
import { addHeadOutput, addOutputs, typeOutputs } from '../graph/surgery/add-output.js';
import { headDtypeOf, headInputFeatures } from '../graph/surgery/head-input.js';
import { defaultOpset } from '../graph/surgery/onnx-head.js';
import { layersOf } from '../head/layers.js';
import { resolveHead } from '../head/resolve.js';
import { describeSource } from '../head/report.js';
import { headParametersFrom, initSource, weightsSource } from '../head/source.js';
import { parseHeadSpec } from '../head/spec.js';
import { printHead } from '../head/torch-repr.js';
import type { ByteSource } from '../io/byte-source.js';
import { openInput } from '../io/files.js';
import { onnxruntimeTypeOf } from '../runtime/check-model.js';

export default class AddOutput extends ModsurgCommand {
  static override summary = 'Expose intermediate results of an ONNX model as extra graph outputs, typed, or a new head on one of them.';
  static override description = [
    "The PyTorch tutorial's extra output — `return x10, x1000` from the model's forward, an intermediate result as a second output — done on the exported file: each --tensor (a tensor name) or --module (a PyTorch module path recovered from the exporter's scopes, e.g. layer4 or up2) becomes a graph output after the original ones, which stay first and unchanged. A module gives one output, its output tensor, named after the module path (layer4) unless --as names it; --as renames (one per --tensor/--module, tensors first, in order). Dtypes and shapes (symbolic dims by name) come from onnxruntime's shape inference, so no output is left untyped.",
    '',
    "--head SPEC adds a new head's result instead: the tutorial's `return x10, x1000` with `x10 = output(fc1(dropout(relu(x1000))))`. The head reads the one --tensor or --module given (T must be [batch, features], unless the head starts with Flatten()); its output is named by --as (default: <T>_head). The spec is replace-head's ('fc1=Linear(?,10)': ? is T's features); values come from --weights (keys fc1.weight, …) or PyTorch's default initialisation (--seed).",
  ].join('\n');
  static override examples = [
    '<%= config.bin %> add-output model.onnx --module layer4 -o two_outputs.onnx',
    '<%= config.bin %> add-output unet.onnx --module up2 --as decoder2 -o unet_debug.onnx',
    "<%= config.bin %> add-output model.onnx --tensor '/layer2/layer2.1/relu_1/Relu_output_0' --tensor '/avgpool/GlobalAveragePool_output_0' -o out.onnx",
    "<%= config.bin %> add-output r50.onnx --tensor logits --head 'relu=ReLU(),dropout=Dropout(0.5),fc1=Linear(1000,10),output=Softmax(dim=1)' --weights fc1.pth --as x10 -o out.onnx",
  ];
  static override args = { input: inputArg };
  static override flags = {
    output: outputFlag,
    fsync: fsyncFlag,
    tensor: Flags.string({ description: 'a tensor to expose (repeatable)', multiple: true }),
    module: Flags.string({ description: 'a module whose output to expose, e.g. layer4 (repeatable)', multiple: true }),
    as: Flags.string({ description: 'the output name for each --tensor/--module, in order (repeatable)', multiple: true }),
    head: Flags.string({ description: "a new head on the one --tensor/--module, whose result becomes the output, e.g. 'fc1=Linear(?,10),output=Softmax(dim=1)'" }),
    weights: Flags.string({ description: "values for --head's parameters (torch or safetensors file)" }),
    seed: Flags.integer({ description: "seed for --head's default initialisation (default: random, and reported)" }),
    ...onnxOutputFlags,
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(AddOutput);
    const reporter = this.reporter(flags, flags.output);
    const layout = layoutRequest(flags);
    if (flags.head === undefined && (flags.weights !== undefined || flags.seed !== undefined)) throw new ModsurgError(`--${flags.weights !== undefined ? 'weights' : 'seed'} is for the parameters of --head`);
    if (flags.weights !== undefined && flags.seed !== undefined) throw new ModsurgError('--seed is for the default initialisation; with --weights the values come from the file');
    const source = openInput(args.input);
    const weights = flags.weights !== undefined ? openInput(flags.weights) : undefined;
    let external: ExternalDataFiles | undefined;
    try {
      const model = readOnnxFile(source);
      external = new ExternalDataFiles(model.folder, source.name);
      const requested = [
        ...(flags.tensor ?? []).map((tensor) => ({ tensor, module: undefined })),
        ...(flags.module ?? []).map((module) => ({ tensor: moduleOutput(model.graph, module), module })),
      ];
      if (requested.length === 0) throw new ModsurgError('nothing to add: give --tensor NAME or --module PATH');
      const names = flags.as ?? [];
      if (names.length > requested.length) throw new ModsurgError(`${names.length} --as names for ${requested.length} outputs`);

      let edited: { graph: Graph; added: string[] };
      if (flags.head !== undefined) {
        if (requested.length !== 1) throw new ModsurgError(`--head makes one output from one tensor; ${requested.length} were given`);
        const { tensor, module } = requested[0]!;
        const headEdit = await headOutput(model, tensor, names[0] ?? `${module ?? tensor}_head`, flags.head, weights, flags.seed);
        edited = headEdit.edit;
        reporter.info(`a head on ${module === undefined ? tensor : `module ${module} (${tensor})`}:\n${headEdit.description}`);
      } else {
        const used = tensorNames(model.graph);
        edited = addOutputs(
          model.graph,
          requested.map(({ tensor, module }, i) => {
            // a module's output is named after the module, unless that name is taken
            const as = names[i] ?? (module !== undefined && !used.has(module) ? module : undefined);
            return as === undefined ? { tensor } : { tensor, as };
          }),
        );
      }
      const { added } = edited;
      const { types, written } = await checkAndWriteEdit(model, { ...model, graph: edited.graph }, layout, external, (untyped, inferred) => ({
        ...untyped,
        graph: typeOutputs(untyped.graph, added, inferred),
      }));
      const report = added.map((name) => {
        const type = types.get(name)!;
        return isTensorValueType(type) ? { name, dtype: elemTypeInfo(type.elemType).name, shape: type.shape ?? [] } : { name, type: describeValueType(type) };
      });
      for (const name of added) reporter.info(`added output ${name}: ${describeValueType(types.get(name)!)}`);
      const data = describeData(written, model);
      if (data) reporter.info(data);
      reporter.json({ inputs: [args.input, ...(flags.weights !== undefined ? [flags.weights] : [])], output: flags.output, added: report, dataFile: written.dataFile ?? null });
    } catch (error) {
      throw withFile(error, source.name);
    } finally {
      external?.close();
      source.close();
      weights?.close();
    }
  }
}

/** The head of `--head` on T, resolved against T's features and dtype, as a new output. */
async function headOutput(model: OnnxModel, tensor: string, as: string, specText: string, weights: ByteSource | undefined, seed: number | undefined) {
  const type = await onnxruntimeTypeOf(model, tensor);
  const spec = parseHeadSpec(specText);
  const what = `'${tensor}'`;
  const flattens = layersOf(spec)[0]?.kind === 'Flatten';
  const head = resolveHead(spec, headInputFeatures(type, flattens, what, "start --head with 'Flatten()'"), what);
  const dtype = headDtypeOf(type, what);
  const parameterSource = weights ? weightsSource(readCheckpoint(weights).root, weights.name) : initSource(seed);
  const parameters = headParametersFrom(head, dtype, '', parameterSource);
  const edit = addHeadOutput(model.graph, { tensor, as, head, parameters, dtype, opset: defaultOpset(model) });
  return { edit, description: `${printHead(head)}\n${describeSource(parameterSource)}` };
}
