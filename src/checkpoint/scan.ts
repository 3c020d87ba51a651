import { crc32 } from 'node:zlib';
import { escapeName, FormatError } from '../errors.js';
import { readRange, type ByteSource } from '../io/byte-source.js';
import { ZipReader, type ZipEntry } from '../io/zip.js';
import { unpickle, type OpcodeEvent } from './pickle/unpickler.js';
import { None, type PyValue } from './pickle/value.js';
import { isSafeGlobal } from './safe-globals.js';
import { sniff } from './sniff.js';

/**
 * A checkpoint scanned for code, without running any: every pickle torch or another reader could
 * unpickle (each `.pkl` member of a zip, referenced or not, duplicate and case-colliding names included;
 * every pickle of a legacy file; pickles after the first in a raw file; a `.npy` of objects), and in each
 * every opcode that imports or calls (GLOBAL, STACK_GLOBAL, INST, REDUCE, NEWOBJ, NEWOBJ_EX, OBJ,
 * BUILD, EXT). A global is allowed only if torch's `weights_only` unpickler allows it or it is a class of
 * the known model libraries (for whole-model pickles); everything else is dangerous.
 */

export type Verdict = 'clean' | 'dangerous' | 'unreadable';

/** One opcode that would import or run something outside the allowlist. */
export interface Finding {
  /** The pickle it is in: a zip member, `pickle 3 of 5`. */
  readonly where: string;
  readonly op: OpcodeEvent['op'];
  readonly offset: number;
  /** `module.name`, escaped for a terminal. */
  readonly global: string;
}

export interface ScanReport {
  readonly verdict: Verdict;
  /** What the file is: `torch zip`, `torch legacy`, `pickle`, `npy`, `safetensors`, `onnx`. */
  readonly kind: string;
  /** Every pickle looked at, and its size in bytes. */
  readonly pickles: { where: string; bytes: number }[];
  readonly findings: Finding[];
  /** Oddities a reader could be fooled by (two members of one name, a CRC that does not match, bytes after STOP). */
  readonly suspicious: string[];
  /** Why the file (or one of its pickles) could not be read through, when it could not. */
  readonly error?: string;
}

/**
 * Classes of the model libraries a whole-model pickle (`torch.save(model)`) instantiates: building them
 * runs their library's code, which the loading process imports anyway, not code from the file.
 */
const MODEL_CLASS = /^(torch\.nn\.modules|torch\.nn\.parallel|torchvision\.models|torchvision\.ops|timm\.models|timm\.layers|transformers\.models)\.[\w.]+$/;
/**
 * Plain data types training checkpoints carry: numpy scalars, arrays and dtypes (an epoch's `np.float64`
 * accuracy), rebuilt from bytes without running code; torch lists them as the usual `add_safe_globals`.
 */
const NUMPY_DATA = /^numpy\.(_core|core)\.multiarray\.(scalar|_reconstruct)$|^numpy\.(dtype|ndarray)$|^numpy\.dtypes\.\w+DType$/;
const EXACT_BENIGN = new Set(['functools.partial', 'torch.nn.modules.module._IncompatibleKeys', 'builtins.slice', 'builtins.frozenset', 'builtins.tuple', 'builtins.list', 'builtins.dict']);

export function isAllowedGlobal(qualified: string): boolean {
  return isSafeGlobal(qualified) || EXACT_BENIGN.has(qualified) || MODEL_CLASS.test(qualified) || NUMPY_DATA.test(qualified);
}

/** Pickles larger than this are not scanned whole (no checkpoint's pickle is this large). */
const MAX_PICKLE = 1 << 30;

