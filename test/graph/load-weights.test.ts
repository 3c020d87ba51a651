import { describe, expect, it } from 'vitest';
import { contiguousStride, numelOf, type Tensor } from '../../src/checkpoint/tensor.js';
import type { Graph, GraphNode, Initializer, NodeProto } from '../../src/graph/graph.js';
import { loadWeights } from '../../src/graph/surgery/load-weights.js';

/** Graphs as the exporters leave them, built by hand: the scopes are the dynamo exporter's name_scopes. */
const FLOAT = 1;

function floats(values: number[]): Uint8Array {
  return new Uint8Array(Float32Array.from(values).buffer);
}

function init(name: string, dims: number[], values: number[]): Initializer {
  return { proto: { name, dims, data_type: FLOAT, raw_data: floats(values) } };
}

function node(op: string, input: string[], output: string, scopes?: string[], extra: Partial<NodeProto> = {}): GraphNode {
  const proto: NodeProto = { op_type: op, input, output: [output], name: `node_${output}`, ...extra };
  if (scopes) proto.metadata_props = [{ key: 'pkg.torch.onnx.name_scopes', value: `[${['', ...scopes, output].map((s) => `'${s}'`).join(', ')}]` }];
  return { proto };
}

function graph(nodes: GraphNode[], initializers: Initializer[]): Graph {
  return { name: 'g', nodes, initializers, inputs: [{ proto: { name: 'x' } }], outputs: [{ proto: { name: 'y' } }], valueInfo: [], fields: [] };
}

function tensor(shape: number[], values: number[]): Tensor {
  return {
    dtype: 'float32',
    shape,
    stride: contiguousStride(shape),
    storageOffset: 0,
    storage: { key: String(Math.random()), dtype: 'float32', numel: numelOf(shape), location: 'cpu', data: { kind: 'bytes', bytes: floats(values) } },
    requiresGrad: false,
    parameter: false,
  };
}

const valuesOf = (g: Graph, name: string): number[] => [...new Float32Array(Uint8Array.from(g.initializers.find((i) => i.proto.name === name)!.proto.raw_data!).buffer)];
const inputsOf = (g: Graph, output: string): string[] => g.nodes.find((n) => n.proto.output?.[0] === output)!.proto.input ?? [];

