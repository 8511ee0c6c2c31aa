/**
 * What Bryntum clients are told of writes that did not come as a Bryntum change: a Yjs peer
 * rewriting a record's base or moving a task (told with its new position), a restore (told only
 * the differences, change logs left alone, parents before their children), and what a new
 * peer is sent of the document.
 */
import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { BASE_FIELD, ORDER_FIELD, newRecord, readField, storeMap } from '../src/document/layout.js';
import { keyBetween } from '../src/document/order.js';
import { ProjectDocument } from '../src/document/project-document.js';
import { restoreState } from '../src/document/restore.js';
import { projectOf, pushReplica as push, replicaOf } from './support/document.js';

type Rec = Record<string, any>;

const TREE = {
  tasks: [
    { id: 1, name: 'one', children: [{ id: 11 }, { id: 12 }, { id: 13, name: 'thirteen' }, { id: 14 }] },
    { id: 2, name: 'two', children: [{ id: 21 }] },
  ],
  resources: [{ id: 'r1', name: 'first', city: 'Oslo' }],
};

describe('a Yjs peer rewriting records', () => {
  it("a rewritten base is told as the record's fields, with the new position of a task it moves", () => {
    const t = projectOf(TREE, 'number');
    const replica = replicaOf(t.project);
    const task = storeMap(replica, 'tasks').get('13')!;
    task.set(BASE_FIELD, { ...(task.get(BASE_FIELD) as Rec), name: 'rebased', parentId: 2 });
    const resource = storeMap(replica, 'resources').get('r1')!;
    resource.set(BASE_FIELD, { ...(resource.get(BASE_FIELD) as Rec), name: 'R' });
    const told = push(replica, t.project)!;
    expect(t.children(2)).toContain(13);
    const index = t.children(2).indexOf(13);
    expect(told.tasks.updated).toEqual([{ id: 13, name: 'rebased', parentId: 2, parentIndex: index, orderedParentIndex: index }]);
    expect(told.resources.updated).toEqual([{ id: 'r1', name: 'R', city: 'Oslo' }]);
  });

  it('a task moved by its parent alone is told with its parent and position', () => {
    const t = projectOf(TREE, 'number');
    const replica = replicaOf(t.project);
    storeMap(replica, 'tasks').get('13')!.set('parentId', 2);
    const told = push(replica, t.project)!;
    const index = t.children(2).indexOf(13);
    expect(index).toBeGreaterThanOrEqual(0);
    expect(told).toEqual({ tasks: { updated: [{ id: 13, parentId: 2, parentIndex: index, orderedParentIndex: index }] } });
  });

  it('a task moved by its order key alone is told with its unchanged parent and its new position', () => {
    const t = projectOf(TREE, 'number');
    const replica = replicaOf(t.project);
    const tasks = storeMap(replica, 'tasks');
    tasks.get('14')!.set(ORDER_FIELD, keyBetween(null, readField(tasks.get('11')!, ORDER_FIELD) as string));
    const told = push(replica, t.project)!;
    expect(t.children(1)).toEqual([14, 11, 12, 13]);
    expect(told).toEqual({ tasks: { updated: [{ id: 14, parentId: 1, parentIndex: 0, orderedParentIndex: 0 }] } });
  });

});

describe('a task stored without a parent link', () => {
  it('is told with a null parent when a peer moves it among its siblings', () => {
    const doc = new Y.Doc();
    const stored = storeMap(doc, 'tasks');
    stored.set('1', newRecord({ id: 1, $order: 'a0' }));
    stored.set('2', newRecord({ id: 2, $order: 'a1' }));
    const project = new ProjectDocument(doc);
    const replica = replicaOf(project);
    storeMap(replica, 'tasks').get('2')!.set(ORDER_FIELD, keyBetween(null, 'a0'));
    expect(push(replica, project)).toEqual({ tasks: { updated: [{ id: 2, parentId: null, parentIndex: 0, orderedParentIndex: 0 }] } });
  });
});

describe('a stored state without every store', () => {
  it("still refuses a peer's non-record under a store it lacked", () => {
    const stored = new Y.Doc();
    storeMap(stored, 'tasks').set('1', newRecord({ id: 1, parentId: null }));
    const project = ProjectDocument.fromUpdate(Y.encodeStateAsUpdateV2(stored));
    expect(project.doc.share.has('changelogs')).toBe(false);
    const fresh = new Y.Doc();
    fresh.getMap('changelogs').set('x', 42);
    expect(() => project.applyUpdate(Y.encodeStateAsUpdate(fresh), 'peer')).toThrow('changelogs "x": a record must be a map');
  });
});

describe("a new peer's copy of the document", () => {
  it('is encoded again once the updates since hold more than half as many bytes as it', () => {
    const t = projectOf({ resources: Array.from({ length: 20 }, (_, i) => ({ id: `r${i}`, name: `resource ${i}` })) });
    const EMPTY = new Uint8Array([0]);
    const [state] = t.project.missingFrom(EMPTY);
    t.apply({ resources: { updated: [{ id: 'r1', name: 'short' }] } });
    expect(t.project.missingFrom(EMPTY)).toHaveLength(2);
    // Together with the first, past half the state's size (and well below all of it).
    t.apply({ resources: { updated: [{ id: 'r2', name: 'x'.repeat(Math.ceil(state.byteLength / 2)) }] } });
    const again = t.project.missingFrom(EMPTY);
    expect(again).toHaveLength(1);
    expect(again[0]).not.toBe(state);
  });
});

describe('a restore', () => {
  it('writes and tells only what differs, and leaves change logs alone', () => {
    const t = projectOf(TREE, 'number');
    const state = t.project.encodeState();
    t.apply({ tasks: { updated: [{ id: 12, name: 'renamed' }] } });
    t.apply({ changelogs: { added: [{ $PhantomId: '_generatedChangeLog_1', description: 'a log', occurredAt: '2024-05-01' }] } });
    expect(t.count('changelogs')).toBe(1);
    const changes = restoreState(t.project, state);
    expect(changes).toEqual({ tasks: { updated: [{ id: 12, name: null }] } });
    expect(t.record('tasks', 12)).not.toHaveProperty('name');
    expect(t.count('changelogs')).toBe(1);
  });

  it('sends two added tasks parent first', () => {
    const t = projectOf({ tasks: [{ id: 1 }] }, 'number');
    const target = new Y.Doc();
    const tasks = storeMap(target, 'tasks');
    tasks.set('1', newRecord({ id: 1, parentId: null, $order: 'a0' }));
    tasks.set('5', newRecord({ id: 5, parentId: 4, $order: 'a0' }));
    tasks.set('4', newRecord({ id: 4, parentId: null, $order: 'a1' }));
    const changes = restoreState(t.project, target) as Rec;
    expect(changes.tasks.added.map((r: Rec) => r.id)).toEqual([4, 5]);
  });
});
