/**
 * The reporter `npm run mutation` adds so that a mutant breaking a test file's setup counts as
 * killed: the tests Vitest skipped for a failed top-level hook are marked failed.
 */
import { describe, expect, it } from 'vitest';
import type { Vitest } from 'vitest/node';
import HookFailuresReporter from './support/hook-failures-reporter.js';

type Task = { type: string; mode: string; result?: { state?: string; errors?: unknown[] }; tasks?: Task[] };
const test = (mode: string, state?: string): Task => ({ type: 'test', mode, result: state === undefined ? undefined : { state } });

function report(files: Task[]): void {
  const reporter = new HookFailuresReporter();
  reporter.onInit({ state: { getFiles: () => files } } as unknown as Vitest);
  reporter.onTestRunEnd();
}

describe('the hook failures reporter', () => {
  it('marks the skipped tests of a file whose own setup failed as failed, with its error, nested ones too', () => {
    const error = { message: 'setup broke' };
    const nested = test('skip', 'skip');
    const top = test('skip', 'skip');
    report([{ type: 'suite', mode: 'run', result: { state: 'fail', errors: [error] }, tasks: [{ type: 'suite', mode: 'skip', tasks: [nested] }, top] }]);
    for (const t of [nested, top]) expect(t).toMatchObject({ mode: 'run', result: { state: 'fail', errors: [error] } });
  });

  it('marks the passed tests of a file whose teardown failed as failed, leaving its failed ones', () => {
    const error = { message: 'afterAll broke' };
    const passed = test('run', 'pass');
    const failed: Task = { type: 'test', mode: 'run', result: { state: 'fail', errors: [{ message: 'own' }] } };
    report([{ type: 'suite', mode: 'run', result: { state: 'fail', errors: [error] }, tasks: [passed, failed] }]);
    expect(passed).toMatchObject({ mode: 'run', result: { state: 'fail', errors: [error] } });
    expect(failed.result?.errors).toEqual([{ message: 'own' }]);
  });

  it('leaves files whose tests failed or passed as they are', () => {
    const skipped = test('skip', 'skip');
    const passed = test('run', 'pass');
    const files = [
      { type: 'suite', mode: 'run', result: { state: 'fail', errors: [] }, tasks: [test('run', 'fail'), skipped] },
      { type: 'suite', mode: 'run', result: { state: 'pass' }, tasks: [passed] },
    ];
    report(files);
    expect(skipped).toEqual(test('skip', 'skip'));
    expect(passed).toEqual(test('run', 'pass'));
  });
});
