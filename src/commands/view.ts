import * as Flags from '@oclif/core/flags';
import { extname } from 'node:path';
import { ModsurgCommand } from '../cli/base-command.js';
import { fsyncFlag, inputArg, outputFlag } from '../cli/flags.js';
import { formatBytes } from '../cli/render-inspect.js';
import { dtypeInfo } from '../checkpoint/dtype.js';
import { summarizeCheckpoint } from '../checkpoint/inspect.js';
import type { ModuleNode } from '../checkpoint/module-tree.js';
import { isOnnxFile, openCheckpointInput, readCheckpointInput } from '../checkpoint/sharded.js';
import { ModsurgError, withFile } from '../errors.js';
import { readOnnxFile } from '../graph/files.js';
import { completeInput, STDIO, writeOutput } from '../io/files.js';
import { graphView, type GraphView } from '../view/onnx-view.js';
import { checkpointBody, graphSvg, page } from '../view/render.js';

export default class View extends ModsurgCommand {
  static override summary = 'Draw a model or a checkpoint as one self-contained HTML page (or an SVG), to look at in a browser.';
  static override description = [
    'An ONNX model is drawn as its graph, top to bottom, laid out by dagre: every operator a box, graph inputs green, outputs orange, each tensor an arrow labelled with its dtype and shape where the model declares them, the initializers a node reads as a badge (◆N, named in its tooltip), and the modules the exporter recorded (layer1.0, fc) as boxes around their nodes.',
    "A checkpoint is drawn as its module tree, each module a collapsible section with its tensors' dtypes, shapes and parameter counts, under a bar of where the parameters are.",
    'The page needs nothing but itself: no network, no server; a search box outlines the nodes, modules, tensors and keys whose names match.',
  ].join('\n');
  static override examples = ['<%= config.bin %> view model.onnx -o model.html', '<%= config.bin %> view model.onnx --svg -o model.svg', '<%= config.bin %> view checkpoint.pth -o checkpoint.html'];
  static override args = { input: inputArg };
  static override flags = {
    output: outputFlag,
    fsync: fsyncFlag,
    svg: Flags.boolean({ description: 'write the drawing as a standalone SVG instead of a page (the default for an output named .svg); ONNX models only' }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(View);
    const reporter = this.reporter(flags, flags.output);
    const svg = flags.svg || extname(flags.output).toLowerCase() === '.svg';
    const source = openCheckpointInput(args.input, { streaming: true });
    let text: string;
    let what: string;
    try {
      if (isOnnxFile(source)) {
        const model = readOnnxFile(source);
        let view: GraphView;
        try {
          view = graphView(model.graph);
        } catch (error) {
          throw withFile(error, source.name);
        }
        const ops = view.nodes.filter((n) => n.kind === 'op').length;
        what = `${ops} nodes, ${view.modules.length} modules, ${model.graph.initializers.length} initializers`;
        const drawing = graphSvg(view);
        text = svg ? drawing : page(source.name, what, drawing);
      } else {
        if (svg) throw new ModsurgError('--svg draws an ONNX graph; a checkpoint is drawn as a page of its modules', source.name);
        const checkpoint = readCheckpointInput(source);
        completeInput(source);
        const summary = summarizeCheckpoint(checkpoint);
        if (summary.stateDicts.length === 0) throw new ModsurgError('holds no state dict to draw', source.name);
        const bytesOf = (node: ModuleNode): number =>
          node.tensors.reduce((n, t) => n + t.shape.reduce((m, d) => m * d, 1) * dtypeInfo(t.dtype).size, 0) + node.children.reduce((n, c) => n + bytesOf(c), 0);
        what = `${summary.totals.tensors} tensors, ${summary.totals.params.toLocaleString('en-US')} parameters, ${formatBytes(summary.totals.bytes)}`;
        const bodies = summary.stateDicts.map((sd) => `${summary.stateDicts.length > 1 ? `<h3>state dict ${sd.path === '' ? '' : `'${sd.path}'`}</h3>` : ''}${checkpointBody(sd.tree, bytesOf, sd.path === '' ? '' : `${sd.path}.`)}`);
        text = page(source.name, what, bodies.join('\n'));
      }
    } finally {
      source.close();
    }
    await writeOutput(flags.output, (sink) => sink.write(Buffer.from(text, 'utf8')));
    reporter.info(`${source.name} → ${flags.output}: ${what}${flags.output === STDIO ? '' : ` (${formatBytes(Buffer.byteLength(text))})`}`);
    reporter.json({ inputs: [source.name], output: flags.output, format: svg ? 'svg' : 'html', bytes: Buffer.byteLength(text), summary: what });
  }
}
