import { describe, expect, it } from 'vitest';
import { readGraph } from '../helpers/graph.js';
import { join } from 'node:path';
import { diffGraphs } from '../../src/graph/diff.js';
import type { Graph } from '../../src/graph/graph.js';
import { defaultCollapsed, diffDrawing, EXPANDED_BOXES, graphDrawing } from '../../src/view/drawing.js';
import { layoutDrawing, type PlacedBox } from '../../src/view/layout.js';
import { fixture, scratchDir, succeeds } from '../helpers/cli.js';

const viewOf = (name: string) => {
  const graph = readGraph(fixture(name));
  return { view: layoutDrawing(graphDrawing(graph), []), model: { graph } };
};

const overlap = (a: PlacedBox, b: PlacedBox): boolean => a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;

describe('graphDrawing, laid out', () => {
  it.each(['resnet.onnx', 'resnet_dynamo.onnx', 'unet.onnx', 'realworld/tutorial_net.onnx'])('%s: every node, input and output a box, none overlapping, inside its module box', (name) => {
    const { view, model } = viewOf(name);
    const initializers = new Set(model.graph.initializers.map((i) => i.proto.name));
    const inputs = model.graph.inputs.filter((i) => !initializers.has(i.proto.name)).length;
    expect(view.boxes.filter((n) => n.kind === 'op')).toHaveLength(model.graph.nodes.length);
    expect(view.boxes).toHaveLength(model.graph.nodes.length + inputs + model.graph.outputs.length);
    for (let i = 0; i < view.boxes.length; i++) for (let j = i + 1; j < view.boxes.length; j++) expect(overlap(view.boxes[i]!, view.boxes[j]!), `${view.boxes[i]!.id} ${view.boxes[j]!.id}`).toBe(false);
    for (const node of view.boxes) {
      expect(node.x).toBeGreaterThanOrEqual(0);
      expect(node.x + node.width).toBeLessThanOrEqual(view.width + 1);
      const box = view.modules.find((m) => m.path === node.module);
      if (box) expect(node.x >= box.x && node.y >= box.y && node.x + node.width <= box.x + box.width + 0.5 && node.y + node.height <= box.y + box.height + 0.5, `${node.id} in ${box.path}`).toBe(true);
    }
    // every tensor a node reads from another node or a graph input is an edge, with a route
    const produced = new Set([...model.graph.inputs.map((i) => i.proto.name), ...model.graph.nodes.flatMap((n) => n.proto.output ?? [])]);
    const reads = model.graph.nodes.flatMap((n) => (n.proto.input ?? []).filter((t) => t !== '' && !initializers.has(t) && produced.has(t)));
    expect(view.edges).toHaveLength(reads.length + model.graph.outputs.length);
    for (const edge of view.edges) expect(edge.points.length).toBeGreaterThanOrEqual(2);
  });

  it('labels edges with the types the model declares, and puts the weights a node reads on it', () => {
    const { view } = viewOf('resnet_dynamo.onnx');
    expect(view.edges.find((e) => e.tensor === 'input')!.label).toBe('float32 [batch, 3, 16, 16]');
    const gemm = view.boxes.find((n) => n.label === 'Gemm')!;
    expect(gemm.module).toBe('fc');
    expect(gemm.weights.length).toBeGreaterThan(0);
    expect(view.modules.map((m) => m.path)).toEqual(expect.arrayContaining(['layer1', 'layer1.0', 'fc']));
  });
});

