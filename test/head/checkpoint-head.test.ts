import { describe, expect, it } from 'vitest';
import { ModsurgError } from '../../src/errors.js';
import type { DType } from '../../src/checkpoint/dtype.js';
import { decode } from '../../src/checkpoint/numeric.js';
import { keyText, py, type PyDict, type PyValue } from '../../src/checkpoint/pickle/value.js';
import { metadataOf, stateDictTensors } from '../../src/checkpoint/state-dict.js';
import { contiguousStride, numelOf, readStorage, type Tensor } from '../../src/checkpoint/tensor.js';
import { optimizerStatePaths, replaceHeadInStateDict } from '../../src/head/checkpoint-head.js';
import { weightsSource, type ParameterSource } from '../../src/head/source.js';
import { findHeadModule } from '../../src/head/find-module.js';
import { classesHead, parseHeadSpec } from '../../src/head/spec.js';

function tensor(shape: number[], dtype: DType = 'float32'): PyValue {
  const t: Tensor = {
    dtype,
    shape,
    stride: contiguousStride(shape),
    storageOffset: 0,
    storage: { key: 'x', dtype, numel: numelOf(shape), location: 'cpu', data: { kind: 'bytes', bytes: new Uint8Array(numelOf(shape) * (dtype === 'float16' ? 2 : dtype === 'int8' ? 1 : dtype === 'int64' || dtype === 'float64' ? 8 : 4)) } },
    requiresGrad: false,
    parameter: false,
  };
  return { kind: 'tensor', tensor: t };
}

const version = (n: number): PyValue => py.dict([[py.str('version'), py.int(n)]]);

/** A state dict like torch's, with `_metadata` listing the given modules. */
function stateDict(entries: [string, number[], DType?][], modules?: [string, number][]): PyDict {
  const dict = py.dict(entries.map(([key, shape, dtype]) => [py.str(key), tensor(shape, dtype)]), true);
  if (modules) dict.attributes = [['_metadata', py.dict(modules.map(([path, v]) => [py.str(path), version(v)]), true)]];
  return dict;
}

/** TinyResNet's shape: convolutions, batch norms, then fc. */
const resnet = (prefix = '', dtype: DType = 'float32'): PyDict =>
  stateDict(
    [
      [`${prefix}conv1.weight`, [4, 3, 3, 3], dtype],
      [`${prefix}bn1.weight`, [4], dtype],
      [`${prefix}bn1.bias`, [4], dtype],
      [`${prefix}bn1.running_mean`, [4], dtype],
      [`${prefix}bn1.running_var`, [4], dtype],
      [`${prefix}bn1.num_batches_tracked`, [], 'int64'],
      [`${prefix}fc.weight`, [10, 8], dtype],
      [`${prefix}fc.bias`, [10], dtype],
    ],
    [
      ['', 1],
      ...(prefix ? ([[prefix.slice(0, -1), 1]] as [string, number][]) : []),
      [`${prefix}conv1`, 1],
      [`${prefix}bn1`, 2],
      [`${prefix}relu`, 1],
      [`${prefix}avgpool`, 1],
      [`${prefix}fc`, 1],
    ],
  );

const keys = (dict: PyDict): string[] => dict.entries.map(([k]) => keyText(k));
const metadata = (dict: PyDict): [string, PyValue][] => metadataOf(dict)!.entries.map(([k, v]) => [keyText(k), v]);
const init: ParameterSource = { kind: 'init', seed: 1 };
const spec = parseHeadSpec('fc1=Linear(?,6),relu1=ReLU(),dropout1=Dropout(0.5),fc2=Linear(6,3),output=Softmax(dim=1)');