describe('load-weights follows the graph where the exporter did not keep the names', () => {
  it("a Linear's weight stored transposed under val_N, read by its MatMul", () => {
    const g = graph([node('MatMul', ['x', 'val_3'], 'h', ['fc']), node('Add', ['h', 'fc.bias'], 'y', ['fc'])], [init('val_3', [3, 2], [1, 2, 3, 4, 5, 6]), init('fc.bias', [2], [0, 0])]);
    // torch's weight is [out, in] = [2, 3]; the MatMul reads its transpose [3, 2]
    const { graph: loaded, report } = loadWeights(g, [
      ['fc.weight', tensor([2, 3], [10, 20, 30, 40, 50, 60])],
      ['fc.bias', tensor([2], [7, 8])],
    ]);
    expect(valuesOf(loaded, 'val_3')).toEqual([10, 40, 20, 50, 30, 60]);
    expect(valuesOf(loaded, 'fc.bias')).toEqual([7, 8]);
    expect(report.loaded).toEqual([
      { key: 'fc.weight', initializer: 'val_3', placement: 'graph', transposed: true },
      { key: 'fc.bias', initializer: 'fc.bias', placement: 'name', transposed: false },
    ]);
    expect(report.unloaded).toEqual([]);
  });

  it('keys the exporter merged (equal when exported) get their own initializers when their values differ', () => {
    // two LayerNorms whose fresh weights of ones the exporter stored once, under the first one's name
    const g = graph(
      [node('LayerNormalization', ['x', 'a.weight'], 'h', ['a']), node('LayerNormalization', ['h', 'a.weight'], 'y', ['b'])],
      [init('a.weight', [2], [1, 1])],
    );
    const { graph: loaded, report } = loadWeights(g, [
      ['a.weight', tensor([2], [1, 2])],
      ['b.weight', tensor([2], [3, 4])],
    ]);
    expect(valuesOf(loaded, 'a.weight')).toEqual([1, 2]);
    expect(valuesOf(loaded, 'b.weight')).toEqual([3, 4]);
    expect(inputsOf(loaded, 'y')).toEqual(['h', 'b.weight']);
    expect(inputsOf(loaded, 'h')).toEqual(['x', 'a.weight']);
    expect(report.separated).toEqual([{ key: 'b.weight', from: 'a.weight' }]);
    // still equal: one initializer keeps serving both
    const same = loadWeights(g, [
      ['a.weight', tensor([2], [5, 6])],
      ['b.weight', tensor([2], [5, 6])],
    ]);
    expect(same.graph.initializers).toHaveLength(1);
    expect(same.report.shared).toEqual([{ keys: ['a.weight', 'b.weight'], initializer: 'a.weight', kind: 'equal' }]);
  });

  it("readers whose keys the checkpoint lacks keep the exported value", () => {
    const g = graph(
      [node('LayerNormalization', ['x', 'a.weight'], 'h', ['a']), node('LayerNormalization', ['h', 'a.weight'], 'y', ['b'])],
      [init('a.weight', [2], [1, 1])],
    );
    const { graph: loaded } = loadWeights(g, [['a.weight', tensor([2], [1, 2])]]);
    expect(valuesOf(loaded, 'a.weight')).toEqual([1, 2]);
    expect(inputsOf(loaded, 'y')).toEqual(['h', 'a.weight_exported']);
    expect(valuesOf(loaded, 'a.weight_exported')).toEqual([1, 1]);
  });

  it('the classic exporter: Identity aliases named like the keys', () => {
    const g = graph(
      [node('Identity', ['a.bias'], 'b.bias'), node('Add', ['x', 'a.bias'], 'h', undefined, { name: '/a/Add' }), node('Add', ['h', 'b.bias'], 'y', undefined, { name: '/b/Add' })],
      [init('a.bias', [2], [0, 0])],
    );
    const { graph: loaded, report } = loadWeights(g, [
      ['a.bias', tensor([2], [1, 2])],
      ['b.bias', tensor([2], [3, 4])],
    ]);
    expect(loaded.nodes.map((n) => n.proto.op_type)).toEqual(['Add', 'Add']);
    expect(valuesOf(loaded, 'a.bias')).toEqual([1, 2]);
    expect(valuesOf(loaded, 'b.bias')).toEqual([3, 4]);
    expect(report.loaded.map((l) => l.placement)).toEqual(['name', 'alias']);
  });

  it('a Gemm whose zero bias the exporter dropped gets it back; what has no place is reported with the reason', () => {
    const g = graph([node('Gemm', ['x', 'head.weight'], 'y', ['head'], { attribute: [{ name: 'transB', type: 2, i: 1 }] })], [init('head.weight', [2, 3], [1, 2, 3, 4, 5, 6])]);
    const { graph: loaded, report } = loadWeights(g, [
      ['head.weight', tensor([2, 3], [1, 2, 3, 4, 5, 6])],
      ['head.bias', tensor([2], [9, 9])],
      ['other.weight', tensor([2], [1, 1])],
      ['bn.num_batches_tracked', tensor([], [0])],
    ]);
    expect(inputsOf(loaded, 'y')).toEqual(['x', 'head.weight', 'head.bias']);
    expect(valuesOf(loaded, 'head.bias')).toEqual([9, 9]);
    expect(report.restored).toEqual([{ key: 'head.bias', node: 'node_y' }]);
    expect(report.skipped).toEqual(['bn.num_batches_tracked']);
    expect(report.unloaded).toEqual([{ key: 'other.weight', reason: "no initializer of that name, and the graph has no nodes of module 'other'" }]);
  });

  it('refuses a model whose BatchNorm was folded into its convolutions', () => {
    const g = graph([node('Conv', ['x', 'conv.weight'], 'y', ['bn'])], [init('conv.weight', [1, 1, 1, 1], [2])]);
    expect(() => loadWeights(g, [['conv.weight', tensor([1, 1, 1, 1], [1])], ['bn.running_mean', tensor([1], [0])]])).toThrow(/the exporter folded BatchNorm into the convolutions/);
  });
});
