import { chunksOf } from '../io/byte-source.js';
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
      return [storage.data.compute()];
  }
}
