import { Flags } from '@oclif/core';
import { ModsurgCommand } from '../cli/base-command.js';
import { ModsurgError } from '../cli/errors.js';
import { inputArg, outputFlag } from '../cli/flags.js';
import { readOnnxFile, writeOnnxModel } from '../graph/files.js';
import { encodeOnnxModel } from '../graph/model.js';
import { moduleBoundary } from '../graph/module-scopes.js';
import { addOutputs, typeOutputs, type OutputRequest } from '../graph/surgery/add-output.js';
import { tensorTypeOf } from '../graph/graph.js';
import { elemTypeInfo } from '../graph/elem-type.js';
import { openInput, writeOutput } from '../io/files.js';
import { inferOutputTypes } from '../runtime/infer-types.js';

export default class AddOutput extends ModsurgCommand {
  static override summary = 'Expose intermediate results of an ONNX model as extra graph outputs, typed.';
  static override description =
    "The seed's \"return an intermediate result as a second output\", on the file: each --tensor (a tensor name) or --module (a PyTorch module path recovered from the exporter's scopes, e.g. layer4 or up2) becomes a graph output after the original ones, which stay first and unchanged. Its dtype and shape (symbolic dims by name) come from onnxruntime's shape inference, so no output is left untyped. --as renames (one --as per --tensor/--module, in order).";
  static override examples = [
    '<%= config.bin %> add-output model.onnx --module layer4 -o two_outputs.onnx',
    "<%= config.bin %> add-output unet.onnx --module up2 --as decoder2 -o unet_debug.onnx",
    "<%= config.bin %> add-output model.onnx --tensor '/layer2/layer2.1/relu_1/Relu_output_0' --tensor '/avgpool/GlobalAveragePool_output_0' -o out.onnx",
  ];
  static override args = { input: inputArg };
  static override flags = {
    output: outputFlag,
    tensor: Flags.string({ description: 'a tensor to expose (repeatable)', multiple: true }),
    module: Flags.string({ description: "a module whose output to expose, e.g. layer4 (repeatable)", multiple: true }),
    as: Flags.string({ description: 'the output name for each --tensor/--module, in order (repeatable)', multiple: true }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(AddOutput);
    const reporter = this.reporter(flags, flags.output);
    const source = openInput(args.input);
    try {
      const model = readOnnxFile(source);
      const requested: string[] = [...(flags.tensor ?? [])];
      for (const module of flags.module ?? []) {
        const { outputs } = moduleBoundary(model.graph, module);
        if (outputs.length === 0) throw new ModsurgError(`no nodes of module '${module}' in the graph (see modsurg inspect for its modules)`, args.input);
        requested.push(...outputs);
      }
      if (requested.length === 0) throw new ModsurgError('nothing to add: give --tensor NAME or --module PATH');
      const names = flags.as ?? [];
      if (names.length > requested.length) throw new ModsurgError(`${names.length} --as names for ${requested.length} outputs`);
      const requests: OutputRequest[] = requested.map((tensor, i) => (names[i] !== undefined ? { tensor, as: names[i]! } : { tensor }));
      const { graph, added } = addOutputs(model.graph, requests);
      const untyped = { ...model, graph };
      const types = await inferOutputTypes(Buffer.concat(encodeOnnxModel(untyped)), added, model.folder);
      const typed = typeOutputs(graph, added, types);
      await writeOutput(flags.output, (sink) => writeOnnxModel({ ...model, graph: typed }, sink));
      const report = added.map((name) => {
        const type = tensorTypeOf(typed.outputs.find((o) => o.proto.name === name)!.proto)!;
        return { name, dtype: elemTypeInfo(type.elemType).name, shape: type.shape ?? [] };
      });
      for (const o of report) reporter.info(`added output ${o.name}: ${o.dtype} [${o.shape.map((d) => d ?? '?').join(', ')}]`);
      reporter.json({ input: args.input, output: flags.output, added: report });
    } finally {
      source.close();
    }
  }
}
