import { defineConfig } from 'vitest/config';

/** The vitest configuration of every package: its tests in test/, a JSON report for .ci/run's summary. */
export const packageTestConfig = defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 20_000,
    reporters: ['default', 'json'],
    outputFile: { json: './test-results/vitest.json' },
  },
});
