/// <reference lib="dom" />
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture, modsurg, ROOT, scratchDir } from '../helpers/cli.js';
import { ORACLE_PYTHON, ORACLE_SKIP, python } from '../helpers/oracle.js';

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

const CHECKPOINTS = ['resnet_sd.pth', 'resnet_dp.pth', 'resnet_legacy.pth', 'resnet_sd.safetensors', 'lightning_ckpt.pth', 'resnet_model.pth'];

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
      expect(html.replace('http://www.w3.org/2000/svg', ''), model).not.toMatch(/https?:\/\//);
      const nodes = JSON.parse(modsurg(['inspect', model, '--json']).stdout).nodes as number;
      expect((html.match(/<g class="node op"/g) ?? []).length, model).toBe(nodes);
    }
  });

  it('draws checkpoints as their modules, every tensor listed with its key', () => {
    for (const name of CHECKPOINTS) {
      const out = join(dir, `${name}.html`);
      expect(modsurg(['view', fixture(name), '-o', out]).status, name).toBe(0);
      const html = readFileSync(out, 'utf8');
      const tensors = (JSON.parse(modsurg(['inspect', fixture(name), '--json']).stdout).tensors as { name: string }[]).map((t) => t.name);
      expect(tensors.length).toBeGreaterThan(0);
      for (const key of tensors) expect(html, `${name}: ${key}`).toContain(`data-key="${key}"`);
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

/** Debian's chromium; under CI it must be there (scripts/setup-browser.sh installs it). */
const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((path) => existsSync(path));
if (!CHROMIUM && process.env.CI) throw new Error('chromium is missing; run scripts/setup-browser.sh');

describe.skipIf(!CHROMIUM)(`view in a real browser${CHROMIUM ? '' : ' (skipped: no chromium; run scripts/setup-browser.sh)'}`, () => {
  let browser: import('puppeteer-core').Browser;
  beforeAll(async () => {
    const puppeteer = await import('puppeteer-core');
    browser = await puppeteer.launch({ executablePath: CHROMIUM!, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'], headless: true });
  }, 60_000);
  afterAll(async () => browser?.close());

  it('the page of a model draws, its search finds a module, no console error; a screenshot is not blank', async () => {
    const out = join(dir, 'browser-resnet.html');
    expect(modsurg(['view', fixture('resnet_dynamo.onnx'), '-o', out]).status).toBe(0);
    const page = await browser.newPage();
    const problems: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(message.text());
    });
    page.on('pageerror', (error) => problems.push(String(error)));
    await page.setViewport({ width: 1000, height: 900 });
    await page.goto(`file://${out}`, { waitUntil: 'load' });
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
    const shot = Buffer.from(await page.screenshot({ type: 'png' }));
    // a page of one colour compresses to a few kilobytes; a drawing does not
    expect(shot.length).toBeGreaterThan(20_000);
    expect(problems).toEqual([]);
    await page.close();
  }, 60_000);

  it("a checkpoint's page opens its sections when a search finds a key inside them", async () => {
    const out = join(dir, 'browser-sd.html');
    expect(modsurg(['view', fixture('resnet_sd.pth'), '-o', out]).status).toBe(0);
    const page = await browser.newPage();
    await page.goto(`file://${out}`, { waitUntil: 'load' });
    await page.type('#search', 'layer2.1.bn2.running_var');
    const state = await page.evaluate(() => {
      const hit = document.querySelector('tr.hit') as HTMLElement | null;
      let closed = 0;
      for (let p = hit?.parentElement; p; p = p.parentElement) if (p.tagName === 'DETAILS' && !(p as HTMLDetailsElement).open) closed++;
      return { key: hit?.dataset.key, closed, visible: hit ? hit.getBoundingClientRect().height > 0 : false };
    });
    expect(state).toEqual({ key: 'layer2.1.bn2.running_var', closed: 0, visible: true });
    await page.close();
  }, 60_000);
});
