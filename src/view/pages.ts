import type { Checkpoint } from '../checkpoint/checkpoint.js';
import { describeDifference, diffCheckpoints, differenceSummary, flattenLeaves } from '../checkpoint/diff.js';
import type { CheckpointSummary } from '../checkpoint/inspect.js';
import { buildModuleTree } from '../checkpoint/module-tree.js';
import type { PyValue } from '../checkpoint/pickle/value.js';
import { toPlainData } from '../checkpoint/state-dict.js';
import type { Tensor } from '../checkpoint/tensor.js';
import { ModsurgError } from '../errors.js';
import { diffGraphs, graphDiffSummary, type GraphDiffOptions } from '../graph/diff.js';
import type { Graph } from '../graph/graph.js';
import { diffDrawing, defaultCollapsed, graphDrawing, type Drawing } from './drawing.js';
import { layoutDrawing } from './layout.js';
import { checkpointBody, graphBody, page, type KeyChange } from './render.js';
import { graphSvg } from './svg.js';

/** What `view` writes, and the line it reports. */
export interface ViewOutput {
  readonly text: string;
  readonly summary: string;
}

const thousands = (n: number): string => n.toLocaleString('en-US');

function graphOutput(drawing: Drawing, title: string, summary: string[], svg: boolean): ViewOutput {
  const text = svg ? graphSvg(layoutDrawing(drawing, defaultCollapsed(drawing))) : page({ title, summary, body: graphBody(drawing), diff: drawing.diff, graph: true });
  return { text, summary: summary.join('; ') };
}

/** One model: its graph, drawn. */
export function graphPage(graph: Graph, name: string, svg: boolean): ViewOutput {
  const drawing = graphDrawing(graph);
  const ops = drawing.boxes.filter((b) => b.kind === 'op').length;
  // a module called twice is drawn twice (`relu@2`), and counted once
  const modules = drawing.modules.filter((m) => !m.path.includes('@')).length;
  return graphOutput(drawing, name, [`${ops} nodes, ${modules} modules, ${graph.initializers.length} initializers`], svg);
}

/** Two models: the second drawn with what changed from the first, and the summary of it at the top. */
export function graphDiffPage(a: Graph, b: Graph, names: readonly [string, string], options: GraphDiffOptions, svg: boolean): ViewOutput {
  const diff = diffGraphs(a, b, options);
  return graphOutput(diffDrawing(a, b, diff), `${names[0]} → ${names[1]}`, graphDiffSummary(diff), svg);
}

/** The tensors anywhere in a checkpoint, by key path. */
function tensorsOf(root: PyValue): [string, Tensor][] {
  return [...flattenLeaves(root)].flatMap(([key, leaf]) => (leaf.kind === 'tensor' ? [[key, leaf.tensor] as [string, Tensor]] : []));
}

/**
 * One checkpoint: each state dict's module tree, with a bar of where its parameters are; a file with
 * tensors but no state dict (`{'w': tensor, 'acc': 0.5}`) as the tree of its tensors' key paths.
 * `notes` (what inspect would warn of) are shown at the top.
 */
export function checkpointPage(checkpoint: Checkpoint, summary: CheckpointSummary, name: string, notes: readonly string[] = []): ViewOutput {
  const counts = (tensors: number, params: number, bytes: number): string => `${tensors} tensor${tensors === 1 ? '' : 's'}, ${thousands(params)} parameters, ${thousands(bytes)} bytes`;
  let line = counts(summary.totals.tensors, summary.totals.params, summary.totals.bytes);
  let bodies = summary.stateDicts.map(
    (sd) => `${summary.stateDicts.length > 1 ? `<h3>state dict ${sd.path === '' ? '' : `'${sd.path}'`}</h3>` : ''}${checkpointBody(sd.tree, sd.path === '' ? '' : `${sd.path}.`)}`,
  );
  if (bodies.length === 0) {
    const tensors = tensorsOf(toPlainData(checkpoint.root));
    if (tensors.length === 0) throw new ModsurgError('holds no tensor to draw', name);
    const tree = buildModuleTree(tensors);
    line = counts(tensors.length, tree.params, tree.bytes);
    bodies = [checkpointBody(tree)];
  }
  return { text: page({ title: name, summary: [line, ...notes], body: bodies.join('\n') }), summary: line };
}

/**
 * Two checkpoints: every tensor of either, in one module tree, marked added, removed or changed (with
 * how: a new shape, dtype, or the largest difference of its values), as `modsurg diff` compares them.
 */
export function checkpointDiffPage(a: Checkpoint, b: Checkpoint, names: readonly [string, string], notes: readonly string[] = []): ViewOutput {
  const rootA = toPlainData(a.root);
  const rootB = toPlainData(b.root);
  const report = diffCheckpoints(rootA, rootB);
  const changes = new Map<string, KeyChange>();
  for (const d of report.differences) {
    changes.set(d.key, { change: d.kind === 'only-in-a' ? 'removed' : d.kind === 'only-in-b' ? 'added' : 'changed', detail: describeDifference(d) });
  }
  const inB = tensorsOf(rootB);
  const keysB = new Set(inB.map(([key]) => key));
  const tree = buildModuleTree([...inB, ...tensorsOf(rootA).filter(([key]) => !keysB.has(key))]);
  if (tree.params === 0 && tree.children.length === 0 && tree.tensors.length === 0) throw new ModsurgError('neither checkpoint holds a tensor to draw');
  const count = (change: string): number => [...changes.values()].filter((c) => c.change === change).length;
  const counted = (n: number): string => `${n} tensor${n === 1 ? '' : 's'}`;
  const first = report.differences.length === 0
    ? `the checkpoints are the same: ${report.compared} keys compared`
    : [count('added') > 0 ? `+${counted(count('added'))}` : '', count('removed') > 0 ? `−${counted(count('removed'))}` : '', count('changed') > 0 ? `${count('changed')} changed` : '', `${report.compared - count('changed')} unchanged`]
        .filter((part) => part !== '')
        .join(', ');
  const summary = [first, ...[differenceSummary(report.differences)].filter((line) => line !== undefined)];
  return { text: page({ title: `${names[0]} → ${names[1]}`, summary: [...summary, ...notes], body: checkpointBody(tree, '', changes), diff: true }), summary: summary.join('; ') };
}
