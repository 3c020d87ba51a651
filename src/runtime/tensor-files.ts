import { mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ModsurgError, withFile } from '../errors.js';
import { asIoError, openInput, writeOutput } from '../io/files.js';
import { readRange } from '../io/byte-source.js';
import { AlignedZipLayout, ZipReader } from '../io/zip.js';
import type { HostTensor } from './dtypes.js';
import { encodeNpy, parseNpy } from './npy.js';

/** Reading and writing tensors as .npy files, .npz archives and folders of .npy files. */

/** Reads a whole file (or stdin for `-`). */
export function readBinaryInput(path: string): Buffer {
  const source = openInput(path);
  try {
    return source.read(0, source.size);
  } finally {
    source.close();
  }
}

export function readNpyFile(path: string): HostTensor {
  try {
    return parseNpy(readBinaryInput(path));
  } catch (error) {
    throw withFile(error, path);
  }
}

/** Every array of an .npz (stored or deflated, as np.savez and np.savez_compressed write them), by name. */
export function readNpzFile(path: string): Map<string, HostTensor> {
  const source = openInput(path);
  try {
    const zip = new ZipReader(source);
    const arrays = new Map<string, HostTensor>();
    for (const entry of zip.entries) {
      if (entry.name.endsWith('/')) continue;
      const name = entry.name.endsWith('.npy') ? entry.name.slice(0, -4) : entry.name;
      try {
        arrays.set(name, parseNpy(readRange(entry.data())));
      } catch (error) {
        if (error instanceof ModsurgError) throw new ModsurgError(`array '${name}': ${error.message}`, path);
        throw error;
      }
    }
    return arrays;
  } catch (error) {
    throw withFile(error, path);
  } finally {
    source.close();
  }
}

export async function writeNpyFile(path: string, tensor: HostTensor): Promise<void> {
  await writeOutput(path, (sink) => sink.write(encodeNpy(tensor)));
}

/** Writes an uncompressed .npz, which np.load reads as it reads np.savez's. */
export async function writeNpzFile(path: string, tensors: ReadonlyMap<string, HostTensor>): Promise<void> {
  const members = [...tensors].map(([name, tensor]) => ({ name: `${name}.npy`, data: { kind: 'bytes' as const, bytes: encodeNpy(tensor) } }));
  await writeOutput(path, (sink) => new AlignedZipLayout(members).write(sink));
}

/** A file name for a tensor name: ONNX names may hold `/`, `:` and other characters file systems dislike. */
export function fileNameFor(tensorName: string): string {
  const safe = tensorName.replace(/[^A-Za-z0-9._-]/g, '_');
  return `${safe === '' || safe.startsWith('.') ? `_${safe}` : safe}.npy`;
}

export async function writeNpyFolder(folder: string, tensors: ReadonlyMap<string, HostTensor>): Promise<string[]> {
  try {
    mkdirSync(folder, { recursive: true });
  } catch (error) {
    throw asIoError(error, folder);
  }
  const written: string[] = [];
  for (const [name, tensor] of tensors) {
    const path = join(folder, fileNameFor(name));
    await writeNpyFile(path, tensor);
    written.push(path);
  }
  return written;
}

export function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** The .npy files of a folder, keyed by file name without `.npy`. */
export function listNpyFolder(folder: string): Map<string, string> {
  try {
    return new Map(
      readdirSync(folder)
        .filter((file) => file.endsWith('.npy'))
        .map((file) => [file.slice(0, -4), join(folder, file)]),
    );
  } catch (error) {
    throw asIoError(error, folder);
  }
}
