import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { diffGraphs, graphDiffSummary, type GraphDiff } from '../../src/graph/diff.js';
import type { Graph, GraphNode, Initializer } from '../../src/graph/graph.js';
import { readGraph } from '../helpers/graph.js';
import { fixture, scratchDir, succeeds } from '../helpers/cli.js';

/** diffGraphs on hand-made graphs (each rule alone) and on the graphs real surgeries wrote. */
const node = (name: string, op: string, input: string[], output: string[], extra: Partial<GraphNode['proto']> = {}): GraphNode => ({ proto: { name, op_type: op, input, output, ...extra } });
const floats = (name: string, values: number[]): Initializer => ({ proto: { name, dims: [values.length], data_type: 1, raw_data: new Uint8Array(new Float32Array(values).buffer) } });
const value = (name: string, dims: (number | string)[]) => ({ proto: { name, type: { tensor_type: { elem_type: 1, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d })) } } } } });
const graph = (nodes: GraphNode[], initializers: Initializer[] = [], outputs = [value('y', ['batch', 4])]): Graph => ({ name: 'g', nodes, initializers, inputs: [value('x', ['batch', 4])], outputs, valueInfo: [], fields: [] });

const changes = (diff: GraphDiff, g: { a: Graph; b: Graph }) =>
  diff.nodes.map((n) => `${n.change} ${n.b !== undefined ? g.b.nodes[n.b]!.proto.name : g.a.nodes[n.a!]!.proto.name}`).sort();

describe('diffGraphs', () => {
  const base = () => graph([node('relu', 'Relu', ['x'], ['r']), node('mul', 'Mul', ['r', 'w'], ['y'])], [floats('w', [1, 2, 3, 4])]);

  it('a graph against itself: every node the same, no weight, input or output changed', () => {
    const a = base();
    const diff = diffGraphs(a, base());
    expect(diff.nodes.every((n) => n.change === 'same')).toBe(true);
    expect(diff.initializers).toEqual([]);
    expect(graphDiffSummary(diff)).toEqual(['the graphs are the same']);
  });

  it('an inserted node is added, the node reading it changed (its input comes from elsewhere), the rest the same', () => {
    const a = base();
    const b = graph([node('relu', 'Relu', ['x'], ['r']), node('neg', 'Neg', ['r'], ['n']), node('mul', 'Mul', ['n', 'w'], ['y'])], [floats('w', [1, 2, 3, 4])]);
    const diff = diffGraphs(a, b);
    expect(changes(diff, { a, b })).toEqual(['added neg', 'changed mul', 'same relu']);
    expect(diff.nodes.find((n) => n.change === 'changed')!.why).toEqual(['input 0 r → n']);
    expect(graphDiffSummary(diff)[0]).toBe('+1 node, 1 node changed');
  });

  it('a removed node; an op, attribute or weight that changed; renamed tensors between matched nodes are no change', () => {
    const a = graph([node('relu', 'Relu', ['x'], ['r']), node('soft', 'Softmax', ['r'], ['s'], { attribute: [{ name: 'axis', type: 2, i: 1 }] }), node('mul', 'Mul', ['s', 'w'], ['y'])], [floats('w', [1, 2, 3, 4])]);
    const b = graph([node('relu', 'Relu', ['x'], ['r2']), node('soft', 'Softmax', ['r2'], ['s2'], { attribute: [{ name: 'axis', type: 2, i: -1 }] }), node('mul', 'Mul', ['s2', 'w'], ['y'])], [floats('w', [1, 2, 3, 5])]);
    const diff = diffGraphs(a, b);
    expect(changes(diff, { a, b })).toEqual(['changed mul', 'changed soft', 'same relu']);
    expect(diff.nodes.find((n) => n.b === 1)!.why).toEqual(['attribute axis changed']);
    expect(diff.nodes.find((n) => n.b === 2)!.why).toEqual(['reads w, which changed']);
    expect(diff.initializers).toEqual([{ kind: 'values', key: 'w', maxAbsDiff: 1, mismatched: 1, numel: 4 }]);
    const removed = diffGraphs(a, graph([node('relu', 'Relu', ['x'], ['r']), node('mul', 'Mul', ['r', 'w'], ['y'])], [floats('w', [1, 2, 3, 4])]));
    expect(removed.nodes.map((n) => n.change).sort()).toEqual(['changed', 'removed', 'same']);
    expect(graphDiffSummary(removed)[0]).toBe('−1 node, 1 node changed');
  });

  it('nodes without names are matched by op and the tensors they write; two nodes with one key match neither', () => {
    const a = graph([node('', 'Relu', ['x'], ['r']), node('', 'Mul', ['r', 'r'], ['y'])]);
    const b = graph([node('', 'Relu', ['x'], ['r']), node('', 'Mul', ['r', 'r'], ['y'])]);
    expect(diffGraphs(a, b).nodes.map((n) => n.change)).toEqual(['same', 'same']);
    const twins = graph([node('t', 'Relu', ['x'], ['r']), node('t', 'Relu', ['x'], ['s']), node('m', 'Mul', ['r', 's'], ['y'])]);
    expect(diffGraphs(twins, twins).nodes.map((n) => n.change)).toEqual(['same', 'same', 'same']);
  });

  it('outputs and inputs by name: a new shape is a change, `[batch, 4] → [batch, 10]` in the summary', () => {
    const a = base();
    const b = graph(base().nodes as GraphNode[], [floats('w', [1, 2, 3, 4])], [value('y', ['batch', 10]), value('z', [1])]);
    const diff = diffGraphs(a, b);
    expect(diff.outputs).toEqual([
      { name: 'y', change: 'changed', a: 'float32 [batch, 4]', b: 'float32 [batch, 10]' },
      { name: 'z', change: 'added', b: 'float32 [1]' },
    ]);
    expect(graphDiffSummary(diff)).toEqual(['output y [batch, 4] → [batch, 10], output z float32 [1] added']);
  });
});

