import { chunksOf } from '../io/byte-source.js';
import type { PyValue } from './pickle/value.js';
import type { Storage } from './tensor.js';

/**
 * Numbers storages in the order a pickler meets them (`0`, `1`, …), once each: views of one storage
 * keep sharing it in the written file.
 */
export class StorageKeys {
  private readonly keys = new Map<Storage, string>();

  keyOf(storage: Storage): string {
    let key = this.keys.get(storage);
    if (key === undefined) {
      key = String(this.keys.size);
      this.keys.set(storage, key);
    }
    return key;
  }

  entries(): [string, Storage][] {
    return [...this.keys].map(([storage, key]) => [key, storage]);
  }
}

/** A storage's bytes in pieces, read from the input only as they are written. */
export function storageChunks(storage: Storage): Iterable<Uint8Array> {
  switch (storage.data.kind) {
    case 'range':
      return chunksOf(storage.data.range);
    case 'bytes':
      return [storage.data.bytes];
    case 'computed':
      return storage.data.chunks();
  }
}

/** Every storage an object refers to, once each, in the order a pickler meets them. */
export function storagesOf(root: PyValue): Storage[] {
  const found = new Set<Storage>();
  const seen = new Set<PyValue>();
  // everything a value holds, objects' arguments and state included; a stack, not recursion
  const stack: PyValue[] = [root];
  while (stack.length > 0) {
    const value = stack.pop()!;
    if (seen.has(value)) continue;
    seen.add(value);
    switch (value.kind) {
      case 'tensor':
        found.add(value.tensor.storage);
        break;
      case 'storage':
        found.add(value.storage);
        break;
      case 'tuple':
      case 'list':
      case 'set':
        for (let i = value.items.length - 1; i >= 0; i--) stack.push(value.items[i]!);
        break;
      case 'dict':
        for (const [, v] of [...(value.attributes ?? [])].reverse()) stack.push(v);
        for (const [k, v] of [...value.entries].reverse()) stack.push(v, k);
        break;
      case 'object':
        for (const [k, v] of [...(value.dictItems ?? [])].reverse()) stack.push(v, k);
        for (const item of [...(value.listItems ?? [])].reverse()) stack.push(item);
        if (value.state !== undefined) stack.push(value.state);
        for (let i = value.args.length - 1; i >= 0; i--) stack.push(value.args[i]!);
        stack.push(value.callable);
        break;
      default:
        break;
    }
  }
  return [...found];
}

/**
 * Reads every storage whole, which checks each against its CRC where the file records one (a torch
 * zip's members): what `inspect --verify` does, as reading would not otherwise touch the tensor data.
 */
export function verifyStorages(root: PyValue, onProgress?: (bytes: number) => void): number {
  let done = 0;
  for (const storage of storagesOf(root)) {
    for (const chunk of storageChunks(storage)) onProgress?.((done += chunk.length));
  }
  return done;
}
