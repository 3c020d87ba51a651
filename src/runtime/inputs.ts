import { FormatError, ModsurgError, withFile } from '../errors.js';
import { readTextInput } from '../io/files.js';
import { SeededRandom } from '../io/random.js';
import { halfToNumber } from '../checkpoint/numeric.js';
import { describeTensor, makeTensor, type HostTensor } from './dtypes.js';
import { tensorFromJson } from './json-tensor.js';
import type { DeclaredTensor, Dim } from './signature.js';
import { readNpyFile, readNpzFile } from './tensor-files.js';
import { defaultRange, filledTensor, rangeProblem, type FillKind, type ValueRange } from './values.js';

/**
 * `--input`, `--dim` and `--range`: parsing them, then turning them and the model's declared inputs
 * into feeds. Every problem is found here, before the model runs, and names the input, what the
 * model declares and what was given.
 */

export type InputSpec =
  /** `NAME=FILE.npy`, `NAME=FILE.json`, or a bare `FILE.npy` for a model with one input. */
  | { readonly kind: 'file'; readonly name: string | undefined; readonly path: string; readonly format: 'npy' | 'json' }
  /** `FILE.npz`: one array per input, named as the inputs. */
  | { readonly kind: 'archive'; readonly path: string }
  /** `NAME=random|zeros|ones`: made from the declared dtype and shape. */
  | { readonly kind: 'fill'; readonly name: string; readonly fill: FillKind };

const FILLS: readonly FillKind[] = ['random', 'zeros', 'ones'];

export function parseInputSpec(text: string): InputSpec {
  const equals = text.indexOf('=');
  if (equals < 0) {
    if (/\.npz$/i.test(text)) return { kind: 'archive', path: text };
    if (/\.npy$/i.test(text)) return { kind: 'file', name: undefined, path: text, format: 'npy' };
    throw new ModsurgError(`--input ${text}: expected NAME=FILE.npy, NAME=FILE.json, NAME=random|zeros|ones or FILE.npz`);
  }
  const name = text.slice(0, equals);
  const value = text.slice(equals + 1);
  if (name === '') throw new ModsurgError(`--input ${text}: no input name before '='`);
  if ((FILLS as readonly string[]).includes(value)) return { kind: 'fill', name, fill: value as FillKind };
  if (/\.npy$/i.test(value)) return { kind: 'file', name, path: value, format: 'npy' };
  if (/\.json$/i.test(value)) return { kind: 'file', name, path: value, format: 'json' };
  if (/\.npz$/i.test(value)) throw new ModsurgError(`--input ${text}: an .npz holds several arrays; give it alone: --input ${value}`);
  throw new ModsurgError(`--input ${text}: '${value}' is not random, zeros, ones, a .npy or a .json file`);
}

/** `--dim batch=4`. */
export function parseDims(texts: readonly string[]): Map<string, number> {
  const dims = new Map<string, number>();
  for (const text of texts) {
    const match = /^([^=]+)=(\d+)$/.exec(text.trim());
    if (!match) throw new ModsurgError(`--dim ${text}: expected NAME=SIZE, e.g. --dim batch=4`);
    dims.set(match[1]!, Number(match[2]));
  }
  return dims;
}

/** `--shape input=1,512`: a whole shape for a made-up input, unnamed dims included. */
export function parseShapes(texts: readonly string[]): Map<string, number[]> {
  const shapes = new Map<string, number[]>();
  for (const text of texts) {
    const match = /^([^=]+)=(\d+(?:,\d+)*)?$/.exec(text.trim().replace(/\s+/g, ''));
    if (!match) throw new ModsurgError(`--shape ${text}: expected NAME=D0,D1,…, e.g. --shape input=1,512`);
    if (shapes.has(match[1]!)) throw new ModsurgError(`--shape ${match[1]}: given twice`);
    shapes.set(match[1]!, match[2] === undefined ? [] : match[2].split(',').map(Number));
  }
  return shapes;
}

