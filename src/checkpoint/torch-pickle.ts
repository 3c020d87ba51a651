import { FormatError } from '../errors.js';
import { dtypeFromStorageClass, dtypeFromTorchName, dtypeInfo, type DType } from './dtype.js';
import { unpickle, type Unpickled, type UnpickleHooks } from './pickle/unpickler.js';
import { py, type PyGlobal, type PyValue } from './pickle/value.js';
import type { Storage, StorageData, Tensor } from './tensor.js';

/** A storage as its persistent id describes it, before the container says where its bytes are. */
export interface StorageRecord {
  readonly key: string;
  /** Undefined for `UntypedStorage`, whose dtype comes with `_rebuild_tensor_v3`. */
  readonly dtype: DType | undefined;
  /** Elements of `dtype`, or bytes for an untyped storage. */
  readonly numel: number;
  readonly location: string;
}

/**
 * Torch's pickle conventions, shared by the zip and legacy readers: persistent ids name storages, and a
 * few allow-listed calls rebuild tensors, OrderedDicts, sets and bytes. Nothing else is ever called.
 */
export class TorchUnpickleHooks implements UnpickleHooks {
  readonly records = new Map<string, StorageRecord>();
  private readonly storages = new Map<string, Storage>();

  constructor(
    /** Where a storage's bytes live, once its record is known. */
    private readonly dataOf: (record: StorageRecord) => StorageData,
    /** The legacy format also pickles module classes as persistent ids. */
    private readonly allowModulePids = false,
  ) {}

  persistentLoad(pid: PyValue): PyValue {
    if (pid.kind !== 'tuple' || pid.items[0]?.kind !== 'str') throw new FormatError('unsupported persistent id in pickle');
    const [tag, type, key, location, numel] = pid.items;
    if (tag!.kind === 'str' && tag!.value === 'module' && this.allowModulePids && type?.kind === 'global') return type;
    if (tag!.kind !== 'str' || tag!.value !== 'storage') throw new FormatError(`unsupported persistent id '${(tag as { value: string }).value}'`);
    if (type?.kind !== 'global' || key?.kind !== 'str' || location?.kind !== 'str' || numel?.kind !== 'int') {
      throw new FormatError('malformed storage persistent id');
    }
    const viewMetadata = pid.items[5];
    if (viewMetadata !== undefined && viewMetadata.kind !== 'none') {
      throw new FormatError('storage views of pre-1.0 legacy checkpoints are not supported');
    }
    let dtype: DType | undefined;
    if (type.name !== 'UntypedStorage') {
      dtype = dtypeFromStorageClass(type.name);
      if (dtype === undefined) throw new FormatError(`unsupported storage type ${type.module}.${type.name}`);
    }
    const record: StorageRecord = { key: key.value, dtype, numel: Number(numel.value), location: location.value };
    const known = this.records.get(record.key) ?? record;
    this.records.set(known.key, known);
    // an untyped storage is bytes until `_rebuild_tensor_v3` names its dtype
    return { kind: 'storage', storage: this.storage(known, known.dtype ?? 'uint8') };
  }

  reduce(fn: PyGlobal, args: PyValue[]): PyValue | undefined {
    const name = `${fn.module}.${fn.name}`;
    switch (name) {
      case 'collections.OrderedDict': {
        const dict = py.dict([], true);
        const items = args[0];
        if (items?.kind === 'list' || items?.kind === 'tuple') {
          for (const pair of items.items) if (pair.kind === 'tuple' && pair.items.length === 2) dict.entries.push([pair.items[0]!, pair.items[1]!]);
        }
        return dict;
      }
      case 'builtins.set':
      case '__builtin__.set':
      case 'builtins.frozenset':
      case '__builtin__.frozenset': {
        const items = args[0];
        return { kind: 'set', items: items?.kind === 'list' || items?.kind === 'tuple' ? [...items.items] : [], frozen: fn.name === 'frozenset' };
      }
      case '_codecs.encode': {
        const [text, encoding] = args;
        if (text?.kind !== 'str') return undefined;
        const enc = encoding?.kind === 'str' ? encoding.value : 'utf-8';
        return { kind: 'bytes', value: Uint8Array.from(Buffer.from(text.value, enc === 'latin1' || enc === 'latin-1' ? 'latin1' : 'utf8')) };
      }
      case 'torch._utils._rebuild_tensor':
      case 'torch._utils._rebuild_tensor_v2':
        return this.tensor(args, undefined);
      case 'torch._utils._rebuild_tensor_v3': {
        const dtype = args[6];
        const known = dtype?.kind === 'global' ? dtypeFromTorchName(dtype.name) : undefined;
        if (known === undefined) throw new FormatError(`unsupported tensor dtype ${dtype?.kind === 'global' ? `${dtype.module}.${dtype.name}` : '(missing)'}`);
        return this.tensor(args, known);
      }
      case 'torch._utils._rebuild_parameter':
      case 'torch._utils._rebuild_parameter_with_state': {
        const [data, requiresGrad] = args;
        if (data?.kind !== 'tensor') return undefined;
        const tensor: Tensor = { ...data.tensor, parameter: true, requiresGrad: requiresGrad?.kind === 'bool' ? requiresGrad.value : true };
        return { kind: 'tensor', tensor };
      }
      default:
        return undefined;
    }
  }

