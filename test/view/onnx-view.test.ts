import { describe, expect, it } from 'vitest';
import { readOnnxModel } from '../../src/graph/model.js';
import { FileSource } from '../../src/io/byte-source.js';
import { graphView, type ViewNode } from '../../src/view/onnx-view.js';
import { fixture } from '../helpers/cli.js';

const viewOf = (name: string) => {
  const source = new FileSource(fixture(name), fixture(name));
  try {
    return { view: graphView(readOnnxModel(source, fixture(name)).graph), model: readOnnxModel(source, fixture(name)) };
  } finally {
    source.close();
  }
};

const overlap = (a: ViewNode, b: ViewNode): boolean => a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;

describe('graphView', () => {
  it.each(['resnet.onnx', 'resnet_dynamo.onnx', 'unet.onnx', 'realworld/tutorial_net.onnx'])('%s: every node, input and output a box, none overlapping, inside its module box', (name) => {
    const { view, model } = viewOf(name);
    const initializers = new Set(model.graph.initializers.map((i) => i.proto.name));
    const inputs = model.graph.inputs.filter((i) => !initializers.has(i.proto.name)).length;
    expect(view.nodes.filter((n) => n.kind === 'op')).toHaveLength(model.graph.nodes.length);
    expect(view.nodes).toHaveLength(model.graph.nodes.length + inputs + model.graph.outputs.length);
    for (let i = 0; i < view.nodes.length; i++) for (let j = i + 1; j < view.nodes.length; j++) expect(overlap(view.nodes[i]!, view.nodes[j]!), `${view.nodes[i]!.id} ${view.nodes[j]!.id}`).toBe(false);
    for (const node of view.nodes) {
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
    const gemm = view.nodes.find((n) => n.label === 'Gemm')!;
    expect(gemm.module).toBe('fc');
    expect(gemm.weights.length).toBeGreaterThan(0);
    expect(view.modules.map((m) => m.path)).toEqual(expect.arrayContaining(['layer1', 'layer1.0', 'fc']));
  });
});