describe('diffGraphs on what the surgeries write', () => {
  const dir = scratchDir();
  const resnet = fixture('resnet.onnx');

  it('replace-head with a Sequential: the old fc Gemm removed, the head added, its weights named, the output reshaped', () => {
    const out = join(dir, 'head.onnx');
    succeeds(['replace-head', resnet, '--head', 'fc1=Linear(?,128),relu1=ReLU(),dropout1=Dropout(0.5),fc2=Linear(128,5),output=Softmax(dim=1)', '--seed', '1', '-o', out]);
    const a = readGraph(resnet);
    const b = readGraph(out);
    const diff = diffGraphs(a, b);
    expect(changes(diff, { a, b }).filter((c) => !c.startsWith('same'))).toEqual(['added /fc/dropout1/Identity', 'added /fc/fc1/Gemm', 'added /fc/fc2/Gemm', 'added /fc/output/Softmax', 'added /fc/relu1/Relu', 'removed /fc/Gemm']);
    expect(diff.nodes.filter((n) => n.change === 'same')).toHaveLength(a.nodes.length - 1);
    const [nodes, weights] = graphDiffSummary(diff);
    expect(nodes).toBe('+5 nodes, −1 node, output output [batch, 10] → [batch, 5]');
    expect(weights).toBe('fc.weight, fc.bias removed, fc.fc1.weight, fc.fc1.bias, fc.fc2.weight, fc.fc2.bias added');
  });

  it('a re-export that renumbered every node name (dynamo numbers them in graph order): matched by module, all the same', () => {
    const a = readGraph(fixture('resnet_dynamo.onnx'));
    const renamed = { ...a, nodes: a.nodes.map((n, i) => ({ proto: { ...n.proto, name: `node_${(i * 7) % a.nodes.length}_renamed` } })) };
    const diff = diffGraphs(a, renamed);
    expect(diff.nodes.filter((n) => n.change !== 'same')).toEqual([]);
    expect(diff.nodes.every((n) => n.a === n.b)).toBe(true);
  });

  it('add-output --module: one output added and nothing else', () => {
    const out = join(dir, 'two.onnx');
    succeeds(['add-output', resnet, '--module', 'layer1', '-o', out]);
    const diff = diffGraphs(readGraph(resnet), readGraph(out));
    expect(diff.outputs.filter((o) => o.change !== 'same').map((o) => `${o.change} ${o.name}`)).toEqual([`added ${diff.outputs.find((o) => o.change === 'added')!.name}`]);
    expect(diff.initializers).toEqual([]);
  });
});
