import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Needs Bryntum's library, which Weft cannot ship: `npm run test:bryntum` (README).
    exclude: [...configDefaults.exclude, 'test/bryntum/**'],
    reporters: ['default', './test/support/summary-reporter.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
