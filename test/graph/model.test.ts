import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { cleanup, producers, toposort } from '../../src/graph/graph.js';
import { encodeOnnxModel, readOnnxModel } from '../../src/graph/model.js';
import { FileSource } from '../../src/io/byte-source.js';
import { materialize } from '../../src/io/pieces.js';
import { fixture } from '../helpers/cli.js';

const open = (name: string) => readOnnxModel(new FileSource(name, fixture(name)), fixture(name));

describe('ONNX model I/O', () => {
  for (const name of ['resnet.onnx', 'resnet_dynamo.onnx', 'unet.onnx']) {
    it(`${name}: an unedited model is written back byte for byte`, () => {
      expect(materialize(encodeOnnxModel(open(name))).equals(readFileSync(fixture(name)))).toBe(true);
    });

    it(`${name}: re-encoded nodes decode to the same messages`, () => {
      const model = open(name);
      const rewritten = { ...model, graph: { ...model.graph, nodes: model.graph.nodes.map((n) => ({ proto: n.proto })) } };
      const again = readOnnxModel(new (class {
        name = 'mem';
        bytes = materialize(encodeOnnxModel(rewritten));
        size = this.bytes.length;
        read = (o: number, l: number) => this.bytes.subarray(o, o + l);
        close() {}
      })(), undefined);
      expect(again.graph.nodes.map((n) => n.proto)).toEqual(model.graph.nodes.map((n) => n.proto));
    });
  }

  it('keeps the header: IR version, opsets, producer', () => {
    expect(open('resnet_dynamo.onnx').header).toMatchObject({ irVersion: 10, opsets: [{ domain: '', version: 20 }], producerName: 'pytorch' });
  });
});

describe('graph helpers', () => {
  it('toposort and cleanup walk a 20,000-node chain without running out of stack, and find a cycle', () => {
    const n = 20_000;
    const nodes = Array.from({ length: n }, (_, i) => ({ proto: { name: `n${i}`, op_type: 'Relu', input: [i === 0 ? 'x' : `t${i - 1}`], output: [`t${i}`] } }));
    const graph = { name: 'chain', nodes: [...nodes].reverse(), initializers: [], inputs: [{ proto: { name: 'x' } }], outputs: [{ proto: { name: `t${n - 1}` } }], valueInfo: [], fields: [] };
    expect(toposort(graph).nodes.map((node) => node.proto.name)).toEqual(nodes.map((node) => node.proto.name));
    expect(cleanup(graph).nodes).toHaveLength(n);
    const cyclic = { ...graph, nodes: [...nodes.slice(1), { proto: { name: 'n0', op_type: 'Relu', input: [`t${n - 1}`], output: ['t0'] } }] };
    expect(() => toposort(cyclic)).toThrow(/cycle/);
  });

  it('cleanup drops what no output needs; toposort restores order', () => {
    const { graph } = open('resnet.onnx');
    const reversed = { ...graph, nodes: [...graph.nodes].reverse() };
    expect(toposort(reversed).nodes.map((n) => n.proto.name)).toEqual(graph.nodes.map((n) => n.proto.name));
    const layer2Out = graph.nodes.find((n) => n.proto.op_type === 'GlobalAveragePool')!.proto.input![0]!;
    const truncated = cleanup({ ...graph, outputs: [{ proto: { name: layer2Out } }] });
    expect(truncated.nodes.length).toBeLessThan(graph.nodes.length);
    expect(truncated.nodes.some((n) => n.proto.op_type === 'Gemm')).toBe(false);
    expect(truncated.initializers.some((i) => i.proto.name === 'fc.weight')).toBe(false);
    expect(producers(truncated).has(layer2Out)).toBe(true);
  });
});
