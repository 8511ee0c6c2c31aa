import { defineConfig } from 'vitest/config';

/** Real Bryntum clients (a bundle from BRYNTUM_BUNDLE or the trial in .bryntum/); see README "Testing with real Bryntum clients". */
export default defineConfig({
  test: {
    include: ['test/bryntum/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
  },
});
