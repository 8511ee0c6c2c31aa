/**
 * The seed of every randomised test. `WEFT_TEST_SEED=<n>` replays a run, `WEFT_TEST_SEED=random`
 * explores new cases; without it the seed is fixed, so `npm test` checks the same cases every time
 * (and the known failures kept as expected ones stay where they are). Importing this module makes
 * it fast-check's default seed, and a failing property names the seed and how to replay it.
 */
import fc from 'fast-check';

const DEFAULT_SEED = 20261204;

function seedFrom(raw: string | undefined): number {
  if (raw === undefined || raw === '') return DEFAULT_SEED;
  if (raw === 'random') return (Date.now() ^ (Math.random() * 0x100000000)) | 0;
  const seed = Number(raw);
  if (!Number.isInteger(seed)) throw new Error(`WEFT_TEST_SEED=${raw}: a whole number or "random"`);
  return seed | 0;
}

// WEFT_PROPERTY_SEED is the name the convergence property tests read before.
export const TEST_SEED = seedFrom(process.env.WEFT_TEST_SEED ?? process.env.WEFT_PROPERTY_SEED);

/** The line that tells how to run a failure again. */
export function replayHint(seed: number = TEST_SEED): string {
  return `replay with WEFT_TEST_SEED=${seed} (the seed of this run)`;
}

fc.configureGlobal({
  ...fc.readConfigureGlobal(),
  seed: TEST_SEED,
  reporter: (details) => {
    if (!details.failed) return;
    throw new Error(`${fc.defaultReportMessage(details)}\n${replayHint(details.seed)}`, { cause: details.errorInstance });
  },
});
