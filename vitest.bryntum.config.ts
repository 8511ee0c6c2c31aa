import { defineConfig } from 'vitest/config';

/**
 * Real Bryntum clients (a bundle from BRYNTUM_BUNDLE or the trial in .bryntum/); see README
 * "Testing with real Bryntum clients".
 */
export default defineConfig({
  test: {
    include: ['test/bryntum/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    // A promise the Bryntum library itself leaves rejected while applying a change (seen: its
    // tree's toggleCollapse in applyProjectChanges) is the client's own failure, as a browser
    // console would show it; the tests judge the clients by what they end up holding. Errors
    // raised anywhere else still fail the run.
    onUnhandledError(error) {
      const frames = String(error.stack ?? '').split('\n').filter((line) => /^\s*at /.test(line));
      if (frames.length > 0 && frames[0].includes('bryntum-gantt.umd.js')) {
        console.warn(`Bryntum library error inside a client (not counted): ${error.message}`);
        return false;
      }
    },
  },
});
