/**
 * RecentPlacements (src/document/placements.ts): which changes of the task tree count as
 * concurrent with another writer's, for how long, and the final places it tells a classic sender
 * (parents before children, siblings in order).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RecentPlacements } from '../src/document/placements.js';
import { projectOf } from './support/document.js';

const WINDOW = 1000;
/** A task placed at an index among its siblings. */
const mv = (id: number, index: number) => ({ tasks: { updated: [{ id, parentIndex: index }] } });

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(0);
});
afterEach(() => vi.useRealTimers());

describe('changes of the task tree by several writers', () => {
  it('count as concurrent only when another writer changed the tree, a removal too, and a rename never', () => {
    const p = new RecentPlacements(WINDOW);
    expect(p.note('a', [{ tasks: { updated: [{ id: 1, name: 'renamed' }] } }, null])).toEqual({ concurrent: false });
    expect(p.note('b', [mv(2, 0)])).toEqual({ concurrent: false });
    // One's own earlier move does not count.
    expect(p.note('b', [mv(2, 1)])).toEqual({ concurrent: false });
    expect(p.note('a', [{ tasks: { removed: [{ id: 5 }] } }])).toEqual({ concurrent: true });
    expect(p.note('b', [mv(2, 0)])).toEqual({ concurrent: true });
  });

  it('count a move by parentId alone, or by orderedParentIndex alone, as a change of the tree', () => {
    const byParent = new RecentPlacements(WINDOW);
    byParent.note('a', [{ tasks: { updated: [{ id: 1, parentId: 2 }] } }]);
    expect(byParent.note('b', [mv(3, 0)])).toEqual({ concurrent: true });
    const byOrder = new RecentPlacements(WINDOW);
    byOrder.note('a', [{ tasks: { updated: [{ id: 1, orderedParentIndex: 0 }] } }]);
    expect(byOrder.note('b', [mv(3, 0)])).toEqual({ concurrent: true });
  });

  it('are concurrent up to exactly the window apart, and not a millisecond later', () => {
    const p = new RecentPlacements(WINDOW);
    vi.setSystemTime(10_000);
    p.note('c', [mv(3, 0)]);
    vi.setSystemTime(11_000);
    expect(p.note('d', [mv(4, 0)])).toEqual({ concurrent: true });
    vi.setSystemTime(12_001);
    expect(p.note('e', [mv(4, 1)])).toEqual({ concurrent: false });
  });

  it("count the server's own writes once marked, and nothing after clear", () => {
    const marked = new RecentPlacements(WINDOW);
    marked.markWriter('server');
    expect(marked.note('c', [mv(1, 0)])).toEqual({ concurrent: true });
    const cleared = new RecentPlacements(WINDOW);
    cleared.note('a', [mv(1, 0)]);
    cleared.clear();
    expect(cleared.note('b', [mv(2, 0)])).toEqual({ concurrent: false });
    expect(cleared.finals(projectOf({ tasks: [{ id: 1 }, { id: 2 }] }).project)).toEqual({ tasks: { updated: [{ id: 2, parentId: null, parentIndex: 1, orderedParentIndex: 1 }] } });
  });
});

describe('the final places of recently placed tasks', () => {
  // 1 > (2 > 3), 8, 9; 4; 5 > 6, 7
  const data = { tasks: [{ id: 1, children: [{ id: 2, children: [{ id: 3 }] }, { id: 8 }, { id: 9 }] }, { id: 4 }, { id: 5, children: [{ id: 6 }, { id: 7 }] }] };
  const row = (id: number, parentId: number | null, index: number) => ({ id, parentId, parentIndex: index, orderedParentIndex: index });

  it('come parents first, then by parent, then in sibling order, whatever order they were placed in', () => {
    const t = projectOf(data, 'number');
    const p = new RecentPlacements(WINDOW);
    expect(p.finals(t.project)).toBeNull();
    p.note('a', [{ tasks: { updated: [3, 9, 7, 2, 8, 6, 4, 1].map((id) => ({ id, parentIndex: 0 })) } }]);
    expect(p.finals(t.project)).toEqual({
      tasks: { updated: [row(1, null, 0), row(4, null, 1), row(2, 1, 0), row(8, 1, 1), row(9, 1, 2), row(6, 5, 0), row(7, 5, 1), row(3, 2, 0)] },
    });
  });

  it('are kept for the window, and not for tasks removed since', () => {
    const t = projectOf(data, 'number');
    const p = new RecentPlacements(WINDOW);
    p.note('a', [mv(2, 0)]);
    vi.setSystemTime(1000);
    p.note('b', [mv(6, 0)]);
    const ids = () => ((p.finals(t.project)?.tasks as { updated: { id: number }[] } | undefined)?.updated ?? []).map((r) => r.id);
    expect(ids()).toEqual([2, 6]);
    vi.setSystemTime(1001);
    expect(ids()).toEqual([6]);
    t.apply({ tasks: { removed: [{ id: 6 }] } });
    expect(ids()).toEqual([]);
  });

  it('are kept for at most 50,000 tasks, the oldest forgotten first', () => {
    const t = projectOf(data, 'number');
    const p = new RecentPlacements(WINDOW);
    // Ids beyond the project's stand for tasks placed elsewhere: finals passes over them.
    p.note('a', [{ tasks: { added: [{ id: 1 }, ...Array.from({ length: 49_999 }, (_, i) => ({ id: 100_000 + i }))] } }]);
    const ids = () => ((p.finals(t.project)?.tasks as { updated: { id: number }[] } | undefined)?.updated ?? []).map((r) => r.id);
    expect(ids()).toEqual([1]);
    p.note('a', [{ tasks: { added: [{ id: 200_000 }] } }]);
    expect(ids()).toEqual([]);
  });
});
