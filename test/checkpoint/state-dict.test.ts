import { describe, expect, it } from 'vitest';
import { py, type PyDict, type PyObject, type PyValue } from '../../src/checkpoint/pickle/value.js';
import { findStateDicts, moduleStateDict, resolvePath, stateDictTensors, toPlainData } from '../../src/checkpoint/state-dict.js';
import type { Tensor } from '../../src/checkpoint/tensor.js';

const tensor = (name: string): PyValue => {
  const t: Tensor = {
    dtype: 'float32',
    shape: [1],
    stride: [1],
    storageOffset: 0,
    storage: { key: name, dtype: 'float32', numel: 1, location: 'cpu', data: { kind: 'bytes', bytes: new Uint8Array(4) } },
    requiresGrad: true,
    parameter: true,
  };
  return { kind: 'tensor', tensor: t };
};

/** An inert nn.Module as a whole-model pickle holds it. */
function module(cls: string, parameters: [string, PyValue][], buffers: [string, PyValue][], children: [string, PyValue][], nonPersistent: string[] = []): PyObject {
  const state = py.dict([
    [py.str('training'), py.bool(false)],
    [py.str('_parameters'), py.dict(parameters.map(([k, v]) => [py.str(k), v]))],
    [py.str('_buffers'), py.dict(buffers.map(([k, v]) => [py.str(k), v]))],
    [py.str('_non_persistent_buffers_set'), { kind: 'set', items: nonPersistent.map(py.str), frozen: false }],
    [py.str('_modules'), py.dict(children.map(([k, v]) => [py.str(k), v]))],
  ]);
  return { kind: 'object', callable: py.global('models', cls), args: [], newobj: true, state };
}

describe('whole-model state dicts', () => {
  const bn = module('BatchNorm1d', [['weight', tensor('bn.w')], ['bias', { kind: 'none' }]], [['running_mean', tensor('bn.rm')], ['cache', tensor('bn.cache')]], [], ['cache']);
  const net = module('Net', [['scale', tensor('scale')]], [], [['fc', module('Linear', [['weight', tensor('fc.w')], ['bias', tensor('fc.b')]], [], [])], ['bn', bn], ['empty', { kind: 'none' }]]);

  it("recovers model.state_dict(): own parameters, then persistent buffers, then children; None skipped", () => {
    const keys = stateDictTensors(moduleStateDict(net)).map(([k]) => k);
    expect(keys).toEqual(['scale', 'fc.weight', 'fc.bias', 'bn.weight', 'bn.running_mean']);
  });

  it('holds detached tensors, as state_dict() does', () => {
    const [, first] = stateDictTensors(moduleStateDict(net))[0]!;
    expect(first).toMatchObject({ parameter: false, requiresGrad: false });
  });

  it('a DataParallel wrapper gives module. keys, and state dicts inside checkpoints are found', () => {
    const dp = module('DataParallel', [], [], [['module', net]]);
    const checkpoint = py.dict([
      [py.str('epoch'), py.int(3)],
      [py.str('model'), dp],
    ]);
    const plain = toPlainData(checkpoint);
    const found = findStateDicts(plain);
    expect(found.map((f) => f.path)).toEqual([['model']]);
    expect(stateDictTensors(found[0]!.dict).map(([k]) => k)[0]).toBe('module.scale');
  });

  it('--key paths match the longest key, so keys may contain dots', () => {
    const root = py.dict([[py.str('a.b'), py.dict([[py.str('c'), py.int(1)]])], [py.str('a'), py.int(2)]]) as PyDict;
    expect(resolvePath(root, 'a.b.c')).toEqual(['a.b', 'c']);
    expect(() => resolvePath(root, 'x')).toThrow(/no key 'x' under the top level \(keys there: a\.b, a\)/);
  });
});
