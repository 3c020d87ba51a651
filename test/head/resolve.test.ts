import { describe, expect, it } from 'vitest';
import { resolveHead } from '../../src/head/resolve.js';
import { classesHead, parseHeadSpec } from '../../src/head/spec.js';
import { layerRepr, printHead } from '../../src/head/torch-repr.js';
import { pythonFloat } from '../../src/head/values.js';

const resolve = (spec: string, inFeatures: number | undefined, origin?: string) => resolveHead(parseHeadSpec(spec), inFeatures, origin);

describe('resolveHead: feature propagation', () => {
  it("fills each '?' with the count that arrives there and reports what the head gives", () => {
    const head = resolve('fc1=Linear(?,128),bn=BatchNorm1d(?),relu=ReLU(),ln=LayerNorm(?),drop=Dropout(),fc2=Linear(?,10),out=Softmax(dim=1)', 2048);
    expect(head.kind).toBe('sequential');
    expect(head.inFeatures).toBe(2048);
    expect(head.outFeatures).toBe(10);
    expect(head.kind === 'sequential' && head.layers).toEqual([
      { kind: 'Linear', name: 'fc1', inFeatures: 2048, outFeatures: 128, bias: true },
      { kind: 'BatchNorm1d', name: 'bn', numFeatures: 128, eps: 1e-5, momentum: 0.1, affine: true, trackRunningStats: true, bias: true },
      { kind: 'ReLU', name: 'relu', inplace: false },
      { kind: 'LayerNorm', name: 'ln', normalizedShape: [128], eps: 1e-5, elementwiseAffine: true, bias: true },
      { kind: 'Dropout', name: 'drop', p: 0.5, inplace: false },
      { kind: 'Linear', name: 'fc2', inFeatures: 128, outFeatures: 10, bias: true },
      { kind: 'Softmax', name: 'out', dim: 1 },
    ]);
  });

  it('keeps counts that match, and passes the count through layers without one', () => {
    expect(resolve('Linear(8,6),ReLU(),Linear(6,3)', 8).outFeatures).toBe(3);
    expect(resolve('ReLU(),Tanh()', 8)).toMatchObject({ inFeatures: 8, outFeatures: 8 });
  });

  it('names the layer whose count does not match', () => {
    expect(() => resolve('fc1=Linear(?,128),relu=ReLU(),fc2=Linear(64,10)', 2048)).toThrow(
      'fc2: Linear expects 64 input features, the layer before gives 128',
    );
    expect(() => resolve('fc1=Linear(2048,128)', 8, 'fc.weight is [10, 8]')).toThrow(
      'fc1: Linear expects 2048 input features, the model gives 8 (fc.weight is [10, 8])',
    );
    expect(() => resolve('Linear(?,16),BatchNorm1d(12)', 8)).toThrow('layer 1: BatchNorm1d expects 12 features, the layer before gives 16');
    expect(() => resolve('fc=Linear(?,16),ln=LayerNorm((12,))', 8)).toThrow('ln: LayerNorm expects 12 features, the layer before gives 16');
    expect(() => resolve('ln=LayerNorm((4, 8))', 8)).toThrow(
      "ln: LayerNorm normalized_shape (4, 8) has 2 dimensions; the head's input is [batch, features], so it must be (features,)",
    );
  });

  it("takes the input count from the spec when the model does not give one, and refuses a '?' then", () => {
    expect(resolve('Linear(32,4)', undefined)).toMatchObject({ inFeatures: 32, outFeatures: 4 });
    expect(resolve('ReLU(),BatchNorm1d(32)', undefined)).toMatchObject({ inFeatures: 32, outFeatures: 32 });
    expect(() => resolve('Linear(?,4)', undefined)).toThrow(/cannot tell how many features the head takes/);
    expect(() => resolve('ReLU()', undefined)).toThrow(/cannot tell how many features the head takes/);
  });

  it('resolves the --classes Linear, which replaces the module itself', () => {
    expect(resolveHead(classesHead(5), 8)).toEqual({
      kind: 'single',
      layer: { kind: 'Linear', name: '', inFeatures: 8, outFeatures: 5, bias: true },
      inFeatures: 8,
      outFeatures: 5,
    });
  });
});

