import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Checkpoint } from '../../src/checkpoint/checkpoint.js';
import { diffCheckpoints } from '../../src/checkpoint/diff.js';
import { readCheckpoint, writeCheckpoint } from '../../src/checkpoint/files.js';
import { toPlainData } from '../../src/checkpoint/state-dict.js';
import { readTorchZipStream } from '../../src/checkpoint/torch-zip-stream.js';
import { BufferSource, FileSource } from '../../src/io/byte-source.js';
import { MemorySink } from '../../src/io/byte-sink.js';
import { PipeSource } from '../../src/io/pipe-source.js';
import { fixture, scratchDir } from '../helpers/cli.js';

const dir = scratchDir();
let files = 0;

/** Reads a zip checkpoint front to back through a descriptor, as from a pipe. */
function streamed(bytes: Uint8Array, capacity = 1024): { checkpoint: Checkpoint; pipe: PipeSource; close: () => void } {
  const path = join(dir, `s${files++}`);
  writeFileSync(path, bytes);
  const fd = openSync(path, 'r');
  const pipe = new PipeSource('-', fd, capacity);
  return { checkpoint: readTorchZipStream(pipe), pipe, close: () => closeSync(fd) };
}

/** A checkpoint written as a torch zip, in memory. */
function written(checkpoint: Checkpoint): Buffer {
  const sink = new MemorySink();
  writeCheckpoint(checkpoint.root, 'torch', sink, { rootFolder: checkpoint.details.rootFolder ?? 'archive' });
  return sink.toBuffer();
}

/** What differs between two checkpoints, tensor values included. */
function differences(a: Checkpoint, b: Checkpoint): unknown[] {
  return diffCheckpoints(toPlainData(a.root), toPlainData(b.root)).differences;
}

const ZIPS = ['resnet_sd.pth', 'resnet_dp_model.pth', 'training_ckpt.pth', 'training_ckpt_t113.pth', 'lightning_ckpt.pth', 'views.pth', 'dtypes.pth', 'tied_sd.pth', 'resnet_sd_t113.pth'];

describe('torch zip read from a stream', () => {
  it.each(ZIPS)('%s: the same checkpoint as read by its central directory', (name) => {
    const bytes = readFileSync(fixture(name));
    const fromFile = readCheckpoint(new FileSource(name, fixture(name)));
    const { checkpoint, pipe, close } = streamed(bytes);
    try {
      expect(checkpoint.globals).toEqual(fromFile.globals);
      // what a command does with a stream: write it out, then read the rest and check it
      const output = written(checkpoint);
      pipe.complete();
      expect(differences(readCheckpoint(new BufferSource('out', output)), fromFile)).toEqual([]);
      expect(checkpoint.details).toEqual(fromFile.details);
    } finally {
      close();
    }
  });

  it('storages read out of order are spooled, and the order a writer asks for does not matter', () => {
    const bytes = readFileSync(fixture('resnet_sd.pth'));
    const fromFile = readCheckpoint(new FileSource('f', fixture('resnet_sd.pth')));
    const { checkpoint, pipe, close } = streamed(bytes);
    const dict = checkpoint.root;
    if (dict.kind !== 'dict') throw new Error('not a dict');
    const reversed: Checkpoint = { ...checkpoint, root: { ...dict, entries: [...dict.entries].reverse() } };
    const output = written(reversed);
    pipe.complete();
    const back = readCheckpoint(new BufferSource('out', output));
    expect(back.root.kind === 'dict' && back.root.entries.map(([k]) => k)).toEqual([...dict.entries].reverse().map(([k]) => k));
    expect(differences(back, fromFile)).toEqual([]);
    close();
  });

  it('refuses a stream whose local records the central directory does not list', () => {
    const bytes = Buffer.from(readFileSync(fixture('resnet_sd.pth')));
    // rename data.pkl in the central directory only: a reader of the directory would find no pickle
    const at = bytes.lastIndexOf('resnet_sd/data.pkl');
    bytes.write('resnet_sd/data.pk_', at, 'latin1');
    const { pipe, close } = streamed(bytes);
    expect(() => pipe.complete()).toThrow(/central directory places resnet_sd\/data.pk_ where the stream has no such member/);
    close();
  });

  it('refuses a truncated stream when the rest is read', () => {
    const bytes = readFileSync(fixture('resnet_sd.pth'));
    const { pipe, close } = streamed(bytes.subarray(0, bytes.length - 30));
    expect(() => pipe.complete()).toThrow(/truncated|end-of-central-directory/);
    close();
  });

  it('refuses a TorchScript archive', () => {
    const fd = openSync(fixture('torchscript.pt'), 'r');
    try {
      expect(() => {
        const pipe = new PipeSource('-', fd);
        readTorchZipStream(pipe);
        pipe.complete();
      }).toThrow(/TorchScript/);
    } finally {
      closeSync(fd);
    }
  });
});