/** `--range NAME=LOW:HIGH` for one input, or `--range LOW:HIGH` for every input. */
export interface RangeSpecs {
  readonly all: ValueRange | undefined;
  readonly byName: ReadonlyMap<string, ValueRange>;
}

export function parseRanges(texts: readonly string[]): RangeSpecs {
  let all: ValueRange | undefined;
  const byName = new Map<string, ValueRange>();
  const number = '([-+]?(?:\\d+\\.?\\d*|\\.\\d+)(?:[eE][-+]?\\d+)?)';
  const pattern = new RegExp(`^(?:(.+)=)?${number}:${number}$`);
  for (const text of texts) {
    const match = pattern.exec(text.trim());
    if (!match) throw new ModsurgError(`--range ${text}: expected NAME=LOW:HIGH or LOW:HIGH, e.g. --range input_ids=0:30522`);
    const range = { low: Number(match[2]), high: Number(match[3]) };
    if (match[1] === undefined) all = range;
    else byName.set(match[1], range);
  }
  return { all, byName };
}

export interface InputOptions {
  readonly seed: number;
  readonly dims: ReadonlyMap<string, number>;
  /** Whole shapes of made-up inputs (`--shape`). */
  readonly shapes: ReadonlyMap<string, readonly number[]>;
  readonly ranges: RangeSpecs;
  /** Every input must be given: no random fill for the rest. */
  readonly strict: boolean;
  /** Names given that belong to another model being compared (`verify A B`): not an error here. */
  readonly otherModelInputs?: ReadonlySet<string>;
}

export interface ResolvedInput {
  readonly name: string;
  readonly tensor: HostTensor;
  /** Where the values came from: a file, or how they were made. */
  readonly source: string;
  /** The model declares this type (bfloat16, float8…): fed as float32, rounded to it by a Cast in the model's copy. */
  readonly castFrom?: string;
}

export interface ResolvedInputs {
  readonly inputs: readonly ResolvedInput[];
  /** The size each symbolic dimension took. */
  readonly dims: ReadonlyMap<string, number>;
  /** Symbolic dimensions that took the default size 1 because nothing set them. */
  readonly defaultedDims: readonly string[];
  /** Made-up inputs whose dims without a name took size 1 (only --shape sets those). */
  readonly unnamedDefaulted: readonly string[];
}

interface GivenInput {
  readonly name: string;
  /** The file it came from (for messages). */
  readonly file: string;
  readonly load: (declared: DeclaredTensor) => HostTensor;
}

