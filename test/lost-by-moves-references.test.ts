/**
 * `lostByMoves` (src/document/placements.ts): which tasks a sender lost (only those it moved and
 * that were repaired to the top), the places of the subtree sent again, and the dependencies and
 * assignments sent with them, whichever reference field points at a lost task.
 */
import { describe, expect, it } from 'vitest';
import { lostByMoves } from '../src/document/placements.js';
import { projectOf } from './support/document.js';

/** Tasks 1 and 2 at the top, 5 under 2 with child 6; dependencies and assignments by every reference field. */
const data = {
  tasks: [
    { id: 1, name: 'One' },
    { id: 2, name: 'Two', children: [{ id: 5, name: 'Five', children: [{ id: 6, name: 'Six' }] }] },
  ],
  dependencies: [
    { id: 30, fromTask: 5, toTask: 1 },
    { id: 31, fromTask: 1, toTask: 2 },
    { id: 33, fromTask: 1, toTask: 6 },
    { id: 34, fromEvent: 6, toEvent: 1 },
    { id: 35, from: 6, to: 1 },
    { id: 36, fromEvent: 1, toEvent: 6 },
    { id: 37, from: 1, to: 6 },
  ],
  resources: [{ id: 40, name: 'R' }],
  assignments: [
    { id: 50, event: 6, resource: 40 },
    { id: 51, eventId: 5, resource: 40 },
    { id: 52, event: 1, resource: 40 },
  ],
};

type Added = { added: Record<string, unknown>[] };
const ids = (entry: unknown) => (entry as Added).added.map((r) => r.id as number).sort((a, b) => a - b);

describe('lostByMoves', () => {
  it('sends again only the moved tasks that were repaired, not other moved tasks', () => {
    const t = projectOf(data);
    const outgoing = { tasks: { updated: [{ id: 5, parentId: 2 }, { id: 1, parentId: 2 }] } };
    const repairs = { tasks: { updated: [{ id: 5, parentId: null }] } };
    const lost = lostByMoves(outgoing, repairs, t.project)!;
    expect((lost.tasks as Added).added.map((r) => r.id)).toEqual([5, 6]);
  });

  it('gives every task sent again its parent and its index among that parent’s children', () => {
    const t = projectOf({
      tasks: [
        { id: 1, name: 'One' },
        { id: 2, name: 'Two', children: [{ id: 3, name: 'Three' }, { id: 5, name: 'Five', children: [{ id: 7, name: 'Seven' }, { id: 6, name: 'Six' }] }] },
      ],
    });
    const outgoing = { tasks: { updated: [{ id: 5, parentId: 2 }] } };
    const repairs = { tasks: { updated: [{ id: 5, parentId: null }] } };
    const added = (lostByMoves(outgoing, repairs, t.project)!.tasks as Added).added;
    expect(added.map(({ id, parentId, parentIndex, orderedParentIndex }) => ({ id, parentId, parentIndex, orderedParentIndex }))).toEqual([
      { id: 5, parentId: 2, parentIndex: 1, orderedParentIndex: 1 },
      { id: 7, parentId: 5, parentIndex: 0, orderedParentIndex: 0 },
      { id: 6, parentId: 5, parentIndex: 1, orderedParentIndex: 1 },
    ]);
    expect(added[2]).toMatchObject({ name: 'Six' });
  });

  it('sends the dependencies and assignments that point at a lost task by any reference field, and no others', () => {
    const t = projectOf(data);
    const outgoing = { tasks: { updated: [{ id: 5, parentId: 2 }] } };
    const repairs = { tasks: { updated: [{ id: 5, parentId: null }] } };
    const lost = lostByMoves(outgoing, repairs, t.project)!;
    expect(ids(lost.dependencies)).toEqual([30, 33, 34, 35, 36, 37]);
    expect(ids(lost.assignments)).toEqual([50, 51]);
  });
});
