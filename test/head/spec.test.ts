import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ModsurgError } from '../../src/errors.js';
import type { Features, HeadLayer } from '../../src/head/layers.js';
import { classesHead, formatHeadSpec, formatLayer, parseHeadSpec } from '../../src/head/spec.js';
import { SpecError } from '../../src/head/syntax.js';

const layers = (text: string): readonly HeadLayer[] => parseHeadSpec(text).layers;
const only = (text: string): HeadLayer => {
  const parsed = layers(text);
  expect(parsed).toHaveLength(1);
  return parsed[0]!;
};
/** The one-line message a spec error gives. */
const errorOf = (text: string): string => {
  try {
    parseHeadSpec(text);
  } catch (error) {
    expect(error).toBeInstanceOf(SpecError);
    expect(error).toBeInstanceOf(ModsurgError);
    const message = (error as Error).message;
    expect(message).not.toContain('\n');
    return message;
  }
  throw new Error(`'${text}' parsed without an error`);
};

describe('parseHeadSpec', () => {
  it('reads the nn.Sequential(OrderedDict(...)) example with every argument resolved', () => {
    expect(parseHeadSpec('fc1=Linear(2048,128),relu1=ReLU(),dropout1=Dropout(0.5),fc2=Linear(128,10),output=Softmax(dim=1)')).toEqual({
      kind: 'sequential',
      layers: [
        { kind: 'Linear', name: 'fc1', inFeatures: 2048, outFeatures: 128, bias: true },
        { kind: 'ReLU', name: 'relu1', inplace: false },
        { kind: 'Dropout', name: 'dropout1', p: 0.5, inplace: false },
        { kind: 'Linear', name: 'fc2', inFeatures: 128, outFeatures: 10, bias: true },
        { kind: 'Softmax', name: 'output', dim: 1 },
      ],
    });
  });

  it("gives every layer torch's defaults", () => {
    expect(only('Linear(8, 6)')).toEqual({ kind: 'Linear', name: '0', inFeatures: 8, outFeatures: 6, bias: true });
    expect(only('ReLU()')).toEqual({ kind: 'ReLU', name: '0', inplace: false });
    expect(only('LeakyReLU()')).toEqual({ kind: 'LeakyReLU', name: '0', negativeSlope: 0.01, inplace: false });
    expect(only('GELU()')).toEqual({ kind: 'GELU', name: '0', approximate: 'none' });
    expect(only('SiLU()')).toEqual({ kind: 'SiLU', name: '0', inplace: false });
    expect(only('Sigmoid()')).toEqual({ kind: 'Sigmoid', name: '0' });
    expect(only('Tanh()')).toEqual({ kind: 'Tanh', name: '0' });
    expect(only('Dropout()')).toEqual({ kind: 'Dropout', name: '0', p: 0.5, inplace: false });
    expect(only('Softmax()')).toEqual({ kind: 'Softmax', name: '0', dim: null });
    expect(only('LogSoftmax()')).toEqual({ kind: 'LogSoftmax', name: '0', dim: null });
    expect(only('Flatten()')).toEqual({ kind: 'Flatten', name: '0', startDim: 1, endDim: -1 });
    expect(only('Identity()')).toEqual({ kind: 'Identity', name: '0' });
    expect(only('BatchNorm1d(16)')).toEqual({ kind: 'BatchNorm1d', name: '0', numFeatures: 16, eps: 1e-5, momentum: 0.1, affine: true, trackRunningStats: true, bias: true });
    expect(only('LayerNorm(12)')).toEqual({ kind: 'LayerNorm', name: '0', normalizedShape: [12], eps: 1e-5, elementwiseAffine: true, bias: true });
  });

  it('takes arguments by position or by keyword, in any mix Python allows', () => {
    const expected = { kind: 'Linear', name: '0', inFeatures: 8, outFeatures: 6, bias: false };
    expect(only('Linear(8,6,False)')).toEqual(expected);
    expect(only('Linear(8, 6, bias=False)')).toEqual(expected);
    expect(only('Linear(in_features=8, out_features=6, bias=False)')).toEqual(expected);
    expect(only('Linear(8, bias=False, out_features=6)')).toEqual(expected);
    expect(only('Linear(8,6,)')).toEqual({ ...expected, bias: true });
    expect(only('LeakyReLU(0.2, True)')).toEqual({ kind: 'LeakyReLU', name: '0', negativeSlope: 0.2, inplace: true });
    expect(only("GELU(approximate='tanh')")).toEqual({ kind: 'GELU', name: '0', approximate: 'tanh' });
    expect(only('GELU("tanh")')).toEqual({ kind: 'GELU', name: '0', approximate: 'tanh' });
    expect(only('Dropout(p=1)')).toEqual({ kind: 'Dropout', name: '0', p: 1, inplace: false });
    expect(only('Softmax(-1)')).toEqual({ kind: 'Softmax', name: '0', dim: -1 });
    expect(only('LogSoftmax(dim=None)')).toEqual({ kind: 'LogSoftmax', name: '0', dim: null });
    expect(only('Flatten(0, end_dim=1)')).toEqual({ kind: 'Flatten', name: '0', startDim: 0, endDim: 1 });
    expect(only('BatchNorm1d(16, 1e-3, None, False, False, bias=False)')).toEqual({
      kind: 'BatchNorm1d', name: '0', numFeatures: 16, eps: 1e-3, momentum: null, affine: false, trackRunningStats: false, bias: false,
    });
    expect(only('LayerNorm((12,), eps=.5e-5, elementwise_affine=False, bias=False)')).toEqual({
      kind: 'LayerNorm', name: '0', normalizedShape: [12], eps: 0.5e-5, elementwiseAffine: false, bias: false,
    });
  });

  it('accepts no-argument layers with or without parentheses, and spaces anywhere between tokens', () => {
    expect(layers('ReLU,Tanh(),a = Sigmoid ,  b=Identity')).toEqual([
      { kind: 'ReLU', name: '0', inplace: false },
      { kind: 'Tanh', name: '1' },
      { kind: 'Sigmoid', name: 'a' },
      { kind: 'Identity', name: 'b' },
    ]);
    expect(layers(' fc = Linear ( 8 , 6 ) ,\n relu = ReLU ( ) ')).toEqual([
      { kind: 'Linear', name: 'fc', inFeatures: 8, outFeatures: 6, bias: true },
      { kind: 'ReLU', name: 'relu', inplace: false },
    ]);
  });

  it('numbers unnamed layers by their position in the sequence, as nn.Sequential does', () => {
    expect(layers('Linear(?,4),relu=ReLU(),Linear(4,2),out=Softmax(dim=1)').map((l) => l.name)).toEqual(['0', 'relu', '2', 'out']);
    expect(layers('0=Linear(8,4),ReLU()').map((l) => l.name)).toEqual(['0', '1']);
  });

  it("reads '?' as a feature count taken from the model, for Linear, BatchNorm1d and LayerNorm", () => {
    expect(only('Linear(?, 10)')).toMatchObject({ inFeatures: '?', outFeatures: 10 });
    expect(only('Linear(in_features=?, out_features=10)')).toMatchObject({ inFeatures: '?' });
    expect(only('BatchNorm1d(?)')).toMatchObject({ numFeatures: '?' });
    expect(only('LayerNorm(?)')).toMatchObject({ normalizedShape: ['?'] });
    expect(only('LayerNorm((?,))')).toMatchObject({ normalizedShape: ['?'] });
  });

  it('reads ints, floats, strings, True/False/None, tuples and lists as Python does', () => {
    expect(only('LayerNorm(12)')).toMatchObject({ normalizedShape: [12] });
    expect(only('LayerNorm((12))')).toMatchObject({ normalizedShape: [12] }); // (12) is 12 in Python
    expect(only('LayerNorm((12,))')).toMatchObject({ normalizedShape: [12] });
    expect(only('LayerNorm([12])')).toMatchObject({ normalizedShape: [12] });
    expect(only('LayerNorm((4, 12))')).toMatchObject({ normalizedShape: [4, 12] });
    expect(only('LeakyReLU(-1e-2)')).toMatchObject({ negativeSlope: -0.01 });
    expect(only('LeakyReLU(+.25)')).toMatchObject({ negativeSlope: 0.25 });
    expect(only('LeakyReLU(2)')).toMatchObject({ negativeSlope: 2 });
    expect(only('BatchNorm1d(4, eps=1E-5, momentum=1.)')).toMatchObject({ eps: 1e-5, momentum: 1 });
    expect(only('GELU(approximate="tanh")')).toMatchObject({ approximate: 'tanh' });
    expect(errorOf("GELU('ta\\'nh')")).toMatch(/approximate must be one of 'none', 'tanh', not "ta'nh" at character 6/);
    expect(errorOf("GELU('a\\\\b\\n')")).toMatch(/not 'a\\\\b\\n' at/);
  });

  it('points at the offending character in one line', () => {
    expect(errorOf('fc1=Linear(2048,12')).toBe("--head: expected ')' at character 19: fc1=Linear(2048,12 ⟨here⟩");
    expect(errorOf('fc1=Linear(2048,,12)')).toBe("--head: expected a value, not ',' at character 17: fc1=Linear(2048, ⟨here⟩ ,12)");
    expect(errorOf('fc1=Linear(8 6)')).toBe("--head: expected ',' or ')', not '6' at character 14: fc1=Linear(8 ⟨here⟩ 6)");
    expect(errorOf('')).toBe('--head: expected a layer, e.g. Linear(?, 10) at character 1: ⟨here⟩');
    expect(errorOf('ReLU(),')).toBe("--head: expected a layer after ',' at character 8: ReLU(), ⟨here⟩");
    expect(errorOf('ReLU() Tanh()')).toMatch(/^--head: expected ',' or the end of the spec, not 'T' at character 8: /);
    expect(errorOf("GELU(approximate='tanh)")).toMatch(/^--head: unterminated string \(no closing '\) at character 18: /);
    expect(errorOf('GELU(approximate=tanh)')).toMatch(/expected a value, not the name 'tanh' \(quote strings: 'tanh'\) at character 18/);
    expect(errorOf('Linear(8,6)x')).toMatch(/at character 12: Linear\(8,6\) ⟨here⟩ x$/);
    expect(errorOf('Linear(12abc, 4)')).toMatch(/'12' followed by letters is not a number at character 8/);
    expect(errorOf('Linear(\n8,\n')).not.toContain('\n');
  });

  it('shortens the context of long specs', () => {
    const long = `${'a'.repeat(100)}=ReLU(),${'Tanh(),'.repeat(30)}Linear(8`;
    const message = errorOf(long);
    expect(message).toMatch(/at character \d+: …/);
    expect(message.length).toBeLessThan(200);
  });

  it('names unknown layers, suggesting the right spelling', () => {
    expect(errorOf('fc=Conv2d(3,4)')).toMatch(/^--head: unknown layer 'Conv2d' \(known: Linear, ReLU, .*LayerNorm\) at character 4: fc= ⟨here⟩ Conv2d\(3,4\)$/);
    expect(errorOf('relu=Relu()')).toMatch(/^--head: unknown layer 'Relu' \(did you mean ReLU\?\) at character 6/);
    expect(errorOf('ReLU(),batchnorm1d(4)')).toMatch(/did you mean BatchNorm1d\?/);
  });

  it('rejects unknown, repeated, missing and misplaced arguments', () => {
    expect(errorOf('fc1=Linear(8,6,bais=True)')).toBe(
      "--head: fc1: Linear has no argument 'bais' (its arguments: in_features, out_features, bias) at character 16: fc1=Linear(8,6, ⟨here⟩ bais=True)",
    );
    expect(errorOf('Sigmoid(dim=1)')).toMatch(/0: Sigmoid has no argument 'dim' \(it takes no arguments\)/);
    expect(errorOf('Linear(8,6,True,4)')).toMatch(/0: Linear takes at most 3 positional arguments \(in_features, out_features, bias\) at character 17/);
    expect(errorOf('Tanh(1)')).toMatch(/0: Tanh takes no positional arguments at character 6/);
    expect(errorOf('BatchNorm1d(4, 1e-5, 0.1, True, True, False)')).toMatch(/BatchNorm1d takes at most 5 positional arguments/);
    expect(errorOf('fc=Linear(8)')).toBe('--head: fc: Linear is missing out_features at character 12: fc=Linear(8 ⟨here⟩ )');
    expect(errorOf('Linear()')).toMatch(/0: Linear is missing in_features and out_features at character 8/);
    expect(errorOf('Linear')).toMatch(/0: Linear is missing in_features and out_features at character 7/);
    expect(errorOf('Linear(8,6,in_features=3)')).toMatch(/0: Linear got in_features twice at character 12/);
    expect(errorOf('Linear(in_features=8,6)')).toMatch(/0: positional argument after a keyword argument at character 22/);
  });

  it('rejects values of the wrong type, pointing at them', () => {
    expect(errorOf('fc=Linear(8,6.5)')).toBe('--head: fc: Linear out_features must be a positive int, not 6.5 at character 13: fc=Linear(8, ⟨here⟩ 6.5)');
    expect(errorOf('Linear(0,6)')).toMatch(/in_features must be a positive int or \? \(from the model\), not 0 at character 8/);
    expect(errorOf('Linear(8,?)')).toMatch(/out_features must be a positive int, not \?/);
    expect(errorOf('Linear(8,6,bias=1)')).toMatch(/bias must be True or False, not 1 at character 17/);
    expect(errorOf('Dropout(1.5)')).toMatch(/0: Dropout p must be between 0 and 1, not 1.5 at character 9/);
    expect(errorOf("GELU(approximate='fast')")).toMatch(/GELU approximate must be one of 'none', 'tanh', not 'fast'/);
    expect(errorOf('Softmax(dim=1.0)')).toMatch(/Softmax dim must be an int, not 1.0/);
    expect(errorOf("LeakyReLU('0.1')")).toMatch(/negative_slope must be a number, not '0.1'/);
    expect(errorOf('LayerNorm(())')).toMatch(/normalized_shape must be a feature count or a non-empty tuple of them, not \(\)/);
    expect(errorOf('LayerNorm((4, 0))')).toMatch(/normalized_shape must be a tuple of positive ints, not \(4, 0\)/);
    expect(errorOf('BatchNorm1d(4, momentum=True)')).toMatch(/momentum must be a number, not True/);
    expect(errorOf('Linear(99999999999999999999, 4)')).toMatch(/99999999999999999999 is too large at character 8/);
  });

  it('rejects duplicate names, including the position names of unnamed layers', () => {
    expect(errorOf('a=ReLU(),b=Tanh(),a=Sigmoid()')).toBe(
      "--head: duplicate layer name 'a': the layer at position 0 has it already at character 19: a=ReLU(),b=Tanh(), ⟨here⟩ a=Sigmoid()",
    );
    expect(errorOf('1=ReLU(),ReLU()')).toMatch(/duplicate layer name '1' \(unnamed layers are named by position, and this one is at 1\): the layer at position 0 has it already at character 10/);
  });

  it('starts messages with the flag it was given', () => {
    expect(() => parseHeadSpec('Linear(', '--pre')).toThrow(/^--pre: expected '\)' at character 8/);
  });
});

describe('classesHead', () => {
  it('is one Linear that takes the module place itself, in_features from the model', () => {
    expect(classesHead(5)).toEqual({ kind: 'single', layer: { kind: 'Linear', name: '', inFeatures: '?', outFeatures: 5, bias: true } });
    expect(() => classesHead(0)).toThrow(/--classes must be a positive integer/);
    expect(() => classesHead(2.5)).toThrow(ModsurgError);
  });
});

describe('formatHeadSpec', () => {
  it('writes required arguments by position and the others by keyword when not the default', () => {
    const parsed = layers("fc1=Linear(8,6,bias=False),ReLU(),Dropout(0.25),GELU('tanh'),BatchNorm1d(?, momentum=None),LayerNorm((6,)),Softmax(dim=1)");
    expect(formatHeadSpec(parsed)).toBe(
      "fc1=Linear(8, 6, bias=False),ReLU(),Dropout(p=0.25),GELU(approximate='tanh'),BatchNorm1d(?, momentum=None),LayerNorm(6),Softmax(dim=1)",
    );
    expect(formatLayer({ kind: 'LayerNorm', name: 'x', normalizedShape: [4, 6], eps: 1e-5, elementwiseAffine: true, bias: true })).toBe('LayerNorm((4, 6))');
  });
});

/** Random layers of every kind with random (valid) arguments. */
const features: fc.Arbitrary<Features> = fc.oneof(fc.constant('?' as const), fc.integer({ min: 1, max: 100_000 }));
const float = fc.double({ noNaN: true, noDefaultInfinity: true });
const layerArbitrary: fc.Arbitrary<Omit<HeadLayer, 'name'>> = fc.oneof(
  fc.record({ kind: fc.constant('Linear' as const), inFeatures: features, outFeatures: fc.integer({ min: 1, max: 100_000 }), bias: fc.boolean() }),
  fc.record({ kind: fc.constant('ReLU' as const), inplace: fc.boolean() }),
  fc.record({ kind: fc.constant('LeakyReLU' as const), negativeSlope: float, inplace: fc.boolean() }),
  fc.record({ kind: fc.constant('GELU' as const), approximate: fc.constantFrom('none' as const, 'tanh' as const) }),
  fc.record({ kind: fc.constant('SiLU' as const), inplace: fc.boolean() }),
  fc.record({ kind: fc.constantFrom('Sigmoid' as const, 'Tanh' as const, 'Identity' as const) }),
  fc.record({ kind: fc.constant('Dropout' as const), p: fc.double({ min: 0, max: 1, noNaN: true }), inplace: fc.boolean() }),
  fc.record({ kind: fc.constantFrom('Softmax' as const, 'LogSoftmax' as const), dim: fc.option(fc.integer({ min: -4, max: 4 }), { nil: null }) }),
  fc.record({ kind: fc.constant('Flatten' as const), startDim: fc.integer({ min: -4, max: 4 }), endDim: fc.integer({ min: -4, max: 4 }) }),
  fc.record({
    kind: fc.constant('BatchNorm1d' as const),
    numFeatures: features,
    eps: float,
    momentum: fc.option(float, { nil: null }),
    affine: fc.boolean(),
    trackRunningStats: fc.boolean(),
    bias: fc.boolean(),
  }),
  fc.record({ kind: fc.constant('LayerNorm' as const), normalizedShape: fc.array(features, { minLength: 1, maxLength: 3 }), eps: float, elementwiseAffine: fc.boolean(), bias: fc.boolean() }),
);
const headArbitrary: fc.Arbitrary<HeadLayer[]> = fc
  .array(fc.tuple(layerArbitrary, fc.option(fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,6}$/), { nil: undefined })), { minLength: 1, maxLength: 8 })
  .map((items) => {
    const used = new Set<string>();
    return items.map(([layer, name], index) => {
      const unique = name === undefined || used.has(name) ? String(index) : name;
      used.add(unique);
      return { ...layer, name: unique } as HeadLayer;
    });
  });

describe('spec round trip (property)', () => {
  it('parsing a printed spec gives the same layers', () => {
    fc.assert(
      fc.property(headArbitrary, (head) => {
        expect(parseHeadSpec(formatHeadSpec(head)).layers).toEqual(head);
      }),
      { numRuns: 500 },
    );
  });

  it('spaces and newlines between tokens change nothing', () => {
    fc.assert(
      fc.property(headArbitrary, fc.constantFrom(' ', '  ', '\n', '\t '), (head, space) => {
        const spaced = formatHeadSpec(head).replace(/([,=()])/g, `${space}$1${space}`);
        expect(parseHeadSpec(spaced).layers).toEqual(head);
      }),
      { numRuns: 200 },
    );
  });
});
