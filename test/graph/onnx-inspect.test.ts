import { readFileSync } from 'node:fs';
import { Chalk } from 'chalk';
import { describe, expect, it } from 'vitest';
import { renderOnnxSummary } from '../../src/cli/render-onnx.js';
import type { Graph, GraphNode } from '../../src/graph/graph.js';
import { readOnnxModel } from '../../src/graph/model.js';
import {
  commonAncestor,
  graphModules,
  moduleBoundary,
  moduleOfNode,
  nodesOfModule,
  parsePythonStrings,
  pathOfSegments,
} from '../../src/graph/module-scopes.js';
import { summarizeOnnx, type OnnxModuleNode } from '../../src/graph/summary.js';
import { FileSource } from '../../src/io/byte-source.js';
import { fixture } from '../helpers/cli.js';

const open = (name: string) => readOnnxModel(new FileSource(name, fixture(name)), fixture(name));
const names = (nodes: readonly GraphNode[]): string[] => nodes.map((n) => n.proto.name ?? '');
const byName = (graph: Graph, name: string): GraphNode => graph.nodes.find((n) => n.proto.name === name)!;

interface ModuleOutput {
  last_node: string | null;
  last_tensor?: string;
  last_tensor_is_module_output?: boolean;
  num_nodes?: number;
  tensors_equal_to_module_output: string[];
}
const manifest = JSON.parse(readFileSync(fixture('manifest.json'), 'utf8')) as {
  files: Record<string, { module_outputs?: Record<string, ModuleOutput>; layer2_tensor?: string; state_dicts?: Record<string, { metadata?: Record<string, unknown> }> }>;
};

/** Every module path of TinyResNet (resnet_sd.pth's _metadata lists each module, as torch saved it). */
const resnetModules = new Set(Object.keys(manifest.files['resnet_sd.pth']!.state_dicts![''].metadata!));

