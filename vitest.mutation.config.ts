import { configDefaults, defineConfig } from 'vitest/config';
import base from './vitest.config.js';
import HookFailuresReporter from './test/support/hook-failures-reporter.js';

/**
 * The suite as `npm run mutation` runs it. Left out: files that drive the built executable (dist/,
 * a child process) or need root (a tmpfs mount), which never run the mutated src/ and would
 * rebuild or spawn on every run, and the headless Chromium page, whose time limits instrumented
 * code misses.
 */
export default defineConfig({
  test: {
    ...base.test,
    exclude: [
      ...configDefaults.exclude,
      'test/bryntum/**',
      'test/cli.test.ts',
      'test/executable.test.ts',
      'test/history-cli-executable.test.ts',
      'test/history-page.test.ts',
      'test/simulate.test.ts',
      'test/storage-full-disk.test.ts',
    ],
    // A mutant reached by a file's hooks is tested against that file's tests (see the file).
    setupFiles: [...(base.test?.setupFiles ?? []), './test/support/hook-coverage.ts'],
    // Tests of a file whose setup or teardown failed count as failed (see the reporter).
    reporters: ['default', new HookFailuresReporter()],
  },
});
