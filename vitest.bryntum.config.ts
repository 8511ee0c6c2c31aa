import { defineConfig } from 'vitest/config';

/** Real Bryntum clients (BRYNTUM_BUNDLE=/path/to/gantt.umd.js); see README "Testing with real Bryntum clients". */
export default defineConfig({
  test: {
    include: ['test/bryntum/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
  },
});
