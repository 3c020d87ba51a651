/// <reference lib="dom" />
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture, modsurg, ROOT, scratchDir } from '../helpers/cli.js';
import { exportModel, HUB, HUB_SKIP, ORACLE_PYTHON, ORACLE_SKIP, python } from '../helpers/oracle.js';

/**
 * `modsurg view` on every fixture model and a set of checkpoints: a page that stands alone (nothing
 * fetched), as many boxes as the graph has nodes, every tensor of a checkpoint listed; the SVG is XML;
 * and, in a real browser (Debian's chromium, puppeteer-core), the page draws, searches and logs no error.
 */
const dir = scratchDir();

function onnxFixtures(): string[] {
  const found: string[] = [];
  for (const folder of [join(ROOT, 'fixtures'), join(ROOT, 'fixtures/realworld')]) {
    for (const name of readdirSync(folder)) if (name.endsWith('.onnx') && statSync(join(folder, name)).isFile()) found.push(join(folder, name));
  }
  return found;
}

/** Every fixture checkpoint: torch zip and legacy, safetensors, whole models, hub layouts, shard folders. */
function checkpointFixtures(): string[] {
  const found: string[] = [];
  for (const folder of ['fixtures', 'fixtures/realworld']) {
    for (const name of readdirSync(join(ROOT, folder))) if (/\.(pth|pt|bin|safetensors)$/.test(name)) found.push(join(ROOT, folder, name));
  }
  for (const name of readdirSync(join(ROOT, 'fixtures/sharded'))) found.push(join(ROOT, 'fixtures/sharded', name));
  return found;
}