/** Builds the feeds for `declared` from the specs: files, archives and fills, the rest random. */
export function resolveInputs(declared: readonly DeclaredTensor[], specs: readonly InputSpec[], options: InputOptions, modelPath: string): ResolvedInputs {
  const byName = new Map(declared.map((d) => [d.name, d]));
  const listed = declared.map((d) => d.name).join(', ') || '(none)';
  const given = new Map<string, GivenInput>();
  const fills = new Map<string, FillKind>();
  const claim = (name: string, file: string | undefined): boolean => {
    if (!byName.has(name)) {
      if (options.otherModelInputs?.has(name)) return false;
      throw new ModsurgError(`the model has no input '${name}' (its inputs: ${listed})`, file ?? modelPath);
    }
    if (given.has(name) || fills.has(name)) throw new ModsurgError(`input '${name}' is given more than once`, file ?? modelPath);
    return true;
  };

  for (const spec of specs) {
    if (spec.kind === 'fill') {
      if (claim(spec.name, undefined)) fills.set(spec.name, spec.fill);
    } else if (spec.kind === 'archive') {
      for (const [name, tensor] of readNpzFile(spec.path)) {
        if (claim(name, spec.path)) given.set(name, { name, file: spec.path, load: () => tensor });
      }
    } else {
      let name = spec.name;
      if (name === undefined) {
        if (declared.length !== 1) throw new ModsurgError(`the model has ${declared.length} inputs (${listed}); name the one this file is for: --input NAME=${spec.path}`, spec.path);
        name = declared[0]!.name;
      }
      if (!claim(name, spec.path)) continue;
      const path = spec.path;
      given.set(name, {
        name,
        file: path,
        load: (d) => (spec.format === 'npy' ? readNpyFile(path) : loadJson(path, d)),
      });
    }
  }

  for (const name of [...options.ranges.byName.keys()]) {
    if (!byName.has(name) && !options.otherModelInputs?.has(name)) throw new ModsurgError(`--range ${name}=…: the model has no input '${name}' (its inputs: ${listed})`, modelPath);
  }
  for (const name of options.shapes.keys()) {
    if (!byName.has(name) && !options.otherModelInputs?.has(name)) throw new ModsurgError(`--shape ${name}=…: the model has no input '${name}' (its inputs: ${listed})`, modelPath);
    if (given.has(name)) throw new ModsurgError(`--shape ${name}=…: input '${name}' is given as a file, which has its own shape`, given.get(name)!.file);
  }

  // Files first: their shapes settle the symbolic dimensions that random inputs then take.
  const dims = new Map(options.dims);
  const boundBy = new Map<string, string>([...options.dims.keys()].map((name) => [name, `--dim ${name}=${options.dims.get(name)}`]));
  const loaded = new Map<string, HostTensor>();
  for (const input of declared) {
    const source = given.get(input.name);
    if (!source) continue;
    const tensor = input.castFrom !== undefined ? asFloat32(source.load(input)) : source.load(input);
    checkGiven(input, tensor, source.file, dims, boundBy);
    loaded.set(input.name, tensor);
  }

  // whole shapes next: they settle symbolic dimensions too, as files do
  const shaped = new Map<string, number[]>();
  for (const input of declared) {
    const shape = options.shapes.get(input.name);
    if (shape === undefined) continue;
    checkShape(input, shape, `--shape ${input.name}=${shape.join(',')}`, modelPath, dims, boundBy);
    shaped.set(input.name, [...shape]);
  }

  const defaulted = new Set<string>();
  const unnamedDefaulted: string[] = [];
  const inputs: ResolvedInput[] = [];
  for (const input of declared) {
    const loadedTensor = loaded.get(input.name);
    if (loadedTensor) {
      inputs.push({ name: input.name, tensor: loadedTensor, source: given.get(input.name)!.file, ...castMark(input) });
      continue;
    }
    const fill = fills.get(input.name) ?? 'random';
    if (!fills.has(input.name) && options.strict) {
      throw new ModsurgError(`input '${input.name}' (${describeDeclared(input)}) is not given, and --strict allows no random fill`, modelPath);
    }
    const dtype = input.dtype;
    if (dtype === 'string') {
      throw new ModsurgError(`input '${input.name}' holds strings, which cannot be made up; give them as a file: --input ${input.name}=FILE.npy (unicode or bytes) or FILE.json`, modelPath);
    }
    if (input.shape === undefined && !shaped.has(input.name)) {
      throw new ModsurgError(`input '${input.name}' declares no shape, so it cannot be made up; give it as a file (--input ${input.name}=FILE.npy) or its shape (--shape ${input.name}=…)`, modelPath);
    }
    const shape =
      shaped.get(input.name) ??
      input.shape!.map((dim) => {
        if (typeof dim === 'number') return dim;
        const size = dims.get(dim);
        if (size !== undefined) return size;
        if (dim !== '') {
          dims.set(dim, 1);
          defaulted.add(dim);
        } else if (!unnamedDefaulted.includes(input.name)) unnamedDefaulted.push(input.name);
        return 1;
      });
    const range = options.ranges.byName.get(input.name) ?? options.ranges.all ?? defaultRange(dtype);
    const problem = fill === 'random' ? rangeProblem(dtype, range) : undefined;
    if (problem) throw new ModsurgError(`--range for input '${input.name}' (${dtype}): ${problem}`, modelPath);
    const rng = SeededRandom.forStream(options.seed, input.name);
    const tensor = filledTensor(dtype, shape, fill, rng, range);
    const source = fill === 'random' ? `random [${range.low}, ${range.high}) seed ${options.seed}` : fill;
    inputs.push({ name: input.name, tensor, source, ...castMark(input) });
  }
  return { inputs, dims, defaultedDims: [...defaulted], unnamedDefaulted };
}

