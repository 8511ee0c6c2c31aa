/**
 * The pure part of `hook-coverage.ts`: moving the mutant hits a test file's hooks caused from
 * Stryker's static coverage to each test of the file. Test ids are built the way Stryker's Vitest
 * runner builds them (file path, `#`, the names from the file down to the test, space-joined).
 */

export interface Coverage {
  static: Record<string, number>;
  perTest: Record<string, Record<string, number>>;
}

export interface TaskLike {
  type: string;
  name: string;
  suite?: TaskLike;
  file?: { filepath?: string };
  tasks?: TaskLike[];
}

export function testIdOf(test: TaskLike): string {
  const names = [test.name];
  for (let suite = test.suite; suite; suite = suite.suite) names.unshift(suite.name);
  return `${test.file?.filepath ?? 'unknown.js'}#${names.join(' ').trim()}`;
}

function testsOf(task: TaskLike): TaskLike[] {
  if (task.type === 'test') return [task];
  return (task.tasks ?? []).flatMap(testsOf);
}

/** Hits in `coverage.static` beyond `before` go to every test below `file`. */
export function moveHookHits(coverage: Coverage, before: Record<string, number>, file: TaskLike): void {
  const tests = testsOf(file).map(testIdOf);
  if (tests.length === 0) return;
  for (const [mutant, hits] of Object.entries(coverage.static)) {
    const during = hits - (before[mutant] ?? 0);
    if (during <= 0) continue;
    if (hits === during) delete coverage.static[mutant];
    else coverage.static[mutant] = hits - during;
    for (const id of tests) {
      const perTest = (coverage.perTest[id] ??= {});
      perTest[mutant] = (perTest[mutant] ?? 0) + during;
    }
  }
}
