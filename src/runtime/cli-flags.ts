import * as Flags from '@oclif/core/flags';
import { ModsurgError } from '../errors.js';
import { DEFAULT_TOLERANCE, type Tolerance } from './compare.js';
import { parseDims, parseInputSpec, parseRanges, parseShapes, type InputOptions, type InputSpec } from './inputs.js';

/** The flags `run` and `verify` share, and turning their values into runtime options. */

const nonNegativeFloat = Flags.custom<number>({
  parse: async (input: string) => {
    const value = Number(input);
    if (input.trim() === '' || !Number.isFinite(value) || value < 0) throw new ModsurgError(`expected a number >= 0, got '${input}'`);
    return value;
  },
});

export const inputFlags = {
  input: Flags.string({
    char: 'i',
    multiple: true,
    multipleNonGreedy: true,
    description: 'an input: NAME=FILE.npy, NAME=FILE.json (nested arrays), NAME=random|zeros|ones, or FILE.npz (one array per input); inputs not given are random',
    helpValue: 'NAME=FILE',
  }),
  dim: Flags.string({ multiple: true, multipleNonGreedy: true, description: 'size of a symbolic dimension for made-up inputs (default 1)', helpValue: 'NAME=SIZE' }),
  shape: Flags.string({ multiple: true, multipleNonGreedy: true, description: 'the whole shape of a made-up input, dims without a name included (default: 1 for each)', helpValue: 'NAME=D0,D1,…' }),
  range: Flags.string({
    multiple: true,
    multipleNonGreedy: true,
    description: 'value range [LOW, HIGH) of random inputs, for one input or all; integer inputs draw whole numbers (default: floats -1:1, integers 0:10)',
    helpValue: '[NAME=]LOW:HIGH',
  }),
  seed: Flags.integer({ default: 0, description: 'seed of the random inputs' }),
  strict: Flags.boolean({ description: 'every input must be given (no random fill)' }),
};

export const providerFlags = {
  'device-id': Flags.integer({ default: 0, min: 0, description: 'GPU to use (CUDA device id)' }),
};

export const toleranceFlags = {
  atol: nonNegativeFloat({ default: DEFAULT_TOLERANCE.atol, description: 'absolute tolerance' }),
  rtol: nonNegativeFloat({ default: DEFAULT_TOLERANCE.rtol, description: 'relative tolerance: an element passes when |a-b| <= atol + rtol*|b| (numpy.allclose)' }),
};

export interface InputFlagValues {
  input?: string[] | undefined;
  dim?: string[] | undefined;
  shape?: string[] | undefined;
  range?: string[] | undefined;
  seed: number;
  strict: boolean;
}

export function inputSettings(flags: InputFlagValues): { specs: InputSpec[]; options: InputOptions } {
  return {
    specs: (flags.input ?? []).map(parseInputSpec),
    options: { seed: flags.seed, dims: parseDims(flags.dim ?? []), shapes: parseShapes(flags.shape ?? []), ranges: parseRanges(flags.range ?? []), strict: flags.strict },
  };
}

export function toleranceOf(flags: { atol: number; rtol: number }): Tolerance {
  return { atol: flags.atol, rtol: flags.rtol };
}

/** The files `--input` and `--compare` name (NAME=FILE or FILE; made-up inputs such as NAME=random name none). */
export function filesNamedBy(specs: readonly string[] | undefined): string[] {
  return (specs ?? []).flatMap((spec) => {
    const value = spec.includes('=') ? spec.slice(spec.indexOf('=') + 1) : spec;
    return ['random', 'zeros', 'ones'].includes(value) ? [] : [value];
  });
}
