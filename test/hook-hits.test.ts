/**
 * What `npm run mutation` does with the mutant hits of a test file's hooks: they go to each test
 * of that file, so Stryker tests such a mutant against them (see test/support/hook-coverage.ts).
 */
import { describe, expect, it } from 'vitest';
import { moveHookHits, testIdOf, type Coverage, type TaskLike } from './support/hook-hits.js';

function file(): TaskLike {
  const f: TaskLike = { type: 'suite', name: '', file: { filepath: '/w/test/a.test.ts' }, tasks: [] };
  const group: TaskLike = { type: 'suite', name: 'the room', file: f.file, tasks: [] };
  const top: TaskLike = { type: 'test', name: 'starts', file: f.file };
  const inner: TaskLike = { type: 'test', name: 'stops', file: f.file, suite: group };
  group.tasks = [inner];
  f.tasks = [top, group];
  return f;
}

describe('moving hook hits to a file’s tests', () => {
  it('names tests as Stryker’s Vitest runner does: path, #, the suite names down to the test', () => {
    const [top, group] = file().tasks!;
    expect(testIdOf(top!)).toBe('/w/test/a.test.ts#starts');
    expect(testIdOf(group!.tasks![0]!)).toBe('/w/test/a.test.ts#the room stops');
  });

  it('gives the hits counted while the file ran to every one of its tests and keeps those from before', () => {
    const coverage: Coverage = {
      static: { '1': 2, '2': 5, '3': 4 },
      perTest: { '/w/test/a.test.ts#starts': { '1': 1, '9': 3 } },
    };
    moveHookHits(coverage, { '2': 5, '3': 1 }, file());
    // '1' was hit only by hooks, '2' only while modules loaded, '3' both.
    expect(coverage.static).toEqual({ '2': 5, '3': 1 });
    expect(coverage.perTest).toEqual({
      '/w/test/a.test.ts#starts': { '1': 3, '9': 3, '3': 3 },
      '/w/test/a.test.ts#the room stops': { '1': 2, '3': 3 },
    });
  });

  it('leaves the coverage alone when the file has no tests', () => {
    const coverage: Coverage = { static: { '1': 2 }, perTest: {} };
    moveHookHits(coverage, {}, { type: 'suite', name: '', tasks: [] });
    expect(coverage).toEqual({ static: { '1': 2 }, perTest: {} });
  });
});
