#!/usr/bin/env node
// Bundles the page script of `modsurg view` (src/view/client.ts, with dagre and the layout and SVG code
// the command line uses) into one minified file, dist/view/client.js, which every page inlines: the page
// opens from disk and fetches nothing. esbuild, because a page script needs its imports in one file.
import { build } from 'esbuild';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
await build({
  entryPoints: [join(root, 'src/view/client.ts')],
  outfile: join(root, 'dist/view/client.js'),
  bundle: true,
  format: 'iife',
  platform: 'browser',
  target: 'es2020',
  minify: true,
  legalComments: 'none',
  logLevel: 'warning',
});