describe('findHeadModule', () => {
  it('picks the classifier by default, with its in_features and dtype', () => {
    expect(findHeadModule(resnet(), undefined)).toEqual({
      at: 'fc',
      chosen: 'known-name',
      keys: ['fc.weight', 'fc.bias'],
      inFeatures: 8,
      inFeaturesFrom: 'fc.weight is [10, 8]',
      dtype: 'float32',
      description: 'Linear(in_features=8, out_features=10, bias=True)',
    });
    expect(findHeadModule(resnet('module.'), undefined).at).toBe('module.fc');
  });

  it('knows the head names of torchvision, timm and transformers, below DataParallel, torch.compile and Lightning wrappers', () => {
    const head = (entries: [string, number[]][]): string => findHeadModule(stateDict(entries), undefined).at;
    // safetensors order: sorted by name, so the head is not last
    expect(head([['classifier.weight', [7, 16]], ['vit.layers.1.output.dense.weight', [16, 32]], ['vit.layers.1.output.dense.bias', [16]]])).toBe('classifier');
    expect(head([['head.fc.weight', [7, 64]], ['stages.3.blocks.1.mlp.fc2.weight', [64, 256]]])).toBe('head.fc');
    expect(head([['heads.head.weight', [7, 16]], ['encoder.layers.0.mlp.3.weight', [16, 32]]])).toBe('heads.head');
    expect(head([['lm_head.weight', [50, 16]], ['transformer.h.0.mlp.c_fc.weight', [16, 64]], ['transformer.wte.weight', [50, 16]]])).toBe('lm_head');
    expect(head([['_orig_mod.fc.weight', [7, 8]], ['_orig_mod.proj.weight', [8, 8]]])).toBe('_orig_mod.fc');
    expect(head([['classifier.dense.weight', [16, 16]], ['classifier.out_proj.weight', [7, 16]]])).toBe('classifier.out_proj');
    // a numbered Sequential: the last by number (10 after 9, whatever the key order)
    expect(head([['classifier.10.weight', [7, 32]], ['classifier.3.weight', [32, 64]], ['classifier.9.weight', [32, 32]]])).toBe('classifier.10');
  });

  it('without a known name: the one Linear whose out_features nothing takes in, else the last registered, else a list for --at', () => {
    expect(findHeadModule(stateDict([['out.weight', [7, 16]], ['proj.weight', [16, 32]], ['norm.weight', [16]]]), undefined)).toMatchObject({ at: 'out', chosen: 'unconsumed' });
    const two: [string, number[]][] = [['net.fc.weight', [1000, 8]], ['fc_add.weight', [10, 1001]]];
    expect(findHeadModule(stateDict(two, [['', 1], ['net', 1], ['net.fc', 1], ['fc_add', 1]]), undefined)).toMatchObject({ at: 'fc_add', chosen: 'last-registered' });
    expect(() => findHeadModule(stateDict(two), undefined)).toThrow(/cannot tell which module is the classifier: 2 could be \(net\.fc, fc_add\); name it with --at/);
    // embeddings are [num, dim] like a bias-less Linear, but never the head
    expect(() => findHeadModule(stateDict([['transformer.wte.weight', [50, 16]], ['transformer.wpe.weight', [32, 16]]]), undefined)).toThrow(/found no Linear-looking module/);
  });

  it('counts a bias-less 2-D weight, but not modules with other tensors or a bias of the wrong shape', () => {
    const dict = stateDict([
      ['proj.weight', [16, 32]],
      ['head.weight', [5, 16]],
      ['norm.weight', [5]],
      ['norm.bias', [5]],
      ['attn.weight', [5, 5]],
      ['attn.extra', [5]],
      ['odd.weight', [3, 5]],
      ['odd.bias', [4]],
    ]);
    expect(findHeadModule(dict, undefined)).toMatchObject({ at: 'head', inFeatures: 16, description: 'Linear(in_features=16, out_features=5, bias=False)' });
  });

  it('takes --at: a module with children gets in_features from its first weight', () => {
    const dict = stateDict([
      ['features.0.weight', [8, 3, 3, 3]],
      ['classifier.1.weight', [100, 32]],
      ['classifier.1.bias', [100]],
      ['classifier.4.weight', [10, 100]],
      ['classifier.4.bias', [10]],
    ]);
    expect(findHeadModule(dict, 'classifier')).toMatchObject({
      at: 'classifier',
      chosen: 'given',
      keys: ['classifier.1.weight', 'classifier.1.bias', 'classifier.4.weight', 'classifier.4.bias'],
      inFeatures: 32,
      inFeaturesFrom: 'classifier.1.weight is [100, 32]',
      description: 'a module with 4 tensors',
    });
    const normFirst = stateDict([
      ['head.norm.weight', [24]],
      ['head.norm.bias', [24]],
      ['head.fc.weight', [10, 24]],
    ]);
    expect(findHeadModule(normFirst, 'head.')).toMatchObject({ at: 'head', inFeatures: 24, inFeaturesFrom: 'head.norm.weight is [24]' });
  });

  it('explains a wrong --at', () => {
    expect(() => findHeadModule(resnet(), 'fc.weight')).toThrow('--at fc.weight names a tensor, not a module; did you mean --at fc?');
    expect(() => findHeadModule(resnet('module.'), 'fc')).toThrow("--at fc: no keys under 'fc.' (did you mean --at module.fc?)");
    expect(() => findHeadModule(resnet(), 'classifier')).toThrow("--at classifier: no keys under 'classifier.' (Linear-looking modules here: fc)");
    expect(() => findHeadModule(resnet(), '')).toThrow(/name a module inside the model/);
    expect(() => findHeadModule(stateDict([['conv.weight', [4, 3, 3, 3]]]), undefined)).toThrow(/found no Linear-looking module .* name the module with --at/);
  });
});

