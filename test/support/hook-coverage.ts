/**
 * For `npm run mutation` only (a setup file of `vitest.mutation.config.ts`). Stryker records which
 * tests reach each mutant while its first run goes; code run by a file's `beforeAll` or `afterAll`
 * (most files start their server there) is reached outside any test and recorded as "static".
 * Under `--ignoreStatic` such a mutant is then tested only against the few tests that reach it
 * themselves, or left out, although every test of that file runs it. Here the hits counted while
 * a file ran, outside its tests, are moved to each of that file's tests. A mutant is still killed
 * only by a test that fails with it active: Stryker turns it on in its own `beforeAll`, before the
 * file's. Hits while a module loads (before the first hook) stay static: a mutant there can only
 * be turned on by loading the module again.
 */
import { afterAll, beforeAll, inject } from 'vitest';
import { moveHookHits, type Coverage, type TaskLike } from './hook-hits.js';

interface StrykerGlobal {
  mutantCoverage?: Coverage;
}

// Stryker's setup file registers first, so its hooks wrap these.
const ns = (): StrykerGlobal | undefined => (globalThis as { __stryker__?: StrykerGlobal }).__stryker__;
const dryRun = inject('mode' as never) === 'dry-run';

let before: Record<string, number> = {};

beforeAll(() => {
  if (dryRun) before = { ...ns()?.mutantCoverage?.static };
});

// Vitest reads the first parameter's pattern: it must destructure.
afterAll(({}, suite) => {
  const coverage = ns()?.mutantCoverage;
  if (dryRun && coverage) moveHookHits(coverage, before, suite as unknown as TaskLike);
});
