import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // end-to-end tests start the CLI and the Python oracle (torch import takes seconds)
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
