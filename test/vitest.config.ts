import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // The JSON report feeds the one-line summary that .ci/run prints.
    reporters: ['default', 'json'],
    outputFile: { json: './test-results/vitest.json' },
    testTimeout: 30_000,
    hookTimeout: 60_000,
    projects: [
      {
        extends: true,
        test: { name: 'files', include: ['files/**/*.test.ts'] },
      },
      {
        // One control plane per run (2 cores): started by the global setup, shared by the
        // files of this project one after the other, each test in a namespace of its own.
        extends: true,
        test: {
          name: 'cluster',
          include: ['cluster/**/*.test.ts'],
          globalSetup: ['./cluster/globalSetup.ts'],
          fileParallelism: false,
          testTimeout: 60_000,
        },
      },
      {
        // A platform CA rollover replaces the root CA of the whole platform: this project's files
        // start their own control plane and platform, so the shared one of "cluster" never sees it.
        extends: true,
        test: {
          name: 'rollover',
          include: ['rollover/**/*.test.ts'],
          fileParallelism: false,
          testTimeout: 180_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
