import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ALL_DTYPES, dtypeInfo } from '../../src/checkpoint/dtype.js';
import { readCheckpoint, writeCheckpoint } from '../../src/checkpoint/files.js';
import { py, type PyDict, type PyValue } from '../../src/checkpoint/pickle/value.js';
import { stateDictTensors } from '../../src/checkpoint/state-dict.js';
import { contiguousBytes, contiguousStride, numelOf, type Storage, type Tensor } from '../../src/checkpoint/tensor.js';
import type { CheckpointFormat } from '../../src/checkpoint/checkpoint.js';
import { BufferSource } from '../../src/io/byte-source.js';
import { MemorySink } from '../../src/io/byte-sink.js';

/** Random state dicts: any dtype, any shape (0-d and empty included), random bytes. */
const tensorArb = (dtypes: readonly string[]): fc.Arbitrary<Tensor> =>
  fc
    .record({
      dtype: fc.constantFrom(...dtypes),
      shape: fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 }),
      seed: fc.integer(),
    })
    .map(({ dtype, shape, seed }) => {
      const info = dtypeInfo(dtype as never);
      const numel = numelOf(shape);
      const bytes = Uint8Array.from({ length: numel * info.size }, (_, i) => (seed * 31 + i * 17) & 0xff);
      const storage: Storage = { key: String(seed), dtype: info.name, numel, location: 'cpu', data: { kind: 'bytes', bytes } };
      return { dtype: info.name, shape, stride: contiguousStride(shape), storageOffset: 0, storage, requiresGrad: false, parameter: false };
    });

const stateDictArb = (dtypes: readonly string[]): fc.Arbitrary<PyDict> =>
  fc
    .uniqueArray(fc.tuple(fc.stringMatching(/^[a-z][a-z0-9_.]{0,12}$/), tensorArb(dtypes)), { minLength: 1, maxLength: 6, selector: ([k]) => k })
    .map((entries) => py.dict(entries.map(([k, t]) => [py.str(k), { kind: 'tensor', tensor: t }] as [PyValue, PyValue]), true));

function roundTrip(dict: PyDict, format: CheckpointFormat): [string, Tensor][] {
  const sink = new MemorySink();
  writeCheckpoint(dict, format, sink);
  return stateDictTensors(readCheckpoint(new BufferSource('mem', sink.toBuffer())).root as PyDict);
}

const view = (tensors: [string, Tensor][]) =>
  tensors
    .map(([name, t]) => ({ name, dtype: t.dtype, shape: [...t.shape], bytes: Buffer.from(contiguousBytes(t)).toString('hex') }))
    .sort((a, b) => (a.name < b.name ? -1 : 1));

describe('writers and readers round-trip random state dicts', () => {
  const typed = ALL_DTYPES.filter((d) => d.storageClass !== undefined).map((d) => d.name);
  const all = ALL_DTYPES.map((d) => d.name);
  const safetensors = ALL_DTYPES.filter((d) => d.safetensors !== undefined).map((d) => d.name);

  it('torch zip, every dtype', () => {
    fc.assert(fc.property(stateDictArb(all), (dict) => void expect(view(roundTrip(dict, 'torch'))).toEqual(view(stateDictTensors(dict)))));
  });
  it('torch legacy, every dtype it can hold', () => {
    fc.assert(fc.property(stateDictArb(typed), (dict) => void expect(view(roundTrip(dict, 'torch-legacy'))).toEqual(view(stateDictTensors(dict)))));
  });
  it('safetensors, every dtype it has', () => {
    fc.assert(fc.property(stateDictArb(safetensors), (dict) => void expect(view(roundTrip(dict, 'safetensors'))).toEqual(view(stateDictTensors(dict)))));
  });
});