export function scanSource(source: ByteSource): ScanReport {
  const sniffed = sniff(source);
  const head = source.read(0, Math.min(source.size, 8));
  switch (sniffed.kind) {
    case 'zip':
      return scanZip(source);
    case 'torch-legacy':
      return scanPickles(source, 'torch legacy', 0);
    case 'safetensors':
    case 'onnx':
      // neither format can hold code: a JSON header and raw bytes, a protobuf graph
      return { verdict: 'clean', kind: sniffed.kind, pickles: [], findings: [], suspicious: [] };
    case 'unknown':
      if (head[0] === 0x80 && head[1]! >= 2 && head[1]! <= 5) return scanPickles(source, 'pickle', 0);
      if (head.subarray(0, 6).equals(Buffer.from('\x93NUMPY', 'latin1'))) return scanNpy(source);
      return { verdict: 'unreadable', kind: 'unknown', pickles: [], findings: [], suspicious: [], error: `not a checkpoint (looks like ${sniffed.looksLike})` };
  }
}

/** Collects the findings of one pickle's opcodes; the value built is inert and thrown away. */
class PickleScanner {
  readonly findings: Finding[] = [];
  readonly pickles: { where: string; bytes: number }[] = [];
  readonly suspicious: string[] = [];
  error: string | undefined;

  /** Unpickles `bytes` from `start`, recording findings; the offset after STOP, or undefined when it could not be read through. */
  scan(bytes: Uint8Array, where: string, start = 0): number | undefined {
    const onOpcode = (event: OpcodeEvent): void => {
      const name = globalName(event.callable);
      if (name !== undefined && isAllowedGlobal(name)) return;
      // a call of something that is no global (a value built earlier) was judged when that value's global was met
      if (name === undefined && event.op !== 'EXT') return;
      if (this.findings.some((f) => f.where === where && f.global === escapeName(name ?? '?') && f.op === event.op)) return;
      this.findings.push({ where, op: event.op, offset: event.offset, global: escapeName(name ?? '?') });
    };
    try {
      const { end } = unpickle(bytes, { onOpcode, persistentLoad: () => None }, start);
      this.pickles.push({ where, bytes: end - start });
      return end;
    } catch (error) {
      this.pickles.push({ where, bytes: bytes.length - start });
      if (!(error instanceof FormatError)) throw error;
      this.error ??= `${where}: ${error.message}`;
      return undefined;
    }
  }

  report(kind: string): ScanReport {
    const verdict: Verdict = this.findings.length > 0 ? 'dangerous' : this.error !== undefined ? 'unreadable' : 'clean';
    return { verdict, kind, pickles: this.pickles, findings: this.findings, suspicious: this.suspicious, ...(this.error !== undefined ? { error: this.error } : {}) };
  }
}

function globalName(value: PyValue): string | undefined {
  return value.kind === 'global' ? `${value.module}.${value.name}` : undefined;
}

/**
 * A stack of pickles from `start` (a legacy file holds five; a raw file one, and anything after it is
 * looked at too): pickles are read while the bytes go on looking like one.
 */
function scanPickles(source: ByteSource, kind: string, start: number): ScanReport {
  const scanner = new PickleScanner();
  const bytes = source.read(start, Math.min(source.size - start, MAX_PICKLE));
  const legacy = kind === 'torch legacy';
  let at = 0;
  for (let index = 1; at < bytes.length; index++) {
    // the legacy format's storages follow its fifth pickle as raw bytes
    if (legacy && index > 5) break;
    if (index > 1 && !legacy) scanner.suspicious.push(`${bytes.length - at} bytes after the pickle's STOP (at byte ${at}); scanned as another pickle`);
    const end = scanner.scan(bytes, legacy ? `pickle ${index} of 5` : index === 1 ? 'pickle' : `pickle ${index} (after STOP)`, at);
    if (end === undefined) break;
    at = end;
  }
  return scanner.report(kind);
}