  private tensor(args: PyValue[], v3Dtype: DType | undefined): PyValue {
    const [storageRef, offset, size, stride, requiresGrad] = args;
    if (storageRef?.kind !== 'storage') throw new FormatError('tensor rebuild without a storage');
    const record = this.records.get(storageRef.storage.key)!;
    const dtype = v3Dtype ?? storageRef.storage.dtype;
    const ints = (value: PyValue | undefined, what: string): number[] => {
      if (value?.kind !== 'tuple' && value?.kind !== 'list') throw new FormatError(`tensor ${what} is not a tuple`);
      return value.items.map((item) => {
        if (item.kind !== 'int') throw new FormatError(`tensor ${what} holds a non-integer`);
        return Number(item.value);
      });
    };
    if (offset?.kind !== 'int') throw new FormatError('tensor storage offset is not an integer');
    const storage = this.storage(record, dtype);
    const shape = ints(size, 'size');
    const strides = ints(stride, 'stride');
    checkView(shape, strides, Number(offset.value), storage);
    const tensor: Tensor = {
      dtype,
      shape,
      stride: strides,
      storageOffset: Number(offset.value),
      storage,
      requiresGrad: requiresGrad?.kind === 'bool' ? requiresGrad.value : false,
      parameter: false,
    };
    return { kind: 'tensor', tensor };
  }

  /** One Storage object per record (and dtype), so views of one storage share it by identity. */
  private storage(record: StorageRecord, dtype: DType): Storage {
    const id = `${record.key}\0${dtype}`;
    let storage = this.storages.get(id);
    if (!storage) {
      const numel = record.dtype === undefined ? Math.floor(record.numel / dtypeInfo(dtype).size) : record.numel;
      storage = { key: record.key, dtype, numel, location: record.location, data: this.dataOf(record) };
      this.storages.set(id, storage);
    }
    return storage;
  }
}

/**
 * Refuses a view that reaches outside its storage, as torch's `set_` does when it loads one: each copy
 * reads exactly the elements it names, so a view past the end would take another record's bytes (or
 * none) into the tensor. Sizes, strides and offset must be non-negative safe integers; an expanded view
 * (stride 0) is fine, and so is an empty one anywhere.
 */
function checkView(shape: readonly number[], stride: readonly number[], offset: number, storage: Storage): void {
  const where = `tensor of shape [${shape.join(', ')}] on storage ${storage.key}`;
  if (shape.length !== stride.length) throw new FormatError(`${where}: ${stride.length} strides for ${shape.length} dimensions`);
  const bad = (n: number): boolean => !Number.isSafeInteger(n) || n < 0;
  if (bad(offset) || shape.some(bad) || stride.some(bad)) throw new FormatError(`${where}: a negative or non-integer size, stride or offset`);
  if (shape.some((dim) => dim === 0)) return;
  const last = shape.reduce((at, dim, i) => at + (dim - 1) * stride[i]!, offset);
  if (!Number.isSafeInteger(last) || last >= storage.numel) {
    throw new FormatError(`${where}: the view (offset ${offset}, strides [${stride.join(', ')}]) reaches element ${last}, past the storage's ${storage.numel}`);
  }
}

/** Bytes a storage record must have: torch checks the record size against the persistent id's numel. */
export function recordBytes(record: StorageRecord): number {
  return record.dtype === undefined ? record.numel : record.numel * dtypeInfo(record.dtype).size;
}

/**
 * A zip checkpoint's data.pkl, which must be one pickle: torch.save never writes bytes after its STOP, so
 * bytes there are a hidden second pickle (one `scan` reports), refused rather than silently skipped.
 */
export function unpickleDataPkl(bytes: Uint8Array, hooks: UnpickleHooks): Unpickled {
  const result = unpickle(bytes, hooks);
  if (result.end !== bytes.length) {
    throw new FormatError(`data.pkl holds ${bytes.length - result.end} bytes after its pickle's STOP (a hidden second pickle?); torch.save writes none`);
  }
  return result;
}