describe('module scopes on the fixture models', () => {
  // the fixture maker ran each model in torch with hooks and recorded, per top module, the ONNX node
  // that computes its output and how many nodes carry its scope
  for (const name of ['resnet.onnx', 'resnet_dynamo.onnx', 'unet.onnx']) {
    it(`${name}: each top module's nodes and output match what torch computed`, () => {
      const { graph } = open(name);
      const { sourceOf } = graphModules(graph);
      for (const [module, expected] of Object.entries(manifest.files[name]!.module_outputs!)) {
        const nodes = nodesOfModule(graph, module);
        if (expected.last_node === null) {
          expect(nodes, module).toEqual([]);
          continue;
        }
        expect(nodes.filter((n) => sourceOf.get(n) !== 'constant').length, module).toBe(expected.num_nodes);
        expect(nodes[nodes.length - 1]!.proto.name, module).toBe(expected.last_node);
        const { outputs } = moduleBoundary(graph, module);
        if (expected.last_tensor_is_module_output) expect(outputs, module).toEqual([expected.last_tensor]);
      }
    });
  }

  it('resnet.onnx (classic): paths from node names, repeated calls folded into their module', () => {
    const { graph } = open('resnet.onnx');
    expect(names(nodesOfModule(graph, 'fc'))).toEqual(['/fc/Gemm']);
    expect(moduleOfNode(byName(graph, '/layer2/layer2.1/relu_1/Relu'), graph)).toBe('layer2.1.relu');
    expect(moduleOfNode(byName(graph, '/layer2/layer2.0/downsample/downsample.0/Conv'), graph)).toBe('layer2.0.downsample.0');
    expect(moduleOfNode(byName(graph, '/Flatten'), graph)).toBe('');
    expect(names(nodesOfModule(graph, 'layer1.0.relu'))).toEqual(['/layer1/layer1.0/relu/Relu', '/layer1/layer1.0/relu_1/Relu']);
    // every recovered path is a real module of TinyResNet
    for (const path of graphModules(graph).paths) expect(resnetModules.has(path), path).toBe(true);
    expect(moduleBoundary(graph, 'layer2')).toEqual({ inputs: ['/layer1/layer1.1/relu_1/Relu_output_0'], outputs: [manifest.files['resnet.onnx']!.layer2_tensor] });
    // 'layer1' is not a prefix match for 'layer10'-like names: whole atoms only
    expect(nodesOfModule(graph, 'layer').length).toBe(0);
  });

  it('resnet_dynamo.onnx: paths and classes from name_scopes / class_hierarchy metadata', () => {
    const { graph } = open('resnet_dynamo.onnx');
    const layer2 = nodesOfModule(graph, 'layer2');
    expect(layer2.length).toBe(11);
    for (const node of layer2) expect(node.proto.metadata_props!.find((p) => p.key === 'pkg.torch.onnx.name_scopes')!.value).toMatch(/^\['', 'layer2', /);
    expect(names(nodesOfModule(graph, 'fc'))).toEqual(['node_linear']);
    expect(moduleOfNode(byName(graph, 'node_Conv_166'), graph)).toBe('layer2.0.downsample.1'); // BN folded into the conv keeps the BN's scope
    expect(moduleOfNode(byName(graph, 'node_Reshape_173'), graph)).toBe('');
    const { classes, sourceOf } = graphModules(graph);
    expect(classes.get('')).toBe('models.TinyResNet');
    expect(classes.get('layer1.0')).toBe('models.BasicBlock');
    expect(classes.get('fc')).toBe('torch.nn.modules.linear.Linear');
    expect(new Set(sourceOf.values())).toEqual(new Set(['name_scopes']));
    for (const path of graphModules(graph).paths) expect(resnetModules.has(path), path).toBe(true);
    expect(moduleBoundary(graph, 'layer2').outputs).toEqual([manifest.files['resnet_dynamo.onnx']!.layer2_tensor]);
  });

  it('unet.onnx: the decoder stage up2, with the unscoped constants it reads', () => {
    const { graph } = open('unet.onnx');
    const up2 = nodesOfModule(graph, 'up2');
    const scoped = graph.nodes.filter((n) => n.proto.name!.startsWith('/up2/'));
    const constants = ['Constant_155', 'Constant_157', 'Constant_159', 'Constant_161', 'Constant_164', 'Constant_166', 'Constant_168', 'Constant_170'];
    expect(new Set(names(up2))).toEqual(new Set([...names(scoped), ...constants]));
    expect(names(up2)).toEqual(names(graph.nodes.filter((n) => up2.includes(n)))); // graph order
    for (const c of constants) expect(graphModules(graph).sourceOf.get(byName(graph, c))).toBe('constant');
    expect(moduleBoundary(graph, 'up2')).toEqual({
      inputs: ['/up1/conv/double_conv/double_conv.5/Relu_output_0', '/inc/double_conv/double_conv.5/Relu_output_0'],
      outputs: ['/up2/conv/double_conv/double_conv.5/Relu_output_0'],
    });
    expect(moduleOfNode(byName(graph, '/down1/maxpool_conv/maxpool_conv.1/double_conv/double_conv.5/Relu'), graph)).toBe('down1.maxpool_conv.1.double_conv.5');
    expect(names(nodesOfModule(graph, 'outc'))).toEqual(['/outc/conv/Conv']);
    expect(graph.nodes.every((n) => moduleOfNode(n, graph) !== undefined)).toBe(true);
  });

  it('tied.onnx: an exporter Identity joins the module reading it; a shared weight belongs to their common parent', () => {
    const { graph } = open('tied.onnx');
    expect(moduleOfNode(byName(graph, 'Identity_0'), graph)).toBe('b');
    const root = summarizeOnnx(open('tied_unfolded.onnx')).modules!;
    expect(root.initializers.map((t) => t.name)).toEqual(['a.weight']);
    expect(root.children.find((c) => c.name === 'a')!.initializers.map((t) => t.name)).toEqual(['a.bias']);
  });
});

/** A graph of bare nodes, named as the classic exporter would name them. */
function graphOf(nodes: [name: string, inputs?: string[], outputs?: string[]][], initializers: string[] = []): Graph {
  return {
    name: 'g',
    nodes: nodes.map(([name, input = [], output = [`${name}_out`]]) => ({ proto: { name, op_type: name.split('/').pop()!.replace(/_\d+$/, ''), input, output } })),
    inputs: [],
    outputs: [],
    valueInfo: [],
    initializers: initializers.map((name) => ({ proto: { name, data_type: 1, dims: [1], raw_data: new Uint8Array(4) } })),
    fields: [],
  };
}

describe('classic scope names', () => {
  it('segments overlap their parent where containers were called, and start fresh elsewhere', () => {
    expect(pathOfSegments([])).toBe('');
    expect(pathOfSegments(['layer2', 'layer2.0', 'downsample', 'downsample.0'])).toBe('layer2.0.downsample.0');
    expect(pathOfSegments(['seq', 'seq.0', 'seq.0.0'])).toBe('seq.0.0');
    expect(pathOfSegments(['blocks.0', 'lin'])).toBe('blocks.0.lin'); // a ModuleList is never called itself
    expect(pathOfSegments(['down1', 'maxpool_conv', 'maxpool_conv.1', 'double_conv', 'double_conv.5'])).toBe('down1.maxpool_conv.1.double_conv.5');
    expect(pathOfSegments(['x', 'x'])).toBe('x.x');
  });

  // node names from torch.onnx.export(dynamo=False) of a model with a reused module `shared` (with a child
  // `lin`), a reused `relu`, and modules named `relu_1` and `block_1`
  const graph = graphOf(
    [
      ['/relu/Relu'],
      ['/relu_1/Sigmoid'],
      ['/relu_1/Relu'],
      ['/shared/lin/Gemm'],
      ['/shared/Relu'],
      ['/shared/lin_1/Gemm'],
      ['/shared_1/Relu'],
      ['/block_1/conv/Conv'],
      ['/block/Relu'],
      ['/norm_1/Add'],
      ['/norm/Relu'],
      ['Constant_3', [], ['c3']],
      ['/head/Add', ['c3']],
      ['Identity_0', ['w'], ['w2']],
    ],
    ['norm_1.weight', 'w'],
  );
  const module = (name: string): string | undefined => moduleOfNode(byName(graph, name), graph);

  it('a repeated call (`_N` on the last segment) is the module itself', () => {
    expect(module('/shared/lin_1/Gemm')).toBe('shared.lin');
    expect(module('/shared_1/Relu')).toBe('shared');
    expect(module('/relu_1/Relu')).toBe('relu');
  });

  it('unless the name has scopes below it, or the initializers name such a module', () => {
    expect(module('/block_1/conv/Conv')).toBe('block_1.conv');
    expect(module('/norm_1/Add')).toBe('norm_1');
  });

  it('unscoped constant nodes join their reader; others stay outside any module', () => {
    expect(module('Constant_3')).toBe('head');
    expect(module('Identity_0')).toBeUndefined(); // nobody reads it
  });

  it('falls back to state-dict initializer names', () => {
    const g = graphOf([['Gemm_0', ['x', 'fc.weight', 'fc.bias']], ['Relu_1', ['Gemm_0_out']]], ['fc.weight', 'fc.bias']);
    expect(moduleOfNode(g.nodes[0]!, g)).toBe('fc');
    expect(moduleOfNode(g.nodes[1]!, g)).toBeUndefined();
    expect(graphModules(g).sourceOf.get(g.nodes[0]!)).toBe('initializer');
  });

  it('a graph without any scope has no modules', () => {
    const g = graphOf([['Relu_0', ['x']]]);
    expect(graphModules(g).paths).toEqual([]);
    expect(nodesOfModule(g, '')).toEqual([]);
  });

  it('common ancestors', () => {
    expect(commonAncestor(['layer1.0.conv1', 'layer1.0'])).toBe('layer1.0');
    expect(commonAncestor(['a', 'b'])).toBe('');
    expect(commonAncestor(['layer1', 'layer10'])).toBe('');
  });
});

describe('Python list reprs (dynamo metadata)', () => {
  it('parses what repr() writes', () => {
    expect(parsePythonStrings("['', 'fc', 'linear']")).toEqual(['', 'fc', 'linear']);
    expect(parsePythonStrings('[]')).toEqual([]);
    expect(parsePythonStrings(`["it's", 'a\\'b', 'tab\\there', '\\x41\\u00e9\\\\']`)).toEqual(["it's", "a'b", 'tab\there', 'Aé\\']);
  });

  it('refuses anything else', () => {
    for (const bad of [undefined, '', "['a'", "['a' 'b']", "['a'] x", '[1, 2]', "('a',)", "['\\q']"]) expect(parsePythonStrings(bad)).toBeUndefined();
  });
});

describe('summary', () => {
  it('header, inputs and outputs with symbolic dims, ops, totals', () => {
    const s = summarizeOnnx(open('resnet.onnx'));
    expect(s).toMatchObject({
      format: 'onnx',
      irVersion: 8,
      opsets: [{ domain: '', version: 17 }],
      producer: { name: 'pytorch', version: '2.13.0' },
      graphName: 'main_graph',
      inputs: [{ name: 'input', dtype: 'float32', shape: ['batch', 3, 16, 16] }],
      outputs: [{ name: 'output', dtype: 'float32', shape: ['batch', 10] }],
      nodes: 26,
      ops: { Conv: 10, Relu: 9, Add: 4, GlobalAveragePool: 1, Flatten: 1, Gemm: 1 },
      externalData: [],
    });
    expect(Object.keys(s.ops)[0]).toBe('Conv');
    expect(s.tensors[0]).toEqual({ name: 'fc.weight', dtype: 'float32', shape: [10, 8], bytes: 320 });
    expect(s.totals).toEqual({ tensors: 22, params: 2882, bytes: 2882 * 4, dtypes: { float32: 22 } });
  });

  it('module tree: own ops, node and parameter counts including submodules', () => {
    const s = summarizeOnnx(open('resnet.onnx'));
    const find = (node: OnnxModuleNode, path: string): OnnxModuleNode | undefined =>
      node.path === path ? node : node.children.map((c) => find(c, path)).find((c) => c !== undefined);
    const root = s.modules!;
    expect(root.nodes).toBe(26);
    expect(root.params).toBe(2882);
    expect(root.ops).toEqual({ Flatten: 1 });
    expect(root.children.map((c) => c.name)).toEqual(['conv1', 'relu', 'layer1', 'layer2', 'avgpool', 'fc']);
    expect(find(root, 'layer1.0')).toMatchObject({ ops: { Add: 1 }, nodes: 5, params: 296 });
    expect(find(root, 'layer1.0.relu')).toMatchObject({ ops: { Relu: 2 }, nodes: 2, params: 0, children: [] });
    expect(find(root, 'fc')).toMatchObject({ ops: { Gemm: 1 }, params: 90, initializers: [{ name: 'fc.weight' }, { name: 'fc.bias' }] });
    const dynamo = summarizeOnnx(open('resnet_dynamo.onnx')).modules!;
    expect(dynamo.kind).toBe('TinyResNet');
    expect(dynamo.children[0]).toMatchObject({ name: 'bn1', kind: 'BatchNorm2d', ops: { Conv: 1 } });
  });

  it('renders like print(net), down to --depth', () => {
    const c = new Chalk({ level: 0 });
    const text = renderOnnxSummary('resnet.onnx', 16408, summarizeOnnx(open('resnet.onnx')), c, Infinity);
    expect(text).toContain('resnet.onnx: ONNX, 16.4 KB (IR 8, opset 17, producer pytorch 2.13.0)');
    expect(text).toContain('  input  float32[batch, 3, 16, 16]');
    expect(text).toContain('ops: Conv ×10, Relu ×9, Add ×4, GlobalAveragePool, Flatten, Gemm');
    expect(text).toContain('parameters: 22 initializers, 2,882 parameters, 11.5 KB (float32 22)');
    expect(text).toContain("modules (from the exporter's node names):");
    expect(text).toContain('    (fc): Gemm  float32: weight[10, 8] bias[10]');
    expect(text).toContain('        (relu): Relu ×2');
    const shallow = renderOnnxSummary('x', 1, summarizeOnnx(open('resnet_dynamo.onnx')), c, 1);
    expect(shallow).toContain('    (layer2): Sequential(…)  11 nodes, 2,088 params');
    expect(shallow).toContain('    (fc): Linear  Gemm  float32: weight[10, 8] bias[10]');
  });
});
