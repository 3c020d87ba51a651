import type { Tensor } from '../checkpoint/tensor.js';

/**
 * The tensors of a `--weights` file by name relative to the head. The file may name them relative to
 * the head (`fc1.weight`; `weight`, `bias` for a single Linear) or under the module path the head goes
 * to (`fc.fc1.weight`), or a tail of that path (`fc.fc1.weight` when the head goes to `module.fc`):
 * the reading whose names fit the head's parameters best wins, and headParameters reports any that
 * still do not fit.
 */
export function weightsRelativeTo(tensors: readonly (readonly [string, Tensor])[], at: string, expected: readonly string[]): Map<string, Tensor> {
  const wanted = new Set(expected);
  let best: { names: Map<string, Tensor>; fits: number } | undefined;
  for (const prefix of prefixesOf(at)) {
    if (!tensors.every(([name]) => name.startsWith(prefix))) continue;
    const names = new Map(tensors.map(([name, tensor]) => [name.slice(prefix.length), tensor] as const));
    const fits = [...names.keys()].filter((name) => wanted.has(name)).length;
    if (fits === wanted.size && names.size === wanted.size) return names;
    if (best === undefined || fits > best.fits) best = { names, fits };
  }
  return best!.names;
}

/** `''`, then `module.fc.`, `fc.` for `module.fc`. */
function prefixesOf(at: string): string[] {
  const parts = at === '' ? [] : at.split('.');
  return ['', ...parts.map((_, i) => `${parts.slice(i).join('.')}.`)];
}
