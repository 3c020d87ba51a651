import type { HeadReplacement } from './checkpoint-head.js';
import type { ParameterSource } from './source.js';
import { printHead } from './torch-repr.js';

/** What replace-head tells the user about one state dict, as text lines. */
export function describeReplacement(path: string, replacement: HeadReplacement): string[] {
  const where = path === '' ? 'state dict' : path;
  const reasons: Record<HeadReplacement['chosen'], string> = {
    given: '',
    'known-name': ' (the classifier, by its name; pick another with --at)',
    unconsumed: ' (the one Linear whose outputs no other layer reads; pick another with --at)',
    'last-registered': ' (the last Linear-looking module registered; pick another with --at)',
  };
  const how = reasons[replacement.chosen];
  const [first, ...rest] = printHead(replacement.head).split('\n');
  const shapes = new Map(replacement.parameters.map((p) => [p.name, p]));
  const added = replacement.added.map((key) => {
    const parameter = shapes.get(key.slice(replacement.at.length + 1));
    return parameter ? `${key} [${parameter.shape.join(', ')}] ${parameter.dtype}` : key;
  });
  return [
    `${where}: replaced ${replacement.at}${how}`,
    `  was: ${replacement.replaced}`,
    `  now: ${first}`,
    ...rest.map((line) => `       ${line}`),
    `  removed ${replacement.removed.length} key${replacement.removed.length === 1 ? '' : 's'}: ${replacement.removed.join(', ')}`,
    `  added ${replacement.added.length} key${replacement.added.length === 1 ? '' : 's'}: ${added.join(', ') || '(the head has no parameters)'}`,
  ];
}

/** Where the values came from, with what repeats the run. */
export function describeSource(source: ParameterSource): string {
  return source.kind === 'weights'
    ? `new parameters from ${source.file}`
    : `new parameters: PyTorch's default initialisation, seed ${source.seed} (repeat with --seed ${source.seed})`;
}

/** The JSON report's entry for one state dict. */
export function replacementJson(path: string, replacement: HeadReplacement): Record<string, unknown> {
  return {
    path,
    at: replacement.at,
    chosen: replacement.chosen,
    replaced: replacement.replaced,
    inFeatures: replacement.head.inFeatures,
    outFeatures: replacement.head.outFeatures,
    head: printHead(replacement.head),
    removed: replacement.removed,
    added: replacement.parameters.map((p) => ({ key: `${replacement.at}.${p.name}`, dtype: p.dtype, shape: p.shape })),
  };
}