describe('printHead: as torch prints modules', () => {
  it('prints a Sequential the way torch 2.x does (checked against torch 2.13)', () => {
    const spec =
      "fc1=Linear(8,6),r=ReLU(),ri=ReLU(inplace=True),l=LeakyReLU(),li=LeakyReLU(0.2,True),g=GELU(),gt=GELU('tanh'),s=SiLU(),si=SiLU(True),sg=Sigmoid(),t=Tanh()," +
      'd=Dropout(),di=Dropout(0.25,True),sm=Softmax(dim=1),smn=Softmax(),ls=LogSoftmax(-1),f=Flatten(),i=Identity(),bn=BatchNorm1d(6),bn2=BatchNorm1d(6,1e-3,None,False,False),' +
      'ln=LayerNorm(6),ln2=LayerNorm((6,),eps=1e-6,elementwise_affine=False),ln3=LayerNorm([6],bias=False),fc2=Linear(6,3,bias=False),bn3=BatchNorm1d(3,momentum=1e20,eps=1e-20)';
    // print(nn.Sequential(OrderedDict(...))) in torch 2.13
    expect(printHead(resolve(spec, 8))).toBe(`Sequential(
  (fc1): Linear(in_features=8, out_features=6, bias=True)
  (r): ReLU()
  (ri): ReLU(inplace=True)
  (l): LeakyReLU(negative_slope=0.01)
  (li): LeakyReLU(negative_slope=0.2, inplace=True)
  (g): GELU(approximate='none')
  (gt): GELU(approximate='tanh')
  (s): SiLU()
  (si): SiLU(inplace=True)
  (sg): Sigmoid()
  (t): Tanh()
  (d): Dropout(p=0.5, inplace=False)
  (di): Dropout(p=0.25, inplace=True)
  (sm): Softmax(dim=1)
  (smn): Softmax(dim=None)
  (ls): LogSoftmax(dim=-1)
  (f): Flatten(start_dim=1, end_dim=-1)
  (i): Identity()
  (bn): BatchNorm1d(6, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True)
  (bn2): BatchNorm1d(6, eps=0.001, momentum=None, affine=False, bias=False, track_running_stats=False)
  (ln): LayerNorm((6,), eps=1e-05, elementwise_affine=True, bias=True)
  (ln2): LayerNorm((6,), eps=1e-06, elementwise_affine=False, bias=False)
  (ln3): LayerNorm((6,), eps=1e-05, elementwise_affine=True, bias=False)
  (fc2): Linear(in_features=6, out_features=3, bias=False)
  (bn3): BatchNorm1d(3, eps=1e-20, momentum=1e+20, affine=True, bias=True, track_running_stats=True)
)`);
  });

  it('prints a --classes head as the Linear alone, and unresolved counts as ?', () => {
    expect(printHead(resolveHead(classesHead(5), 8))).toBe('Linear(in_features=8, out_features=5, bias=True)');
    expect(layerRepr(parseHeadSpec('Linear(?,4)').layers[0]!)).toBe('Linear(in_features=?, out_features=4, bias=True)');
  });

  it("writes floats as Python's repr does", () => {
    const cases: [number, string][] = [
      [1e-5, '1e-05'], [0.1, '0.1'], [0.5, '0.5'], [1, '1.0'], [-0, '-0.0'], [0, '0.0'], [1e-4, '0.0001'], [1.5e-4, '0.00015'],
      [123.25, '123.25'], [1e15, '1000000000000000.0'], [1e16, '1e+16'], [1.5e16, '1.5e+16'], [-2.5e-7, '-2.5e-07'], [5e-324, '5e-324'],
      [1.7976931348623157e308, '1.7976931348623157e+308'], [0.30000000000000004, '0.30000000000000004'], [100, '100.0'],
    ];
    for (const [value, text] of cases) expect(pythonFloat(value), String(value)).toBe(text);
  });
});
