#!/usr/bin/env node
// The README's two pictures of `modsurg view`: torchvision's ResNet-50 before the tutorial's head
// replacement, and what replace-head changed. Reruns the whole story: export (the oracle's torch, with
// the hub packages), replace-head, view, and a screenshot of each page in Debian's chromium.
//
//   npm run build && node scripts/screenshots.mjs      → docs/view-before.png, docs/view-after.png
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import puppeteer from 'puppeteer-core';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const work = mkdtempSync(join(tmpdir(), 'modsurg-shots-'));
const run = (command, args) => {
  const result = spawnSync(command, args, { cwd: work, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')}: ${result.stderr}`);
};
const modsurg = (...args) => run(process.execPath, [join(root, 'bin/run.js'), ...args]);

try {
  run(join(root, '.oracle/bin/python'), [join(root, 'test/oracle/export_models.py'), 'resnet50', 'resnet50.onnx']);
  modsurg('replace-head', 'resnet50.onnx', '--at', 'fc', '--head', 'fc1=Linear(2048,128),relu1=ReLU(),dropout1=Dropout(0.5),fc2=Linear(128,10),output=Softmax(dim=1)', '--seed', '1', '-o', 'resnet50_10.onnx', '-q');
  modsurg('view', 'resnet50.onnx', '-o', 'before.html', '-q');
  modsurg('view', 'resnet50.onnx', 'resnet50_10.onnx', '-o', 'after.html', '-q');
  const browser = await puppeteer.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu'], headless: true });
  const page = await browser.newPage();
  await page.setViewport({ width: 760, height: 600, deviceScaleFactor: 1 });
  // before: the top-level modules collapsed, the head (fc) open
  await page.goto(`file://${join(work, 'before.html')}`);
  await page.click('#collapse-all');
  await page.click('[data-collapsed="fc"]');
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: join(root, 'docs/view-before.png'), fullPage: true });
  // after: the page as it opens, unchanged modules collapsed
  await page.goto(`file://${join(work, 'after.html')}`);
  await page.screenshot({ path: join(root, 'docs/view-after.png'), fullPage: true });
  await browser.close();
  console.log('docs/view-before.png, docs/view-after.png');
} finally {
  rmSync(work, { recursive: true, force: true });
}
