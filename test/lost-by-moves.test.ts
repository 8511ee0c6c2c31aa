/**
 * `lostByMoves` (src/document/placements.ts): what a classic sender that moved tasks under a
 * parent removed meanwhile is sent again, as records to add: exactly the tasks it lost, their
 * subtrees, and the records pointing at them, and nothing when it lost nothing.
 */
import { describe, expect, it } from 'vitest';
import { lostByMoves } from '../src/document/placements.js';
import { projectOf } from './support/document.js';

/** Tasks 1 and 2 at the top, 5 under 2 with child 6; a dependency 5 -> 1; no assignment. */
const data = {
  tasks: [
    { id: 1, name: 'One' },
    { id: 2, name: 'Two', children: [{ id: 5, name: 'Five', children: [{ id: 6, name: 'Six' }] }] },
  ],
  dependencies: [{ id: 30, fromTask: 5, toTask: 1 }],
  resources: [{ id: 40, name: 'R' }],
};

describe('lostByMoves', () => {
  it('sends the task moved under a removed parent again with its subtree and the dependencies on it, and no store with nothing to add', () => {
    const t = projectOf(data);
    const outgoing = { tasks: { updated: [{ id: 5, parentId: 2 }] } };
    const repairs = { tasks: { updated: [{ id: 5, parentId: null }] } };
    const lost = lostByMoves(outgoing, repairs, t.project)!;
    expect(Object.keys(lost).sort()).toEqual(['dependencies', 'tasks']);
    expect((lost.tasks as { added: { id: unknown }[] }).added.map((r) => r.id)).toEqual([5, 6]);
    expect(lost.dependencies).toEqual({ added: [{ id: 30, fromTask: 5, toTask: 1 }] });
  });

  it('sends nothing when the repaired tasks are not ones the sender moved', () => {
    const t = projectOf(data);
    const outgoing = { tasks: { updated: [{ id: 1, name: 'Renamed' }] } };
    const repairs = { tasks: { updated: [{ id: 5, parentId: null }] } };
    expect(lostByMoves(outgoing, repairs, t.project)).toBeNull();
    expect(lostByMoves(outgoing, null, t.project)).toBeNull();
  });

  it('sends nothing for a repaired task the sender wrote without moving it (its client kept it)', () => {
    const t = projectOf(data);
    // Task 5 put at the top by a rule (a parent cycle broken at it, say) while the sender renamed it.
    const outgoing = { tasks: { updated: [{ id: 5, name: 'Renamed' }] } };
    const repairs = { tasks: { updated: [{ id: 5, parentId: null }] } };
    expect(lostByMoves(outgoing, repairs, t.project)).toBeNull();
  });

  it('sends nothing when the sender changed no task at all', () => {
    const t = projectOf(data);
    const repairs = { tasks: { updated: [{ id: 5, parentId: null }] } };
    expect(lostByMoves({ resources: { updated: [{ id: 40, name: 'S' }] } }, repairs, t.project)).toBeNull();
    expect(lostByMoves({ tasks: { removed: [{ id: 1 }] } }, repairs, t.project)).toBeNull();
  });
});
