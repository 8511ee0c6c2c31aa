/**
 * For `npm run mutation` only. When a test file's top-level `beforeAll` fails, Vitest fails the
 * file and marks each of its tests skipped. Stryker's Vitest runner reads a skipped test as one
 * that did not fail: it looks for a failed suite above the test, and tests at the top of a file
 * have none. When its `afterAll` fails (a server that no longer closes), the tests have passed.
 * Either way a mutant that breaks a file's setup or teardown would survive although `npm test`
 * fails. Here the tests of a file that failed with an error of its own (a hook's, not a test's)
 * that did not fail themselves are marked failed with that error, before Stryker reads the
 * results.
 */
import type { Reporter, Vitest } from 'vitest/node';

interface RawTask {
  type: string;
  mode: string;
  result?: { state?: string; errors?: unknown[] };
  tasks?: RawTask[];
}

export default class HookFailuresReporter implements Reporter {
  private vitest: Vitest | null = null;

  onInit(vitest: Vitest): void {
    this.vitest = vitest;
  }

  onTestRunEnd(): void {
    for (const file of (this.vitest?.state.getFiles() ?? []) as unknown as RawTask[]) {
      const errors = file.result?.errors;
      if (file.result?.state !== 'fail' || !errors?.length) continue;
      const mark = (task: RawTask): void => {
        // Vitest marks them skipped in mode as well, which Stryker reads first.
        if (task.type === 'test' && (task.result?.state === 'skip' || task.result?.state === 'pass')) {
          task.mode = 'run';
          task.result = { ...task.result, state: 'fail', errors };
        }
        task.tasks?.forEach(mark);
      };
      file.tasks?.forEach(mark);
    }
  }
}