describe('replaceHeadInStateDict', () => {
  it('puts the Sequential head where the module was, and _metadata as torch records it', () => {
    const before = resnet();
    const result = replaceHeadInStateDict(before, 'fc', spec, init);
    expect(result).toMatchObject({ at: 'fc', chosen: 'given', inFeatures: 8, removed: ['fc.weight', 'fc.bias'], added: ['fc.fc1.weight', 'fc.fc1.bias', 'fc.fc2.weight', 'fc.fc2.bias'] });
    expect(keys(result.dict)).toEqual([...keys(before).slice(0, 6), 'fc.fc1.weight', 'fc.fc1.bias', 'fc.fc2.weight', 'fc.fc2.bias']);
    // everything else is the same objects
    result.dict.entries.slice(0, 6).forEach(([k, v], i) => {
      expect(k).toBe(before.entries[i]![0]);
      expect(v).toBe(before.entries[i]![1]);
    });
    expect(metadata(result.dict)).toEqual([
      ['', version(1)],
      ['conv1', version(1)],
      ['bn1', version(2)],
      ['relu', version(1)],
      ['avgpool', version(1)],
      ['fc', version(1)],
      ['fc.fc1', version(1)],
      ['fc.relu1', version(1)],
      ['fc.dropout1', version(1)],
      ['fc.fc2', version(1)],
      ['fc.output', version(1)],
    ]);
    expect(metadata(before)).toHaveLength(6); // the input is not modified
  });

  it('makes state_dict()-like tensors: contiguous, detached, the shapes torch gives', () => {
    const result = replaceHeadInStateDict(resnet(), undefined, spec, init);
    const added = new Map(stateDictTensors(result.dict).filter(([key]) => key.startsWith('fc.')));
    expect([...added].map(([key, t]) => [key, t.shape, t.stride, t.dtype, t.requiresGrad, t.parameter, t.storageOffset])).toEqual([
      ['fc.fc1.weight', [6, 8], [8, 1], 'float32', false, false, 0],
      ['fc.fc1.bias', [6], [1], 'float32', false, false, 0],
      ['fc.fc2.weight', [3, 6], [6, 1], 'float32', false, false, 0],
      ['fc.fc2.bias', [3], [1], 'float32', false, false, 0],
    ]);
    for (const [key, t] of added) {
      const bound = key.startsWith('fc.fc1') ? 1 / Math.sqrt(8) : 1 / Math.sqrt(6);
      for (const v of decode(t.dtype, readStorage(t.storage))) expect(Math.abs(v)).toBeLessThan(bound);
    }
  });

  it('--classes puts a plain Linear at the module path itself', () => {
    const result = replaceHeadInStateDict(resnet(), 'fc', classesHead(5), init);
    expect(result.added).toEqual(['fc.weight', 'fc.bias']);
    expect(stateDictTensors(result.dict).slice(-2).map(([key, t]) => [key, t.shape])).toEqual([
      ['fc.weight', [5, 8]],
      ['fc.bias', [5]],
    ]);
    expect(metadata(result.dict).slice(-2)).toEqual([
      ['avgpool', version(1)],
      ['fc', version(1)],
    ]);
  });

  it("replaces a module's children and their _metadata, wherever the module is", () => {
    const dict = stateDict(
      [
        ['features.weight', [4, 3, 3, 3]],
        ['classifier.1.weight', [10, 32]],
        ['classifier.1.bias', [10]],
        ['aux.weight', [2, 4]],
      ],
      [
        ['', 1],
        ['features', 1],
        ['classifier', 1],
        ['classifier.0', 1],
        ['classifier.1', 1],
        ['aux', 1],
      ],
    );
    const result = replaceHeadInStateDict(dict, 'classifier', parseHeadSpec('Dropout(0.2),Linear(?,3),bn=BatchNorm1d(3)'), init);
    expect(keys(result.dict)).toEqual([
      'features.weight',
      'classifier.1.weight',
      'classifier.1.bias',
      'classifier.bn.weight',
      'classifier.bn.bias',
      'classifier.bn.running_mean',
      'classifier.bn.running_var',
      'classifier.bn.num_batches_tracked',
      'aux.weight',
    ]);
    expect(metadata(result.dict).map(([k, v]) => [k, v.kind === 'dict' ? Number((v.entries[0]![1] as { value: bigint }).value) : 0])).toEqual([
      ['', 1],
      ['features', 1],
      ['classifier', 1],
      ['classifier.0', 1],
      ['classifier.1', 1],
      ['classifier.bn', 2],
      ['aux', 1],
    ]);
    const counter = stateDictTensors(result.dict).find(([key]) => key === 'classifier.bn.num_batches_tracked')![1];
    expect([counter.dtype, counter.shape]).toEqual(['int64', []]);
  });

  it('leaves a state dict without _metadata without one, and keeps other attributes', () => {
    const plain = stateDict([
      ['a.weight', [3, 2]],
      ['fc.weight', [4, 3]],
    ]);
    expect(replaceHeadInStateDict(plain, undefined, classesHead(2), init).dict.attributes).toBeUndefined();
    const withOther = resnet();
    withOther.attributes!.push(['_other', py.str('kept')]);
    expect(replaceHeadInStateDict(withOther, undefined, classesHead(2), init).dict.attributes!.map(([k]) => k)).toEqual(['_metadata', '_other']);
  });

  it("gives the new parameters the replaced weight's dtype", () => {
    const result = replaceHeadInStateDict(resnet('', 'float16'), undefined, spec, init);
    expect(new Set(stateDictTensors(result.dict).filter(([key]) => key.startsWith('fc.')).map(([, t]) => t.dtype))).toEqual(new Set(['float16']));
    expect(() => replaceHeadInStateDict(resnet('', 'int8'), undefined, spec, init)).toThrow(/'fc' holds int8 weights; new head parameters can be float16, bfloat16, float32 or float64 only/);
  });

  it('reports count mismatches against the model, naming the weight they come from', () => {
    expect(() => replaceHeadInStateDict(resnet(), 'fc', parseHeadSpec('fc1=Linear(2048,6)'), init)).toThrow(
      'fc1: Linear expects 2048 input features, the model gives 8 (fc.weight is [10, 8])',
    );
  });

  it('takes values from a weights file, naming the file in errors', () => {
    const weightsFile = stateDict([
      ['fc.weight', [5, 8]],
      ['fc.bias', [5]],
    ]);
    const source = weightsSource(weightsFile, 'w.safetensors');
    const result = replaceHeadInStateDict(resnet(), 'fc', classesHead(5), source);
    expect(result.parameters.map((p) => p.name)).toEqual(['weight', 'bias']);
    try {
      replaceHeadInStateDict(resnet(), 'fc', classesHead(4), source);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ModsurgError);
      expect((error as ModsurgError).line).toBe('w.safetensors: weight is [5, 8], the head needs [4, 8]');
    }
    expect(() => weightsSource(py.dict([[py.str('a'), py.int(1)]]), 'x.pth')).toThrow(ModsurgError);
  });
});

describe('optimizerStatePaths', () => {
  it('finds optimizer states in dicts and lists', () => {
    const optimizer = py.dict([
      [py.str('state'), py.dict([])],
      [py.str('param_groups'), py.list([])],
    ]);
    const root = py.dict([
      [py.str('model'), resnet()],
      [py.str('optimizer_state_dict'), optimizer],
      [py.str('optimizer_states'), py.list([optimizer])],
    ]);
    expect(optimizerStatePaths(root)).toEqual(['optimizer_state_dict', 'optimizer_states.0']);
    expect(optimizerStatePaths(resnet())).toEqual([]);
  });
});