function loadJson(path: string, declared: DeclaredTensor): HostTensor {
  try {
    return tensorFromJson(readTextInput(path), declared.dtype);
  } catch (error) {
    if (error instanceof FormatError) throw new ModsurgError(`input '${declared.name}': ${error.message}`, path);
    throw withFile(error, path);
  }
}

function castMark(input: DeclaredTensor): { castFrom?: string } {
  return input.castFrom !== undefined ? { castFrom: input.castFrom } : {};
}

/**
 * NumPy has no bfloat16 or float8 (without ml_dtypes), so such an input is given as float32; float16 and
 * float64 data are taken too, converted to float32 here. The model's Cast then rounds to its type.
 */
function asFloat32(tensor: HostTensor): HostTensor {
  if (tensor.dtype === 'float64') return makeTensor('float32', tensor.shape, Float32Array.from(tensor.data));
  if (tensor.dtype === 'float16') return makeTensor('float32', tensor.shape, Float32Array.from(tensor.data, halfToNumber));
  return tensor;
}

/** How a dtype reads in reports: `bfloat16 (as float32)` where the model's bfloat16 is fed or fetched as float32. */
export function dtypeLabel(dtype: string, castFrom: string | undefined): string {
  return castFrom !== undefined ? `${castFrom} (as ${dtype})` : dtype;
}

/** `float32 [batch,3,16,16]`; `bfloat16 (as float32) [1,4]` */
export function describeDeclared(input: DeclaredTensor): string {
  const dtype = dtypeLabel(input.dtype, input.castFrom);
  return input.shape === undefined ? `${dtype} (any shape)` : describeTensor(dtype, input.shape.map((d) => (d === '' ? '?' : d)));
}

/** A given tensor must have the declared dtype and rank, the fixed sizes, and one size per symbolic name. */
function checkGiven(input: DeclaredTensor, tensor: HostTensor, file: string, dims: Map<string, number>, boundBy: Map<string, string>): void {
  if (tensor.dtype !== input.dtype) {
    const why = input.castFrom !== undefined ? `wrong dtype: give ${input.castFrom} inputs as float32, float16 or float64` : 'wrong dtype';
    throw new ModsurgError(`input '${input.name}': expected ${describeDeclared(input)}, given ${describeTensor(tensor.dtype, tensor.shape)} (${why})`, file);
  }
  checkShape(input, tensor.shape, describeTensor(tensor.dtype, tensor.shape), file, dims, boundBy);
}

/** A shape must have the declared rank, the fixed sizes, and one size per symbolic name (which it binds). */
function checkShape(input: DeclaredTensor, shape: readonly number[], what: string, file: string, dims: Map<string, number>, boundBy: Map<string, string>): void {
  const mismatch = (why: string): ModsurgError => new ModsurgError(`input '${input.name}': expected ${describeDeclared(input)}, given ${what} (${why})`, file);
  if (input.shape === undefined) return;
  if (shape.length !== input.shape.length) throw mismatch(`rank ${shape.length}, the model wants ${input.shape.length}`);
  input.shape.forEach((dim: Dim, axis) => {
    const size = shape[axis]!;
    if (typeof dim === 'number') {
      if (size !== dim) throw mismatch(`dimension ${axis} is ${size}, the model fixes it at ${dim}`);
      return;
    }
    if (dim === '') return;
    const bound = dims.get(dim);
    if (bound !== undefined && bound !== size) throw mismatch(`dimension ${axis} '${dim}' is ${size}, but ${boundBy.get(dim)} made it ${bound}`);
    dims.set(dim, size);
    if (!boundBy.has(dim)) boundBy.set(dim, `input '${input.name}'`);
  });
}

/** Keeps only the tensors, by name, for a session's run. */
export function feedsOf(resolved: ResolvedInputs): Map<string, HostTensor> {
  return new Map(resolved.inputs.map((input) => [input.name, input.tensor]));
}
