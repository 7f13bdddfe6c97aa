import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Files that start servers run side by side; two cores are enough for a few at once.
    maxWorkers: 2,
  },
});
