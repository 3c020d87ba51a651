import { FormatError } from '../errors.js';
import type { HostTensor, HostDtype } from './dtypes.js';
import { fromNumbers } from './values.js';

/**
 * A tensor written as JSON nested arrays (`[[1, 2], [3, 4]]`, `[["a", "b"]]`). JSON carries no dtype, so
 * the model's declared dtype is used; the shape is the nesting, which must be rectangular.
 */
export function tensorFromJson(text: string, dtype: HostDtype): HostTensor {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new FormatError(`not valid JSON: ${(error as Error).message}`);
  }
  const shape: number[] = [];
  for (let level: unknown = value; Array.isArray(level); level = level[0]) shape.push(level.length);
  const values: number[] = [];
  const strings: string[] = [];
  const walk = (node: unknown, depth: number, path: string): void => {
    if (depth === shape.length) {
      if (dtype !== 'string') values.push(scalar(node, path));
      else if (typeof node === 'string') strings.push(node);
      else throw new FormatError(`${path || 'the value'} is ${JSON.stringify(node)}, not a string`);
      return;
    }
    if (!Array.isArray(node) || node.length !== shape[depth]) {
      throw new FormatError(`ragged nested array: ${path || 'the top level'} should be a list of ${shape[depth]} (the shape from the first elements is [${shape.join(',')}])`);
    }
    node.forEach((child, i) => walk(child, depth + 1, `${path}[${i}]`));
  };
  walk(value, 0, '');
  if (dtype === 'string') return { dtype, shape, data: strings };
  try {
    return fromNumbers(dtype, shape, values, (i) => `element ${i}`);
  } catch (error) {
    if (error instanceof RangeError) throw new FormatError(error.message);
    throw error;
  }
}

function scalar(node: unknown, path: string): number {
  if (typeof node === 'number') return node;
  if (typeof node === 'boolean') return node ? 1 : 0;
  // JSON has no NaN or Infinity literals; accept NumPy's spellings as strings.
  if (typeof node === 'string' && /^[-+]?(nan|inf|infinity)$/i.test(node)) {
    if (/nan/i.test(node)) return NaN;
    return node.startsWith('-') ? -Infinity : Infinity;
  }
  throw new FormatError(`${path || 'the value'} is ${JSON.stringify(node)}, not a number`);
}
