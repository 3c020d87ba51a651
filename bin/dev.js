#!/usr/bin/env -S node --import tsx
// Development entry: rebuilds nothing, runs the compiled CLI after `npm run build` in watch mode elsewhere.
import { runCli } from '../dist/cli/main.js';

await runCli(process.argv.slice(2), import.meta.url);
