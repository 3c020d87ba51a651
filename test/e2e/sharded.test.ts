import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { fixture, modsurg, ROOT, scratchDir, succeeds } from '../helpers/cli.js';
import { ORACLE_PYTHON, ORACLE_SKIP, python } from '../helpers/oracle.js';

/**
 * Sharded hub checkpoints, as transformers' save_pretrained and huggingface_hub's save_torch_state_dict
 * write them (fixtures/make_shards.py): read through an index or its folder as one checkpoint, written
 * as hub shards + index, re-split with --max-shard-size, merged into one file. Judged by torch
 * (weights_only) and safetensors reading each shard on its own, and by the index as JSON.
 */
const dir = scratchDir();
const binShards = fixture('sharded/gpt2-bin');
const stShards = fixture('sharded/gpt2-safetensors');

/**
 * Python that reads a sharded checkpoint as transformers does, shard by shard through the index: prints
 * a JSON verdict with the shards' files and keys, each shard's tensor bytes, total_size, and a digest
 * of every tensor's values (name → sha256 of its bytes) to compare with another checkpoint's.
 */
const READ_SHARDED = `import hashlib, json, os, sys, torch
from safetensors.torch import load_file
def tensors(path):
    if path.endswith(".safetensors"):
        return load_file(path)
    return torch.load(path, weights_only=True, map_location="cpu")
def digest(sd):
    return {k: [str(v.dtype), list(v.shape), hashlib.sha256(v.contiguous().numpy().tobytes()).hexdigest()] for k, v in sd.items()}
path = sys.argv[1]
if path.endswith(".index.json"):
    index = json.load(open(path))
    folder = os.path.dirname(path)
    shards, values = [], {}
    for file in sorted(set(index["weight_map"].values())):
        sd = tensors(os.path.join(folder, file))
        assert sorted(sd) == sorted(k for k, f in index["weight_map"].items() if f == file), file
        shards.append({"file": file, "keys": list(sd), "bytes": sum(v.numel() * v.element_size() for v in sd.values())})
        values.update(sd)
    print(json.dumps({"shards": shards, "metadata": index["metadata"], "digest": digest(values), "files": sorted(os.listdir(folder))}))
else:
    print(json.dumps({"digest": digest(tensors(path))}))
`;

interface Sharded {
  shards: { file: string; keys: string[]; bytes: number }[];
  metadata: { total_size: number; total_parameters?: number };
  digest: Record<string, [string, number[], string]>;
  files: string[];
}

function read(path: string): Sharded {
  const run = python(READ_SHARDED, [path]);
  expect(run.status, run.stderr).toBe(0);
  return JSON.parse(run.stdout) as Sharded;
}

const renamed = (digest: Sharded['digest'], rename: (key: string) => string): Sharded['digest'] => Object.fromEntries(Object.entries(digest).map(([k, v]) => [rename(k), v]));

