import { escapeName } from '../errors.js';
import { DROP, mapValues, pathOf, qualifiedName, walkValues, type PyValue } from './pickle/value.js';
import { isWritableGlobal } from './safe-globals.js';

/** A value `--drop-unsafe` left out: where it was, and the global that made it unsafe. */
export interface DroppedValue {
  readonly path: string;
  readonly global: string;
}

/**
 * The checkpoint without what torch.load(weights_only=True) would refuse to rebuild: globals outside
 * its allowlist and objects made by calling one (or holding one in their arguments or state), each
 * taken out of its dict or list. What is left is plain data every writer can write; what was dropped
 * is listed by path. Run after `toPlainData`, which has already turned whole-model modules into their
 * state dicts.
 */
export function dropUnsafe(root: PyValue): { root: PyValue; dropped: DroppedValue[] } {
  const unsafe = new Map<PyValue, string>();
  const dropped: DroppedValue[] = [];
  walkValues(root, (place) => {
    const global = unsafeGlobalIn(place.value);
    if (global === undefined) return true;
    unsafe.set(place.value, global);
    dropped.push({ path: pathOf(place).join('.') || '(the top level)', global: escapeName(global) });
    return false;
  });
  if (unsafe.size === 0) return { root, dropped };
  return { root: mapValues(root, (value) => (unsafe.has(value) ? DROP : undefined)), dropped };
}

/**
 * The first global a value would make the writer name that torch's allowlist lacks, looking inside
 * objects (their callable, arguments, state and items) but not inside dicts, lists and tuples, which
 * the walk visits itself.
 */
function unsafeGlobalIn(value: PyValue): string | undefined {
  if (value.kind === 'global') return isWritableGlobal(value.module, value.name) ? undefined : qualifiedName(value);
  if (value.kind !== 'object') return undefined;
  const seen = new Set<PyValue>();
  const stack: PyValue[] = [value];
  while (stack.length > 0) {
    const next = stack.pop()!;
    if (seen.has(next)) continue;
    seen.add(next);
    switch (next.kind) {
      case 'global':
        if (!isWritableGlobal(next.module, next.name)) return qualifiedName(next);
        break;
      case 'object':
        if (next.callable.kind !== 'global') return 'a call of a computed value';
        stack.push(next.callable);
        if (next.state) stack.push(next.state);
        // pushed one at a time: a spread of 500,000 items passes the engine's argument limit
        for (const arg of next.args) stack.push(arg);
        for (const item of next.listItems ?? []) stack.push(item);
        for (const [k, v] of next.dictItems ?? []) stack.push(k, v);
        break;
      case 'dict':
        for (const [k, v] of next.entries) stack.push(k, v);
        break;
      case 'list':
      case 'tuple':
      case 'set':
        for (const item of next.items) stack.push(item);
        break;
      default:
        break;
    }
  }
  return undefined;
}