describe('collapsed modules', () => {
  it('a collapsed module is one box standing for its nodes; edges into it end on it; no box overlaps; expanding restores the drawing', () => {
    const drawing = graphDrawing(readGraph(fixture('resnet.onnx')));
    const whole = layoutDrawing(drawing, []);
    const folded = layoutDrawing(drawing, ['layer1', 'layer2.0']);
    const inside = (path: string) => drawing.boxes.filter((b) => b.module === path || b.module.startsWith(`${path}.`)).length;
    expect(folded.boxes).toHaveLength(whole.boxes.length - inside('layer1') - inside('layer2.0') + 2);
    const layer1 = folded.boxes.find((b) => b.id === 'm:layer1')!;
    expect(layer1).toMatchObject({ kind: 'module', module: '' });
    expect(layer1.label).toBe(`layer1 ▸ ${inside('layer1')} nodes`);
    // layer2.0's box sits in the expanded layer2's box
    const block = folded.boxes.find((b) => b.id === 'm:layer2.0')!;
    const layer2 = folded.modules.find((m) => m.path === 'layer2')!;
    expect(block.module).toBe('layer2');
    expect(block.x >= layer2.x && block.x + block.width <= layer2.x + layer2.width + 0.5).toBe(true);
    expect(folded.modules.map((m) => m.path)).not.toContain('layer1.0');
    for (let i = 0; i < folded.boxes.length; i++) for (let j = i + 1; j < folded.boxes.length; j++) expect(overlap(folded.boxes[i]!, folded.boxes[j]!)).toBe(false);
    // the search text of a collapsed module holds the names of the nodes inside
    expect(layer1.name).toContain('/layer1/layer1.0/conv1/Conv');
    expect(folded.height).toBeLessThan(whole.height);
    expect(layoutDrawing(drawing, [])).toEqual(whole);
    // an inner module under a collapsed outer one is folded into it
    expect(layoutDrawing(drawing, ['layer1', 'layer1.0']).boxes).toHaveLength(layoutDrawing(drawing, ['layer1']).boxes.length);
  });

  it(`a graph of more than ${EXPANDED_BOXES} boxes starts with the deepest modules collapsed that leave at most ${EXPANDED_BOXES}`, () => {
    expect(defaultCollapsed(graphDrawing(readGraph(fixture('resnet.onnx'))))).toEqual([]);
    // 40 blocks of 3 modules, 10 nodes each: 1,200 nodes
    const nodes = [];
    let x = 'x';
    for (let block = 0; block < 40; block++) {
      for (let layer = 0; layer < 3; layer++) {
        for (let k = 0; k < 10; k++) {
          const out = `t${block}_${layer}_${k}`;
          nodes.push({ proto: { name: `/blocks.${block}/layer${layer}/Relu_${k}`, op_type: 'Relu', input: [x], output: [out] } });
          x = out;
        }
      }
    }
    const graph: Graph = { name: 'big', nodes, inputs: [{ proto: { name: 'x' } }], outputs: [{ proto: { name: x } }], initializers: [], valueInfo: [], fields: [] };
    const drawing = graphDrawing(graph);
    expect(drawing.boxes.length).toBe(1202);
    const collapsed = defaultCollapsed(drawing);
    expect(collapsed).toHaveLength(120);
    expect(collapsed.every((path) => /^blocks\.\d+\.layer\d$/.test(path))).toBe(true);
    const view = layoutDrawing(drawing, collapsed);
    expect(view.boxes.length).toBeLessThanOrEqual(EXPANDED_BOXES);
  });
});

describe('diffDrawing', () => {
  const dir = scratchDir();

  it('replace-head: the new head added, the old Gemm removed (drawn where it was), its edges removed, the rest the same and collapsed', () => {
    const out = join(dir, 'head.onnx');
    succeeds(['replace-head', fixture('resnet_dynamo.onnx'), '--head', 'fc1=Linear(?,16),relu1=ReLU(),fc2=Linear(16,3)', '--seed', '1', '-o', out]);
    const a = readGraph(fixture('resnet_dynamo.onnx'));
    const b = readGraph(out);
    const drawing = diffDrawing(a, b, diffGraphs(a, b));
    expect(drawing.boxes).toHaveLength(b.nodes.length + 1 + 2);
    const removed = drawing.boxes.filter((box) => box.change === 'removed');
    expect(removed.map((box) => `${box.label} ${box.module}`)).toEqual(['Gemm fc']);
    expect(drawing.boxes.filter((box) => box.change === 'added').map((box) => `${box.label} ${box.module}`).sort()).toEqual(['Gemm fc.fc1', 'Gemm fc.fc2', 'Relu fc.relu1']);
    expect(drawing.boxes.find((box) => box.id === 'out:output')!.change).toBe('changed');
    expect(drawing.edges.filter((e) => e.change === 'removed').map((e) => `${e.from} → ${e.to}`)).toEqual(expect.arrayContaining([`${removed[0]!.id} → out:output`]));
    expect(drawing.modules.find((m) => m.path === 'fc')!.change).toBe('changed');
    expect(drawing.modules.find((m) => m.path === 'fc.fc1')!.change).toBe('added');
    expect(drawing.modules.find((m) => m.path === 'layer1')!.change).toBe('same');
    const collapsed = defaultCollapsed(drawing);
    expect(collapsed).toEqual(['bn1', 'relu', 'layer1', 'layer2', 'avgpool']);
    expect(collapsed).not.toContain('fc');
    expect(collapsed).not.toContain('layer1.0');
    const view = layoutDrawing(drawing, collapsed);
    expect(view.boxes.filter((box) => box.kind === 'module').every((box) => box.change === 'same')).toBe(true);
  });
});

describe('a module called more than once', () => {
  it("each call of a ResNet block's one relu is a box of its own (relu, relu@2), both inside the block", () => {
    const drawing = graphDrawing(readGraph(fixture('resnet.onnx')));
    const relus = drawing.boxes.filter((box) => box.module.startsWith('layer1.0.relu'));
    expect(relus.map((box) => `${box.name} ${box.module}`)).toEqual(['/layer1/layer1.0/relu/Relu layer1.0.relu', '/layer1/layer1.0/relu_1/Relu layer1.0.relu@2']);
    expect(drawing.modules.map((m) => m.path)).toEqual(expect.arrayContaining(['layer1.0.relu', 'layer1.0.relu@2']));
    const view = layoutDrawing(drawing, []);
    const block = view.modules.find((m) => m.path === 'layer1.0')!;
    const second = view.modules.find((m) => m.path === 'layer1.0.relu@2')!;
    expect(second.x >= block.x && second.y >= block.y && second.x + second.width <= block.x + block.width && second.y + second.height <= block.y + block.height).toBe(true);
  });
});
