import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // end-to-end tests start the CLI and the Python oracle (torch import takes seconds)
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // test files mostly wait on the CLI and oracle processes they start: use every core (vitest keeps one
    // free by default, which on a 2-core machine runs the files one at a time)
    maxWorkers: Math.max(2, availableParallelism()),
    reporters: ['default', './test/helpers/skip-summary.ts'],
  },
});
