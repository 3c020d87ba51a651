import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixture, modsurg, scratchDir } from '../helpers/cli.js';
import { ORACLE_PYTHON, ORACLE_SKIP, oracle } from '../helpers/oracle.js';

/**
 * replace-head's default module on the state dicts of real torchvision, timm and transformers classes,
 * saved as their libraries save them: safetensors stores keys sorted by name, so the classifier is not
 * the last key. The head chosen must be the model's own classifier (fixtures/hub.py records it from the
 * library), and the result must be what torch gives after `PATH = nn.Linear(in_features, 10)`.
 */
const dir = scratchDir();
interface HubEntry {
  format: string;
  head: string;
  in_features: number;
  library: string;
  keys_after_classes10: string[];
}
const manifest = JSON.parse(readFileSync(fixture('realworld/manifest.json'), 'utf8')) as { files: Record<string, Partial<HubEntry>> };
const hub = Object.entries(manifest.files).filter((entry): entry is [string, HubEntry] => entry[0].startsWith('hub_') && entry[1].head !== undefined);

describe.skipIf(!ORACLE_PYTHON)(`replace-head --classes picks the model's own classifier, whatever the key order${ORACLE_SKIP}`, () => {
  it('covers torchvision, timm and transformers, as safetensors and .pth', () => {
    const libraries = new Set(hub.map(([, e]) => e.library.split(' ')[0]));
    expect([...libraries].sort()).toEqual(['timm', 'torchvision', 'transformers']);
    expect(hub.filter(([name]) => name.endsWith('.pth')).length).toBeGreaterThanOrEqual(3);
  });

  // GPT-2 as save_pretrained writes it holds no lm_head (tied to transformer.wte, stored once)
  const cases = hub.filter(([name]) => name !== 'hub_hf_gpt2.safetensors');
  it.each(cases)('%s', (name, entry) => {
    const out = join(dir, name.replace(/(\.\w+)$/, '_10$1'));
    const result = modsurg(['replace-head', fixture(`realworld/${name}`), '--classes', '10', '--seed', '1', '--json', '-o', out]);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    const report = JSON.parse(result.stdout) as { stateDicts: { at: string; chosen: string }[] };
    expect(report.stateDicts.map((d) => d.at)).toEqual([entry.head]);
    const keys = join(dir, `${name}.keys.json`);
    writeFileSync(keys, JSON.stringify(entry.keys_after_classes10));
    const verdict = oracle('check_head_swap.py', [out, fixture(`realworld/${name}`), '--head', entry.head, '--classes', '10', '--in-features', String(entry.in_features), '--keys', keys]);
    expect(verdict.diffs ?? [], JSON.stringify(verdict)).toEqual([]);
    expect(verdict.ok).toBe(true);
  });
});

describe('where the classifier cannot be told', () => {
  it('refuses and lists the candidates: --at decides', () => {
    const gpt2 = fixture('realworld/hub_hf_gpt2.safetensors');
    const result = modsurg(['replace-head', gpt2, '--classes', '10', '-o', join(dir, 'x.safetensors')]);
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/^error: .*hub_hf_gpt2\.safetensors: cannot tell which module is the classifier: 2 could be \(transformer\.h\.0\.attn\.c_proj, transformer\.h\.1\.attn\.c_proj\); name it with --at\n$/);
    const given = modsurg(['replace-head', gpt2, '--at', 'lm_head', '--classes', '10', '-o', join(dir, 'x.safetensors')]);
    expect(given.status).toBe(2);
    expect(given.stderr).toMatch(/--at lm_head: no keys under 'lm_head\.'/);
  });
});