describe('view', () => {
  it('draws every fixture model: one page, nothing fetched, a box per node', () => {
    const models = onnxFixtures();
    expect(models.length).toBeGreaterThan(8);
    for (const model of models) {
      const out = join(dir, `${relative(ROOT, model).replace(/\W/g, '_')}.html`);
      const run = modsurg(['view', model, '-o', out, '--json']);
      expect(run.status, `${model}: ${run.stderr}`).toBe(0);
      const html = readFileSync(out, 'utf8');
      // self-contained: no script, style, image or link from anywhere
      expect(html, model).not.toMatch(/<(script|link|img|iframe)[^>]+(src|href)=/i);
      expect(html.replaceAll('http://www.w3.org/2000/svg', ''), model).not.toMatch(/https?:\/\//);
      const nodes = JSON.parse(modsurg(['inspect', model, '--json']).stdout).nodes as number;
      expect((html.match(/<g class="node op"/g) ?? []).length, model).toBe(nodes);
    }
  });

  it('draws every fixture checkpoint, every tensor listed with its key; warns of code a load would run, as inspect does', () => {
    const checkpoints = checkpointFixtures();
    expect(checkpoints.length).toBeGreaterThan(30);
    for (const file of checkpoints) {
      const out = join(dir, `${relative(ROOT, file).replace(/\W/g, '_')}.html`);
      const run = modsurg(['view', file, '-o', out]);
      const inspected = modsurg(['inspect', file, '--json']);
      if (inspected.status !== 0) {
        // what inspect cannot read (quantized storages), view refuses the same way
        expect(run.status, file).toBe(2);
        const { error } = JSON.parse(inspected.stderr) as { error: { file: string; message: string } };
        expect(run.stderr, file).toBe(`error: ${error.file}: ${error.message}\n`);
        continue;
      }
      expect(run.status, `${file}: ${run.stderr}`).toBe(0);
      const html = readFileSync(out, 'utf8');
      const report = JSON.parse(inspected.stdout) as { tensors: { name: string }[]; structure: { key: string; description: string }[]; globals: { dangerous: boolean }[] };
      // the state dicts' tensors; in a file without one, the tensors at its top level
      const keys = report.tensors.length > 0 ? report.tensors.map((t) => t.name) : report.structure.filter((e) => e.description.startsWith('tensor ')).map((e) => e.key);
      expect(keys.length, file).toBeGreaterThan(0);
      for (const key of keys) expect(html, `${file}: ${key}`).toContain(`data-key="${key}"`);
      if (report.globals.some((g) => g.dangerous)) {
        expect(run.stderr, file).toMatch(/^warning: DANGER: loading this file runs code: os\.system/);
        expect(html, file).toContain('DANGER: loading this file runs code');
      }
    }
  });

  it('--svg (or an .svg name) writes the drawing alone; -o - writes the page to stdout; --svg of a checkpoint is refused', () => {
    const svg = join(dir, 'resnet.svg');
    expect(modsurg(['view', fixture('resnet.onnx'), '-o', svg]).status).toBe(0);
    expect(readFileSync(svg, 'utf8')).toMatch(/^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    const piped = modsurg(['view', fixture('resnet.onnx'), '-o', '-']);
    expect(piped.status).toBe(0);
    expect(piped.stdout).toMatch(/^<!doctype html>/);
    const refused = modsurg(['view', fixture('resnet_sd.pth'), '--svg', '-o', join(dir, 'x.svg')]);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toMatch(/--svg draws an ONNX graph/);
  });

  it.skipIf(!ORACLE_PYTHON)(`the SVG is well-formed XML${ORACLE_SKIP}`, () => {
    const svg = join(dir, 'unet.svg');
    expect(modsurg(['view', fixture('unet.onnx'), '-o', svg]).status).toBe(0);
    const parsed = python('import sys, xml.etree.ElementTree as ET\nroot = ET.parse(sys.argv[1]).getroot()\nprint(sum(1 for g in root.iter("{http://www.w3.org/2000/svg}g") if "node" in g.get("class", "")))', [svg]);
    expect(parsed.stdout.trim(), parsed.stderr).toBe(String(JSON.parse(modsurg(['inspect', fixture('unet.onnx'), '--json']).stdout).nodes + 2));
  });
});

describe('view A B: what changed', () => {
  it('two checkpoints: the old fc removed, the new head added, a fine-tuned tensor changed with its max abs diff as diff measures it', () => {
    const head = join(dir, 'head.pth');
    expect(modsurg(['replace-head', fixture('resnet_sd.pth'), '--head', 'fc1=Linear(?,16),relu1=ReLU(),fc2=Linear(16,3)', '--seed', '1', '-o', head]).status).toBe(0);
    const out = join(dir, 'ckpt-diff.html');
    const run = modsurg(['view', fixture('resnet_sd.pth'), head, '-o', out, '--json']);
    expect(run.status, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout).summary).toBe('+4 tensors, −2 tensors, 60 unchanged; fc.weight, fc.bias removed, fc.fc1.weight, fc.fc1.bias, fc.fc2.weight, fc.fc2.bias added');
    const html = readFileSync(out, 'utf8');
    expect(html).toContain('<tr data-key="fc.weight" class="removed">');
    expect(html).toContain('<tr data-key="fc.fc1.weight" class="added">');
    expect(html).toContain('<tr data-key="conv1.weight" class="same">');
    // a section holding a change is open, one without is closed
    expect(html).toMatch(/<details open class="changed" data-module="fc">/);
    expect(html).toMatch(/<details class="same" data-module="layer1">/);

    const tuned = join(dir, 'tuned-diff.html');
    expect(modsurg(['view', fixture('resnet_sd.pth'), fixture('resnet_finetuned_sd.pth'), '-o', tuned]).status).toBe(0);
    const measured = JSON.parse(modsurg(['diff', fixture('resnet_sd.pth'), fixture('resnet_finetuned_sd.pth'), '--json']).stdout).differences as { key: string; kind: string; maxAbsDiff?: number }[];
    const changed = measured.filter((d) => d.kind === 'values');
    expect(changed.length).toBeGreaterThan(0);
    const page = readFileSync(tuned, 'utf8');
    for (const d of changed) expect(page).toContain(`<tr data-key="${d.key}" class="changed">`);
    expect(page).toContain(`max abs diff ${changed[0]!.maxAbsDiff!.toPrecision(4)}`);
  });

  it('two models: the summary line names the nodes, the output and the weights; the same model twice is the same', () => {
    const head = join(dir, 'head.onnx');
    expect(modsurg(['replace-head', fixture('resnet.onnx'), '--head', 'fc1=Linear(?,16),relu1=ReLU(),fc2=Linear(16,3)', '--seed', '1', '-o', head]).status).toBe(0);
    const run = modsurg(['view', fixture('resnet.onnx'), head, '-o', join(dir, 'diff.html'), '--json']);
    expect(run.status, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout).summary).toBe('+3 nodes, −1 node, output output [batch, 10] → [batch, 3]; fc.weight, fc.bias removed, fc.fc1.weight, fc.fc1.bias, fc.fc2.weight, fc.fc2.bias added');
    const html = readFileSync(join(dir, 'diff.html'), 'utf8');
    expect((html.match(/<g class="node op added"/g) ?? []).length).toBe(3);
    expect(html).toMatch(/<g class="node op removed" data-name="\/fc\/Gemm"/);
    const same = modsurg(['view', fixture('resnet.onnx'), fixture('resnet.onnx'), '-o', join(dir, 'same.html'), '--json']);
    expect(JSON.parse(same.stdout).summary).toBe('the graphs are the same');
    expect(modsurg(['view', fixture('resnet.onnx'), head, '-o', join(dir, 'diff.svg')]).status).toBe(0);
    expect(readFileSync(join(dir, 'diff.svg'), 'utf8')).toContain('class="node op added"');
  });

  it('a model beside a checkpoint, or stdin twice, is refused with one line', () => {
    const mixed = modsurg(['view', fixture('resnet.onnx'), fixture('resnet_sd.pth'), '-o', join(dir, 'x.html')]);
    expect(mixed.status).toBe(2);
    expect(mixed.stderr).toBe(`error: ${fixture('resnet_sd.pth')}: is a checkpoint: view compares two ONNX models or two checkpoints\n`);
    expect(existsSync(join(dir, 'x.html'))).toBe(false);
    const twice = modsurg(['view', '-', '-', '-o', join(dir, 'x.html')], { input: Buffer.alloc(0) });
    expect(twice.status).toBe(2);
    expect(twice.stderr).toMatch(/^error: .*only one of the two files can be stdin/);
  });
});

