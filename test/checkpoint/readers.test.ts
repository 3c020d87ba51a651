import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { ModsurgError } from '../../src/errors.js';
import { readCheckpoint } from '../../src/checkpoint/files.js';
import { keyText, type PyDict } from '../../src/checkpoint/pickle/value.js';
import { getPath, isModuleObject, moduleStateDict, resolvePath, stateDictTensors, toPlainData } from '../../src/checkpoint/state-dict.js';
import { FileSource } from '../../src/io/byte-source.js';
import { fixture } from '../helpers/cli.js';

interface ManifestKey {
  key: string;
  dtype: string;
  shape: number[];
}
interface ManifestFile {
  format: string;
  state_dicts?: Record<string, { keys: ManifestKey[]; metadata?: Record<string, unknown> }>;
  derived_state_dict?: { keys: ManifestKey[] };
  tensors?: { path: string[]; dtype: string; shape: number[]; stride: number[]; storage_offset: number; storage: number; type: string }[];
}

/** fixtures/manifest.json: what real torch saw in each fixture (written by fixtures/make_fixtures.py). */
const manifest = JSON.parse(readFileSync(fixture('manifest.json'), 'utf8')) as { files: Record<string, ManifestFile> };
const checkpoints = Object.entries(manifest.files).filter(([, f]) => ['torch-zip', 'torch-legacy', 'safetensors'].includes(f.format));

const open = (name: string) => readCheckpoint(new FileSource(name, fixture(name)));
const summary = (dict: PyDict) => stateDictTensors(dict).map(([key, t]) => ({ key, dtype: t.dtype, shape: [...t.shape] }));

describe('reading every fixture checkpoint', () => {
  for (const [name, file] of checkpoints) {
    if (name === 'quantized.pth') continue; // quantized tensors: refused with a clear error, tested below
    it(`${name}: same state dicts, keys, dtypes and shapes as torch sees`, () => {
      const checkpoint = open(name);
      const root = toPlainData(checkpoint.root);
      for (const [path, expected] of Object.entries(file.state_dicts ?? {})) {
        const dict = getPath(root, resolvePath(root, path)) as PyDict;
        expect(summary(dict)).toEqual(expected.keys.map(({ key, dtype, shape }) => ({ key, dtype, shape })));
      }
      if (file.derived_state_dict) {
        expect(isModuleObject(checkpoint.root)).toBe(true);
        expect(summary(root as PyDict)).toEqual(file.derived_state_dict.keys.map(({ key, dtype, shape }) => ({ key, dtype, shape })));
      }
      for (const t of file.tensors ?? []) {
        const value = getPath(root, t.path.map(String));
        expect(value.kind, t.path.join('.')).toBe('tensor');
        if (value.kind !== 'tensor') continue;
        expect({ dtype: value.tensor.dtype, shape: value.tensor.shape, stride: value.tensor.stride, offset: value.tensor.storageOffset }).toEqual({
          dtype: t.dtype,
          shape: t.shape,
          stride: t.stride,
          offset: t.storage_offset,
        });
        expect(value.tensor.parameter).toBe(t.type === 'Parameter');
      }
    });
  }

  it('keeps the _metadata torch saved', () => {
    const root = open('resnet_sd.pth').root as PyDict;
    const metadata = root.attributes?.find(([k]) => k === '_metadata')?.[1] as PyDict;
    const expected = manifest.files['resnet_sd.pth']!.state_dicts![''];
    expect(metadata.entries.map(([k]) => keyText(k))).toEqual(Object.keys(expected!.metadata!));
  });

  it('recovers the DataParallel state dict of a whole-model pickle with module. keys', () => {
    const checkpoint = open('resnet_dp_model.pth');
    expect(isModuleObject(checkpoint.root)).toBe(true);
    const keys = stateDictTensors(moduleStateDict(checkpoint.root as never)).map(([k]) => k);
    expect(keys[0]).toBe('module.conv1.weight');
    expect(keys).toHaveLength(62);
  });

  it('shares storages between views as torch does', () => {
    const root = open('views.pth').root as PyDict;
    const tensors = stateDictTensors(root);
    const groups = manifest.files['views.pth']!.tensors!;
    for (const a of groups) {
      for (const b of groups) {
        const ta = tensors.find(([k]) => k === a.path[0])![1];
        const tb = tensors.find(([k]) => k === b.path[0])![1];
        expect(ta.storage === tb.storage).toBe(a.storage === b.storage);
      }
    }
  });

  it('names what it cannot read', () => {
    const failure = (name: string): ModsurgError => {
      try {
        open(name);
      } catch (error) {
        return error as ModsurgError;
      }
      throw new Error(`${name} was read`);
    };
    expect(failure('torchscript.pt').line).toMatch(/^torchscript\.pt: is a TorchScript archive/);
    expect(failure('quantized.pth').line).toMatch(/^quantized\.pth: unsupported storage type torch\.QUInt8Storage/);
    expect(failure('resnet.onnx').line).toMatch(/^resnet\.onnx: is an ONNX model/);
  });
});
