import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // The JSON report feeds the one-line summary that .ci/run prints.
    reporters: ['default', 'json'],
    outputFile: { json: './test-results/vitest.json' },
    include: ['test/**/*.test.ts'],
    testTimeout: 20_000,
  },
});