/** Debian's chromium; under CI it must be there (scripts/setup-browser.sh installs it). */
const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((path) => existsSync(path));
if (!CHROMIUM && process.env.CI) throw new Error('chromium is missing; run scripts/setup-browser.sh');

let resnet: string | undefined;
/** torchvision's ResNet-50 as the tutorial's net, exported once. */
const resnet50 = (): string => (resnet ??= exportModel('resnet50', join(dir, 'resnet50.onnx')));

describe.skipIf(!CHROMIUM)(`view in a real browser${CHROMIUM ? '' : ' (skipped: no chromium; run scripts/setup-browser.sh)'}`, () => {
  let browser: import('puppeteer-core').Browser;
  beforeAll(async () => {
    const puppeteer = await import('puppeteer-core');
    browser = await puppeteer.launch({ executablePath: CHROMIUM!, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'], headless: true });
  }, 60_000);
  afterAll(async () => browser?.close());

  /** `modsurg view FILES -o NAME.html`, opened in the browser, with every console error and uncaught exception it has. */
  async function viewed(files: string[], name: string): Promise<{ page: import('puppeteer-core').Page; problems: string[] }> {
    const out = join(dir, `${name}.html`);
    const run = modsurg(['view', ...files, '-o', out]);
    expect(run.status, run.stderr).toBe(0);
    const page = await browser.newPage();
    const problems: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(message.text());
    });
    page.on('pageerror', (error) => problems.push(String(error)));
    await page.setViewport({ width: 1000, height: 900 });
    await page.goto(`file://${out}`, { waitUntil: 'load' });
    return { page, problems };
  }

  /** A page that drew something (one of one colour compresses to a few kilobytes) and had no error, closed. */
  async function closeDrawn(page: import('puppeteer-core').Page, problems: string[]): Promise<void> {
    const shot = Buffer.from(await page.screenshot({ type: 'png' }));
    expect(shot.length).toBeGreaterThan(20_000);
    expect(problems).toEqual([]);
    await page.close();
  }

  /** Boxes of the drawing by class (`op added`), their names. */
  const named = (page: import('puppeteer-core').Page, selector: string): Promise<string[]> =>
    page.evaluate((s) => Array.from(document.querySelectorAll<SVGGElement>(s)).map((g) => g.dataset.name ?? ''), selector);

  it.skipIf(!HUB)(`the tutorial's ResNet-50 before and after replace-head: the new head added, the old fc removed, the summary says so${HUB_SKIP}`, async () => {
    const r50 = resnet50();
    const after = join(dir, 'r50_head.onnx');
    const head = 'fc1=Linear(2048,128),relu1=ReLU(),dropout1=Dropout(0.5),fc2=Linear(128,10),output=Softmax(dim=1)';
    expect(modsurg(['replace-head', r50, '--at', 'fc', '--head', head, '--seed', '1', '-o', after]).status).toBe(0);
    const { page, problems } = await viewed([r50, after], 'browser-r50-head');
    const summary = await page.evaluate(() => document.querySelector('.summary')!.textContent);
    expect(summary).toBe(`+5 nodes, −1 node, output logits [batch, 1000] → [batch, 10]fc.weight, fc.bias removed, fc.fc1.weight, fc.fc1.bias, fc.fc2.weight, fc.fc2.bias added`);
    expect((await named(page, 'g.node.op.added')).sort()).toEqual(['/fc/dropout1/Identity', '/fc/fc1/Gemm', '/fc/fc2/Gemm', '/fc/output/Softmax', '/fc/relu1/Relu']);
    expect(await named(page, 'g.node.op.removed')).toEqual(['/fc/Gemm']);
    expect(await named(page, 'g.node.output.changed')).toEqual(['logits']);
    // unchanged modules collapsed and greyed, the changed fc open
    const collapsed = await page.evaluate(() => Array.from(document.querySelectorAll<SVGGElement>('[data-collapsed]')).map((g) => `${g.dataset.collapsed} ${g.classList.contains('same')}`));
    expect(collapsed).toEqual(expect.arrayContaining(['conv1 true', 'layer1 true', 'layer2 true', 'layer3 true', 'layer4 true', 'avgpool true']));
    expect(await page.evaluate(() => document.querySelector('g.module.changed[data-module="fc"]') !== null)).toBe(true);
    // expanding a module draws its nodes, collapsing it again takes them away
    const boxes = (): Promise<number> => page.evaluate(() => document.querySelectorAll('g.node').length);
    const before = await boxes();
    // ResNet-50's layer1: three Bottlenecks and a downsample, and the Identity nodes sharing their equal initializers
    const inLayer1 = await page.evaluate(() => (JSON.parse(document.getElementById('drawing-data')!.textContent!).drawing.boxes as { module: string }[]).filter((b) => b.module === 'layer1' || b.module.startsWith('layer1.')).length);
    expect(inLayer1).toBeGreaterThan(22);
    expect(await page.evaluate(() => document.querySelector('[data-collapsed="layer1"] text')!.textContent)).toBe(`layer1 ▸ ${inLayer1} nodes`);
    await page.click('[data-collapsed="layer1"]');
    expect(await boxes()).toBe(before - 1 + inLayer1);
    await page.evaluate(() => document.querySelector('g.module[data-module="layer1"] .module-label')!.dispatchEvent(new MouseEvent('click', { bubbles: true })));
    expect(await boxes()).toBe(before);
    await closeDrawn(page, problems);
  }, 120_000);

  it.skipIf(!HUB)(`ResNet-50 after add-input: the new input and the nodes it feeds added, the output reshaped${HUB_SKIP}`, async () => {
    const after = join(dir, 'r50_input.onnx');
    const args = ['--name', 'add_variable', '--shape', 'batch', '--at', 'logits', '--pre', 'relu=ReLU(),dropout=Dropout(0.5)', '--head', 'fc_add=Linear(1001,10),output=Softmax(dim=1)'];
    expect(modsurg(['add-input', resnet50(), ...args, '--weights', fixture('realworld/tutorial_fc_add.pth'), '-o', after]).status).toBe(0);
    const { page, problems } = await viewed([resnet50(), after], 'browser-r50-input');
    expect(await page.evaluate(() => document.querySelector('.summary div')!.textContent)).toBe('+6 nodes, input add_variable float32 [batch] added, output logits [batch, 1000] → [batch, 10]');
    expect(await named(page, 'g.node.input.added')).toEqual(['add_variable']);
    expect(await named(page, 'g.node.input.same')).toEqual(['input']);
    expect((await page.evaluate(() => Array.from(document.querySelectorAll('g.node.op.added text')).map((t) => t.textContent))).sort()).toEqual(['Concat', 'Gemm  ◆2', 'Identity', 'Relu', 'Reshape  ◆1', 'Softmax']);
    // the old fc still feeds the new part: its edge to the output is the one removed
    expect(await page.evaluate(() => document.querySelectorAll('g.edge.removed').length)).toBe(1);
    await closeDrawn(page, problems);
  }, 120_000);

  it('the U-Net with add-output --module up2: one output added, drawn from up2, nothing else changed', async () => {
    const after = join(dir, 'unet_debug.onnx');
    expect(modsurg(['add-output', fixture('unet.onnx'), '--module', 'up2', '--as', 'decoder2', '-o', after]).status).toBe(0);
    const { page, problems } = await viewed([fixture('unet.onnx'), after], 'browser-unet');
    expect(await page.evaluate(() => document.querySelector('.summary')!.textContent)).toBe('+1 node, output decoder2 float32 [batch, 4, 16, 16] added');
    expect(await named(page, 'g.node.output.added')).toEqual(['decoder2']);
    expect(await named(page, 'g.node.output.same')).toEqual(['output']);
    expect(await page.evaluate(() => document.querySelectorAll('g.node.removed, g.node.changed').length)).toBe(0);
    // every module unchanged, so every one collapsed; the added edges leave up2's box
    const collapsed = await page.evaluate(() => Array.from(document.querySelectorAll<SVGGElement>('[data-collapsed]')).map((g) => g.dataset.collapsed).sort());
    expect(collapsed).toEqual(['down1', 'down2', 'inc', 'outc', 'up1', 'up2']);
    expect(await page.evaluate(() => document.querySelectorAll('g.edge.added').length)).toBe(2);
    await closeDrawn(page, problems);
  }, 60_000);

  it.skipIf(!HUB)(`a 1,000-node transformer (BERT's 12 layers) opens with modules collapsed and draws every node on expand all${HUB_SKIP}`, async () => {
    const bert = exportModel('bert', join(dir, 'bert.onnx'));
    const nodes = JSON.parse(modsurg(['inspect', bert, '--json']).stdout).nodes as number;
    expect(nodes).toBeGreaterThan(1000);
    const { page, problems } = await viewed([bert], 'browser-bert');
    const first = await page.evaluate(() => ({ boxes: document.querySelectorAll('g.node').length, collapsed: document.querySelectorAll('[data-collapsed]').length }));
    expect(first.boxes).toBeLessThanOrEqual(300);
    expect(first.collapsed).toBeGreaterThan(10);
    const started = Date.now();
    await page.click('#expand-all');
    const all = await page.evaluate(() => ({ ops: document.querySelectorAll('g.node.op').length, collapsed: document.querySelectorAll('[data-collapsed]').length }));
    console.log(`bert: ${nodes} nodes laid out in the page in ${Date.now() - started} ms`);
    expect(all).toEqual({ ops: nodes, collapsed: 0 });
    // the search finds a node deep inside
    await page.type('#search', 'layer.11.attention.self.query');
    expect(await page.evaluate(() => document.querySelectorAll('.hit').length)).toBeGreaterThan(0);
    await closeDrawn(page, problems);
  }, 180_000);

  it("two checkpoints: the rows coloured by what changed, the changed module's section open", async () => {
    const head = join(dir, 'browser-head.pth');
    expect(modsurg(['replace-head', fixture('resnet_sd.pth'), '--head', 'fc1=Linear(?,16),relu1=ReLU(),fc2=Linear(16,3)', '--seed', '1', '-o', head]).status).toBe(0);
    const { page, problems } = await viewed([fixture('resnet_sd.pth'), head], 'browser-ckpt-diff');
    const rows = await page.evaluate(() =>
      Object.fromEntries(Array.from(document.querySelectorAll<HTMLTableRowElement>('tr[data-key]')).map((tr) => [tr.dataset.key, `${tr.className} ${tr.checkVisibility() ? 'shown' : 'hidden'}`])),
    );
    expect(rows['fc.weight']).toBe('removed shown');
    expect(rows['fc.fc2.bias']).toBe('added shown');
    expect(rows['layer1.0.conv1.weight']).toBe('same hidden');
    const green = await page.evaluate(() => getComputedStyle(document.querySelector('tr.added')!).backgroundColor);
    expect(green).toBe('rgb(217, 242, 223)');
    expect(problems).toEqual([]);
    await page.close();
  }, 60_000);

  it('the page of a model draws, its search finds a module, no console error; a screenshot is not blank', async () => {
    const { page, problems } = await viewed([fixture('resnet_dynamo.onnx')], 'browser-resnet');
    const drawn = await page.evaluate(() => {
      const svg = document.querySelector('svg')!.getBoundingClientRect();
      return { nodes: document.querySelectorAll('g.node').length, width: svg.width, height: svg.height };
    });
    expect(drawn.nodes).toBe(JSON.parse(modsurg(['inspect', fixture('resnet_dynamo.onnx'), '--json']).stdout).nodes + 2);
    expect(drawn.width).toBeGreaterThan(200);
    expect(drawn.height).toBeGreaterThan(400);
    await page.type('#search', 'layer2.0.bn1');
    const found = await page.evaluate(() => ({ hits: document.querySelectorAll('.hit').length, dimmed: document.querySelectorAll('.dim').length }));
    expect(found.hits).toBeGreaterThan(0);
    expect(found.dimmed).toBeGreaterThan(found.hits);
    await closeDrawn(page, problems);
  }, 60_000);

  it("a checkpoint's page opens its sections when a search finds a key inside them", async () => {
    const { page, problems } = await viewed([fixture('resnet_sd.pth')], 'browser-sd');
    await page.type('#search', 'layer2.1.bn2.running_var');
    const state = await page.evaluate(() => {
      const hit = document.querySelector('tr.hit') as HTMLElement | null;
      let closed = 0;
      for (let p = hit?.parentElement; p; p = p.parentElement) if (p.tagName === 'DETAILS' && !(p as HTMLDetailsElement).open) closed++;
      return { key: hit?.dataset.key, closed, visible: hit ? hit.getBoundingClientRect().height > 0 : false };
    });
    expect(state).toEqual({ key: 'layer2.1.bn2.running_var', closed: 0, visible: true });
    expect(problems).toEqual([]);
    await page.close();
  }, 60_000);
});
