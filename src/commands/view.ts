import * as Args from '@oclif/core/args';
import * as Flags from '@oclif/core/flags';
import { extname } from 'node:path';
import { ModsurgCommand } from '../cli/base-command.js';
import { fsyncFlag, inputArg, outputFlag } from '../cli/flags.js';
import { formatBytes, unsafeGlobalWarnings } from '../cli/render-inspect.js';
import { summarizeCheckpoint } from '../checkpoint/inspect.js';
import { isOnnxFile, openCheckpointInput, readCheckpointInput, type CheckpointInput } from '../checkpoint/sharded.js';
import { ModsurgError, withFile } from '../errors.js';
import { ExternalDataFiles } from '../graph/external-data.js';
import { readOnnxModel, type OnnxModel } from '../graph/model.js';
import { completeInput, STDIO, writeOutput } from '../io/files.js';
import { checkpointDiffPage, checkpointPage, graphDiffPage, graphPage, type ViewOutput } from '../view/pages.js';

export default class View extends ModsurgCommand {
  static override summary = 'Draw a model or a checkpoint, or what changed between two, as one self-contained HTML page (or an SVG).';
  static override description = [
    'An ONNX model is drawn as its graph, top to bottom, laid out by dagre: every operator a box, graph inputs green, outputs orange, each tensor an arrow labelled with its dtype and shape (declared by the model, or worked out from its operators as onnx\'s shape inference does), the initializers a node reads as a badge (◆N, named in its tooltip), and the modules the exporter recorded (layer1.0, fc) as boxes around their nodes. Click a module\'s label to collapse it into one box, the box to expand it again; a graph of more than 300 boxes starts with modules collapsed.',
    "A checkpoint is drawn as its module tree, each module a collapsible section with its tensors' dtypes, shapes, parameter counts and bytes, under a bar of where the parameters are (a file with tensors but no state dict: the tree of their key paths). Code a load would run is warned of, as inspect does.",
    'Given two files (two ONNX models or two checkpoints, typically before and after a surgery), the page shows what changed from the first to the second: added parts green, removed red, changed amber (a checkpoint\'s changed values with their largest difference), the rest grey and collapsed, and a summary at the top.',
    'The page needs nothing but itself: no network, no server; a search box outlines the nodes, modules, tensors and keys whose names match.',
  ].join('\n');
  static override examples = [
    '<%= config.bin %> view model.onnx -o model.html',
    '<%= config.bin %> view model.onnx new_head.onnx -o diff.html',
    '<%= config.bin %> view resnet50.pth resnet50_10.pth -o diff.html',
    '<%= config.bin %> view model.onnx --svg -o model.svg',
    '<%= config.bin %> view checkpoint.pth -o checkpoint.html',
  ];
  static override args = {
    input: inputArg,
    other: Args.string({ description: 'a second model or checkpoint: draw what changed from the first to it', required: false }),
  };
  static override flags = {
    output: outputFlag,
    fsync: fsyncFlag,
    svg: Flags.boolean({ description: 'write the drawing as a standalone SVG instead of a page (the default for an output named .svg); ONNX models only' }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(View);
    const reporter = this.reporter(flags, flags.output);
    const svg = flags.svg || extname(flags.output).toLowerCase() === '.svg';
    const paths = args.other === undefined ? [args.input] : [args.input, args.other];
    if (paths.filter((p) => p === STDIO).length > 1) throw new ModsurgError('only one of the two files can be stdin (-)');
    const sources: CheckpointInput[] = [];
    const externals: ExternalDataFiles[] = [];
    let result: ViewOutput;
    try {
      for (const path of paths) sources.push(openCheckpointInput(path, { streaming: args.other === undefined }));
      const models = sources.filter(isOnnxFile);
      if (models.length > 0) {
        if (models.length < sources.length) throw new ModsurgError('is a checkpoint: view compares two ONNX models or two checkpoints', sources.find((s) => !isOnnxFile(s))!.name);
        const read = models.map((source, i): OnnxModel => {
          try {
            return readOnnxModel(source, paths[i] === STDIO ? undefined : paths[i]);
          } catch (error) {
            throw withFile(error, source.name);
          }
        });
        if (read.length === 1) result = graphPage(read[0]!.graph, sources[0]!.name, svg);
        else {
          for (const [i, model] of read.entries()) externals.push(new ExternalDataFiles(model.folder, sources[i]!.name));
          result = graphDiffPage(read[0]!.graph, read[1]!.graph, [sources[0]!.name, sources[1]!.name], { a: { external: externals[0]!.opener }, b: { external: externals[1]!.opener } }, svg);
        }
      } else {
        if (svg) throw new ModsurgError('--svg draws an ONNX graph; a checkpoint is drawn as a page of its modules', sources[0]!.name);
        const checkpoints = sources.map((source) => {
          const checkpoint = readCheckpointInput(source);
          if (args.other === undefined) completeInput(source);
          return checkpoint;
        });
        const summaries = checkpoints.map(summarizeCheckpoint);
        // what inspect warns of (code a load would run), on the page and on stderr
        const notes = summaries.flatMap((summary, i) => unsafeGlobalWarnings(summary).map((warning) => (summaries.length > 1 ? `${sources[i]!.name}: ${warning}` : warning)));
        for (const note of notes) reporter.warn(note);
        result = checkpoints.length === 1 ? checkpointPage(checkpoints[0]!, summaries[0]!, sources[0]!.name, notes) : checkpointDiffPage(checkpoints[0]!, checkpoints[1]!, [sources[0]!.name, sources[1]!.name], notes);
      }
    } finally {
      for (const external of externals) external.close();
      for (const source of sources) source.close();
    }
    const text = result.text;
    await writeOutput(flags.output, (sink) => sink.write(Buffer.from(text, 'utf8')));
    const inputs = sources.map((s) => s.name);
    reporter.info(`${inputs.join(' vs ')} → ${flags.output}: ${result.summary}${flags.output === STDIO ? '' : ` (${formatBytes(Buffer.byteLength(text))})`}`);
    reporter.json({ inputs, output: flags.output, format: svg ? 'svg' : 'html', bytes: Buffer.byteLength(text), summary: result.summary });
  }
}