describe.skipIf(!ORACLE_PYTHON)(`sharded hub checkpoints${ORACLE_SKIP}`, () => {
  it('inspect reads an index, or the folder holding it, as one checkpoint', () => {
    for (const input of [binShards, join(stShards, 'model.safetensors.index.json')]) {
      const report = JSON.parse(succeeds(['inspect', input, '--json']).stdout) as { format: string; details: Record<string, string>; tensors: { name: string }[] };
      expect(report.details.shards).toBe('3');
      const expected = Object.keys(read(join(input.endsWith('.json') ? stShards : binShards, input.endsWith('.json') ? 'model.safetensors.index.json' : 'pytorch_model.bin.index.json')).digest);
      expect(report.tensors.map((t) => t.name).sort()).toEqual(expected.sort());
    }
  });

  it('convert .bin shards to safetensors shards: hub names, the same grouping, the same values, a true index', () => {
    const out = join(dir, 'st');
    mkdirSync(out);
    succeeds(['convert', binShards, '-o', join(out, 'model.safetensors.index.json'), '-q']);
    const source = read(join(binShards, 'pytorch_model.bin.index.json'));
    const written = read(join(out, 'model.safetensors.index.json'));
    expect(written.files).toEqual(['model-00001-of-00003.safetensors', 'model-00002-of-00003.safetensors', 'model-00003-of-00003.safetensors', 'model.safetensors.index.json']);
    expect(written.shards.map((s) => [...s.keys].sort())).toEqual(source.shards.map((s) => [...s.keys].sort()));
    expect(written.digest).toEqual(source.digest);
    expect(written.metadata.total_size).toBe(written.shards.reduce((n, s) => n + s.bytes, 0));
  });

  it('--max-shard-size re-splits in hub units; a shard passes the limit only when one tensor does', () => {
    const out = join(dir, 'split');
    mkdirSync(out);
    succeeds(['add-prefix', stShards, '--prefix', 'module.', '--max-shard-size', '8KB', '-o', join(out, 'model.safetensors.index.json'), '-q']);
    const written = read(join(out, 'model.safetensors.index.json'));
    expect(written.shards.length).toBeGreaterThan(3);
    for (const shard of written.shards) expect(shard.bytes <= 8000 || shard.keys.length === 1, JSON.stringify(shard)).toBe(true);
    expect(written.digest).toEqual(renamed(read(join(stShards, 'model.safetensors.index.json')).digest, (k) => `module.${k}`));
    // transformers' metadata is kept, its parameter count recomputed
    expect(written.metadata.total_parameters).toBe(7904);
  });

  it('-o FILE merges the shards into one checkpoint torch loads whole', () => {
    const out = join(dir, 'merged.pth');
    succeeds(['strip-prefix', binShards, '--prefix', 'transformer.', '-o', out, '-q']);
    expect(read(out).digest).toEqual(renamed(read(join(binShards, 'pytorch_model.bin.index.json')).digest, (k) => k.replace(/^transformer\./, '')));
  });

  it('add-module puts the new layer in the shard of the key before it; the rest stay where they were', () => {
    const out = join(dir, 'bin');
    mkdirSync(out);
    succeeds(['add-module', binShards, '--at', 'score', '--layer', 'Linear(16,3)', '--seed', '1', '-o', join(out, 'pytorch_model.bin.index.json'), '-q']);
    const source = read(join(binShards, 'pytorch_model.bin.index.json'));
    const written = read(join(out, 'pytorch_model.bin.index.json'));
    expect(written.shards.map((s) => s.file)).toEqual(source.shards.map((s) => s.file));
    expect(written.shards.at(-1)!.keys.slice(-2)).toEqual(['score.weight', 'score.bias']);
    expect(written.shards.map((s) => s.keys.filter((k) => !k.startsWith('score.')))).toEqual(source.shards.map((s) => s.keys));
  });

  it('diff compares a sharded checkpoint with the same state dict in one file, and finds a change', () => {
    const merged = join(dir, 'merged.safetensors');
    succeeds(['convert', binShards, '-o', merged, '-q']);
    expect(modsurg(['diff', binShards, merged]).status).toBe(0);
    expect(modsurg(['diff', join(stShards, 'model.safetensors.index.json'), binShards]).status).toBe(0);
    const headless = join(dir, 'headless.safetensors');
    succeeds(['rename', merged, '--map', '^transformer\\.ln_f\\.=>final_norm.', '-o', headless, '-q']);
    const changed = modsurg(['diff', binShards, headless]);
    expect(changed.status).toBe(1);
    expect(changed.stdout).toMatch(/transformer\.ln_f\.weight/);
  });

  it('replace-head on shards: the new head in the shard the old one was in, every other tensor as it was', () => {
    const out = join(dir, 'head');
    mkdirSync(out);
    succeeds(['replace-head', binShards, '--at', 'transformer.ln_f', '--head', 'Linear(16,5)', '--seed', '2', '-o', join(out, 'pytorch_model.bin.index.json'), '-q']);
    const source = read(join(binShards, 'pytorch_model.bin.index.json'));
    const written = read(join(out, 'pytorch_model.bin.index.json'));
    const shardOf = (r: Sharded, key: string): string | undefined => r.shards.find((s) => s.keys.includes(key))?.file;
    // the head spec is a Sequential: its Linear is ln_f.0
    expect(shardOf(written, 'transformer.ln_f.0.weight')).toBe(shardOf(source, 'transformer.ln_f.weight'));
    expect(written.digest['transformer.ln_f.0.weight']![1]).toEqual([5, 16]);
    for (const [key, value] of Object.entries(source.digest)) if (!key.startsWith('transformer.ln_f.')) expect(written.digest[key], key).toEqual(value);
  });

  it('rewrites the shards in their own folder: each replaced only once every new one is complete', () => {
    const copy = join(dir, 'inplace');
    cpSync(stShards, copy, { recursive: true });
    const before = read(join(copy, 'model.safetensors.index.json'));
    succeeds(['rename', copy, '--map', '^transformer\\.wte\\.weight$=>embed.weight', '-o', join(copy, 'model.safetensors.index.json'), '-q']);
    const after = read(join(copy, 'model.safetensors.index.json'));
    expect(after.files).toEqual(before.files);
    expect(after.digest).toEqual(renamed(before.digest, (k) => (k === 'transformer.wte.weight' ? 'embed.weight' : k)));
  });

  it('reads a zip from a pipe and writes it as shards', () => {
    const out = join(dir, 'piped');
    mkdirSync(out);
    const cli = `'${process.execPath}' '${join(ROOT, 'bin/run.js')}'`;
    const run = spawnSync('bash', ['-c', `cat '${fixture('realworld/hub_hf_gpt2.pth')}' | ${cli} convert - --max-shard-size 10KiB -o '${join(out, 'model.safetensors.index.json')}' -q`], { encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
    const written = read(join(out, 'model.safetensors.index.json'));
    expect(written.shards.length).toBeGreaterThan(1);
    const whole = read(fixture('realworld/hub_hf_gpt2.pth')).digest;
    // safetensors stores a tensor tied to another once it has its own bytes; compare the values
    expect(Object.fromEntries(Object.entries(written.digest).map(([k, v]) => [k, v[2]]))).toEqual(Object.fromEntries(Object.entries(whole).map(([k, v]) => [k, v[2]])));
  });
});

describe('sharded inputs and outputs that are wrong', () => {
  const broken = (name: string, edit: (index: { metadata: object; weight_map: Record<string, string> }) => void): string => {
    const folder = join(dir, name);
    cpSync(binShards, folder, { recursive: true });
    const path = join(folder, 'pytorch_model.bin.index.json');
    const index = JSON.parse(readFileSync(path, 'utf8')) as { metadata: object; weight_map: Record<string, string> };
    edit(index);
    writeFileSync(path, JSON.stringify(index));
    return path;
  };
  const fails = (args: string[], message: RegExp): void => {
    const run = modsurg(args);
    expect(run.status, run.stderr).toBe(2);
    expect(run.stderr).toMatch(message);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
  };

  it('an index naming a shard that is not there, or outside its folder', () => {
    fails(['inspect', broken('missing', (i) => (i.weight_map['transformer.wpe.weight'] = 'pytorch_model-00009-of-00009.bin'))], /^error: .*pytorch_model\.bin\.index\.json: shard pytorch_model-00009-of-00009\.bin, named by the index, does not exist\n$/);
    fails(['inspect', broken('outside', (i) => (i.weight_map['transformer.wpe.weight'] = '../../etc/passwd'))], /is not a file name in the index's folder/);
  });

  it('a shard holding a key the index does not list, and a key listed but held nowhere', () => {
    fails(['inspect', broken('unlisted', (i) => delete i.weight_map['transformer.wpe.weight'])], /pytorch_model-00001-of-00003\.bin: holds 'transformer\.wpe\.weight', but the index does not list it/);
    fails(['inspect', broken('phantom', (i) => (i.weight_map['ghost.weight'] = 'pytorch_model-00001-of-00003.bin'))], /lists 'ghost\.weight' in pytorch_model-00001-of-00003\.bin, which does not hold it/);
  });

  it('a folder without an index; --max-shard-size without an index output; a training checkpoint as shards', () => {
    const empty = join(dir, 'empty');
    mkdirSync(empty);
    fails(['inspect', empty], /is a folder without a shard index/);
    fails(['convert', binShards, '--max-shard-size', '5GB', '-o', join(dir, 'x.safetensors')], /--max-shard-size applies to a sharded output/);
    fails(['convert', binShards, '--max-shard-size', 'lots', '-o', join(dir, 'y.safetensors.index.json')], /--max-shard-size must be a size such as 5GB/);
    fails(['convert', fixture('training_ckpt.pth'), '-o', join(dir, 'z.safetensors.index.json')], /a sharded checkpoint holds one flat state dict; pick it with --key/);
    expect(readdirSync(dir).filter((f) => /^[xyz]\.|\.tmp$/.test(f))).toEqual([]);
    expect(existsSync(join(dir, 'z.safetensors.index.json'))).toBe(false);
  });
});