/** Every `.pkl` member, as the central directory lists them (duplicates kept), each read as stored. */
function scanZip(source: ByteSource): ScanReport {
  const scanner = new PickleScanner();
  let zip: ZipReader;
  try {
    zip = new ZipReader(source, { keepDuplicates: true });
  } catch (error) {
    if (!(error instanceof FormatError)) throw error;
    return { verdict: 'unreadable', kind: 'zip', pickles: [], findings: [], suspicious: [], error: error.message };
  }
  const names = new Map<string, string>();
  for (const entry of zip.entries) {
    const folded = entry.name.toLowerCase();
    const other = names.get(folded);
    if (other === entry.name) scanner.suspicious.push(`two members named ${escapeName(entry.name)}: readers disagree on which counts; both scanned`);
    else if (other !== undefined) scanner.suspicious.push(`members ${escapeName(other)} and ${escapeName(entry.name)} differ only in case: torch matches names case-insensitively; both scanned`);
    else names.set(folded, entry.name);
  }
  // a name for bytes already scanned (the same record) is scanned once; one reading other bytes is scanned
  // too, within a budget: overlapping records could otherwise make a small file cost any amount of work
  const scannedRecords = new Set<string>();
  const recordKey = (entry: ZipEntry): string => `${entry.record.offset}:${entry.record.storedSize}:${entry.compressed}`;
  if (zip.aliases.length > 0) scanner.suspicious.push(`${zip.aliases.length} member${zip.aliases.length === 1 ? ' shares' : 's share'} bytes with another member: no zip writer makes such a file`);
  const pickles = zip.entries.filter((entry) => entry.name.toLowerCase().endsWith('.pkl'));
  let budget = 2 * source.size + (1 << 20);
  if (pickles.length === 0) return { ...scanner.report('zip'), verdict: 'clean', suspicious: [...scanner.suspicious, 'no .pkl member: not a torch checkpoint'] };
  for (const entry of pickles) {
    const where = escapeName(entry.name);
    if (scannedRecords.has(recordKey(entry))) {
      scanner.suspicious.push(`${where} is the same record as another .pkl member; scanned once`);
      continue;
    }
    scannedRecords.add(recordKey(entry));
    budget -= entry.record.storedSize;
    if (budget < 0) {
      scanner.error ??= `${where}: members overlap so that scanning them all would read more than twice the file`;
      break;
    }
    let bytes: Buffer;
    try {
      if (entry.size > MAX_PICKLE) throw new FormatError(`is ${entry.size} bytes, larger than any checkpoint's pickle`);
      const range = entry.data();
      bytes = readRange({ source: range.source, offset: range.offset, length: range.length });
      if (range.integrity && crc32(bytes) >>> 0 !== range.integrity.crc32() >>> 0) scanner.suspicious.push(`${where}: CRC-32 does not match the directory's; scanned as stored`);
    } catch (error) {
      if (!(error instanceof FormatError)) throw error;
      scanner.error ??= `${where}: ${error.message}`;
      continue;
    }
    let at = 0;
    for (let index = 1; at < bytes.length; index++) {
      if (index > 1) scanner.suspicious.push(`${where}: ${bytes.length - at} bytes after the pickle's STOP; scanned as another pickle`);
      const end = scanner.scan(bytes, index === 1 ? where : `${where} (pickle ${index}, after STOP)`, at);
      if (end === undefined) break;
      at = end;
    }
  }
  return scanner.report('torch zip');
}

/** A `.npy` of Python objects (`descr` 'O') is a pickle after its header; any other `.npy` is plain data. */
function scanNpy(source: ByteSource): ScanReport {
  const head = source.read(0, Math.min(source.size, 12));
  const unreadable = (error: string): ScanReport => ({ verdict: 'unreadable', kind: 'npy', pickles: [], findings: [], suspicious: [], error });
  if (head.length < 12) return unreadable('too short for a .npy file (truncated?)');
  const major = head[6]!;
  const headerLength = major === 1 ? head.readUInt16LE(8) : head.readUInt32LE(8);
  const start = (major === 1 ? 10 : 12) + headerLength;
  if (start > source.size) return unreadable('the .npy header runs past the end of the file (truncated?)');
  const header = source.read(0, Math.min(source.size, start)).subarray(major === 1 ? 10 : 12).toString('latin1');
  if (!/'descr'\s*:\s*'\|?O'/.test(header)) return { verdict: 'clean', kind: 'npy', pickles: [], findings: [], suspicious: [] };
  return { ...scanPickles(source, 'npy (objects)', start), kind: 'npy (objects)' };
}
