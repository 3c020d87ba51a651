import { ModsurgError } from '../errors.js';
import type { HostTensor } from './dtypes.js';
import { fileNameFor, isDirectory, listNpyFolder, readNpyFile, readNpzFile } from './tensor-files.js';

/**
 * `--compare`: the expected outputs. `NAME=FILE.npy` for one output, `FILE.npy` alone when the model
 * has one output, `FILE.npz` with arrays named as the outputs, or a folder of `NAME.npy` files
 * (as `run --output-dir` writes them). Archives and folders may hold other arrays too (saved inputs);
 * those are ignored, but at least one must match an output.
 */

export interface Reference {
  readonly tensor: HostTensor;
  readonly file: string;
}

export function loadReferences(specs: readonly string[], outputNames: readonly string[]): Map<string, Reference> {
  const references = new Map<string, Reference>();
  const listed = outputNames.join(', ');
  const add = (name: string, reference: Reference): void => {
    if (references.has(name)) throw new ModsurgError(`--compare: output '${name}' is given more than once`, reference.file);
    references.set(name, reference);
  };
  for (const spec of specs) {
    const equals = spec.indexOf('=');
    if (equals > 0 && !isDirectory(spec)) {
      const name = spec.slice(0, equals);
      const file = spec.slice(equals + 1);
      if (!outputNames.includes(name)) throw new ModsurgError(`--compare: the model has no output '${name}' (its outputs: ${listed})`, file);
      add(name, { tensor: readNpyFile(file), file });
    } else if (isDirectory(spec)) {
      const files = listNpyFolder(spec);
      const matched = outputNames.filter((name) => files.has(fileNameFor(name).slice(0, -4)));
      if (matched.length === 0) throw new ModsurgError(`--compare: no .npy file here is named after an output (expected one of: ${outputNames.map(fileNameFor).join(', ')})`, spec);
      for (const name of matched) {
        const file = files.get(fileNameFor(name).slice(0, -4))!;
        add(name, { tensor: readNpyFile(file), file });
      }
    } else if (/\.npz$/i.test(spec)) {
      const arrays = readNpzFile(spec);
      const matched = outputNames.filter((name) => arrays.has(name));
      if (matched.length === 0) throw new ModsurgError(`--compare: no array is named after an output (arrays: ${[...arrays.keys()].join(', ') || 'none'}; outputs: ${listed})`, spec);
      for (const name of matched) add(name, { tensor: arrays.get(name)!, file: spec });
    } else if (/\.npy$/i.test(spec)) {
      if (outputNames.length !== 1) throw new ModsurgError(`--compare: the model has ${outputNames.length} outputs (${listed}); name the one this file is for: --compare NAME=${spec}`, spec);
      add(outputNames[0]!, { tensor: readNpyFile(spec), file: spec });
    } else {
      throw new ModsurgError(`--compare ${spec}: expected NAME=FILE.npy, FILE.npy, FILE.npz or a folder of NAME.npy files`);
    }
  }
  return references;
}
