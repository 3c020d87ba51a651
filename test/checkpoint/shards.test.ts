import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeShardIndex, parseShardIndex, parseShardSize, planShards, shardFileNames } from '../../src/checkpoint/shards.js';

describe('shard indexes', () => {
  it('names shards as the hub does', () => {
    expect(shardFileNames('model.safetensors.index.json', 3)).toEqual(['model-00001-of-00003.safetensors', 'model-00002-of-00003.safetensors', 'model-00003-of-00003.safetensors']);
    expect(shardFileNames('pytorch_model.bin.index.json', 2)).toEqual(['pytorch_model-00001-of-00002.bin', 'pytorch_model-00002-of-00002.bin']);
    expect(shardFileNames('model.safetensors.index.json', 1)).toEqual(['model.safetensors']);
  });

  it('reads sizes in hub units', () => {
    expect(parseShardSize('5GB')).toBe(5e9);
    expect(parseShardSize('5GiB')).toBe(5 * 2 ** 30);
    expect(parseShardSize('500mb')).toBe(5e8);
    expect(parseShardSize('10KiB')).toBe(10240);
    expect(parseShardSize('1234')).toBe(1234);
    for (const bad of ['', 'lots', '5XB', '0', '-1GB']) expect(() => parseShardSize(bad)).toThrow(/--max-shard-size/);
  });

  it('parses an index, drops total_size (recomputed) and refuses names that leave the folder', () => {
    const index = parseShardIndex(JSON.stringify({ metadata: { total_size: 9, total_parameters: 2 }, weight_map: { b: 'm-2.bin', a: 'm-1.bin' } }));
    expect(index.metadata).toEqual({ total_parameters: 2 });
    expect(index.files).toEqual(['m-1.bin', 'm-2.bin']);
    for (const file of ['../x.bin', 'sub/x.bin', '/etc/passwd', '..', '', 'a\\b']) {
      expect(() => parseShardIndex(JSON.stringify({ weight_map: { a: file } }))).toThrow(/not a file name in the index's folder/);
    }
    expect(() => parseShardIndex('{')).toThrow(/invalid JSON/);
    expect(() => parseShardIndex('{"weight_map": {}}')).toThrow(/names no tensors/);
    expect(() => parseShardIndex('[1]')).toThrow(/no "weight_map"/);
  });

  it('writes the index as transformers does: keys sorted, total_size in metadata', () => {
    const text = encodeShardIndex({ total_parameters: 3 }, 12, [{ file: 'm-2', keys: ['z'] }, { file: 'm-1', keys: ['b', 'a'] }]);
    expect(text).toBe('{\n  "metadata": {\n    "total_parameters": 3,\n    "total_size": 12\n  },\n  "weight_map": {\n    "a": "m-1",\n    "b": "m-1",\n    "z": "m-2"\n  }\n}\n');
  });

  it('splitting keeps every key once, in order, and passes the limit only with a lone tensor', () => {
    fc.assert(
      fc.property(fc.array(fc.nat(1000), { maxLength: 60 }), fc.integer({ min: 1, max: 2000 }), (sizes, limit) => {
        const entries = sizes.map((bytes, i) => ({ key: `k${i}`, bytes, group: 0 }));
        const shards = planShards(entries, limit);
        expect(shards.flat()).toEqual(entries.map((e) => e.key));
        for (const shard of shards) {
          const total = shard.reduce((n, key) => n + sizes[Number(key.slice(1))]!, 0);
          expect(total <= limit || shard.length === 1).toBe(true);
        }
      }),
    );
  });

  it('without a limit the input grouping is kept, shards in the order they first appear', () => {
    const entries = [
      { key: 'a', bytes: 1, group: 1 },
      { key: 'b', bytes: 1, group: 0 },
      { key: 'c', bytes: 1, group: 1 },
    ];
    expect(planShards(entries)).toEqual([['a', 'c'], ['b']]);
  });
});
