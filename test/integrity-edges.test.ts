/**
 * Edges of the integrity rules and the task tree: references by their other names, references
 * that name nothing, sibling order when order keys tie, are missing or malformed, parent links a
 * peer leaves out or bends into a cycle, moves below a deep descendant, ids that are not finite,
 * and stored records whose base is empty or no object, as they are served.
 */
import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { newRecord, storeMap } from '../src/document/layout.js';
import { ProjectDocument } from '../src/document/project-document.js';
import { projectOf } from './support/document.js';

type Rec = Record<string, any>;

describe('references by their other names', () => {
  it('a dependency or an assignment naming a removed task or resource by any of its names is removed', () => {
    const t = projectOf(
      {
        tasks: [1, 2, 3, 4, 5, 6].map((id) => ({ id })),
        resources: [{ id: 'r1' }, { id: 'r2' }],
        dependencies: [
          // Listed out of key order: clients are told of the removals in key order.
          { id: 3, from: 4, toTask: 2 },
          { id: 1, fromEvent: 1, toTask: 2 },
          { id: 4, fromTask: 2, to: 5 },
          { id: 2, fromTask: 2, toEvent: 3 },
        ],
        assignments: [
          { id: 1, eventId: 6, resource: 'r1' },
          { id: 2, event: 2, resourceId: 'r2' },
          { id: 3, event: 4, resource: 'r1' },
          { id: 4, event: 2, resource: 'r2' },
        ],
      },
      'number',
    );
    const { repairs } = t.apply({ tasks: { removed: [1, 3, 4, 5, 6].map((id) => ({ id })) }, resources: { removed: [{ id: 'r2' }] } }) as Rec;
    expect(t.count('dependencies')).toBe(0);
    expect(t.count('assignments')).toBe(0);
    expect(repairs).toMatchObject({ dependencies: { removed: [1, 2, 3, 4].map((id) => ({ id })) }, assignments: { removed: [1, 2, 3, 4].map((id) => ({ id })) } });
  });

  it('the first name a reference has wins, even when a later name points elsewhere', () => {
    const t = projectOf({ tasks: [1, 2, 3].map((id) => ({ id })), dependencies: [{ id: 1, fromTask: 1, fromEvent: 3, toTask: 2 }] }, 'number');
    t.apply({ tasks: { removed: [{ id: 3 }] } });
    expect(t.count('dependencies')).toBe(1);
  });

  it('a reference that is no id names no task, and its dependency is removed', () => {
    const t = projectOf({ tasks: [1, 2, 3].map((id) => ({ id })), dependencies: [{ id: 1, fromTask: [1], toTask: 2 }] }, 'number');
    const { repairs } = t.apply({ tasks: { removed: [{ id: 3 }] } }) as Rec;
    expect(repairs).toEqual({ dependencies: { removed: [{ id: 1 }] } });
    expect(t.count('dependencies')).toBe(0);
  });

  it('a dependency end that is empty, null or absent names no task and keeps the dependency', () => {
    const t = projectOf(
      {
        tasks: [1, 2, 3].map((id) => ({ id })),
        dependencies: [
          { id: 1, fromTask: null, toTask: 2 },
          { id: 2, fromTask: '', toTask: 2 },
          { id: 3, toTask: 2 },
        ],
      },
      'number',
    );
    const { repairs } = t.apply({ tasks: { removed: [{ id: 3 }] } }) as Rec;
    expect(repairs).toBeNull();
    expect(t.project.recordKeys('dependencies')).toEqual(['1', '2', '3']);
  });
});

describe('sibling order', () => {
  it('ties between equal order keys are broken by record key, and a task without an order key comes first', () => {
    // As stored by a peer: order keys are written as they are.
    const doc = new Y.Doc();
    const tasks = storeMap(doc, 'tasks');
    tasks.set('1', newRecord({ id: 1, parentId: null, $order: 'A0' }));
    for (const id of [9, 10, 11]) tasks.set(String(id), newRecord({ id, parentId: 1, $order: 'A0' }));
    tasks.set('12', newRecord({ id: 12, parentId: 1 }));
    tasks.set('8', newRecord({ id: 8, parentId: 1, $order: 'A1' }));
    const project = new ProjectDocument(doc);
    expect(project.tree.childrenOf('1')).toEqual(['12', '10', '11', '9', '8']);
  });
});

describe('order keys', () => {
  it("a client cannot write a task's order key directly", () => {
    const t = projectOf({ tasks: [{ id: 1 }, { id: 2 }] }, 'number');
    const before = t.record('tasks', 1)!.$order;
    t.apply({ tasks: { updated: [{ id: 1, $order: 'zzz', name: 'one' }] } });
    expect(t.record('tasks', 1)).toMatchObject({ name: 'one', $order: before });
    expect(t.children(null)).toEqual([1, 2]);
  });

  it('a task repaired to the top goes after the last top-level task whose order key is well formed', () => {
    const doc = new Y.Doc();
    const tasks = storeMap(doc, 'tasks');
    tasks.set('1', newRecord({ id: 1, parentId: null, $order: 'a0' }));
    tasks.set('2', newRecord({ id: 2, parentId: null, $order: '~' }));
    const project = new ProjectDocument(doc);
    const replica = new Y.Doc();
    Y.applyUpdateV2(replica, project.encodeState());
    const orphan = new Y.Map<unknown>();
    orphan.set('id', 9);
    orphan.set('parentId', 77);
    storeMap(replica, 'tasks').set('9', orphan);
    project.applyUpdate(Y.encodeStateAsUpdate(replica, Y.encodeStateVector(doc)), 'peer');
    expect(project.tree.parentKey('9')).toBe(project.tree.parentKey('1'));
    expect(project.tree.childrenOf(project.tree.parentKey('1')!)).toEqual(['1', '9', '2']);
  });
});

describe('moves below a descendant', () => {
  it('a task cannot move below a descendant several levels down', () => {
    const t = projectOf({ tasks: [{ id: 1, children: [{ id: 2, children: [{ id: 3, children: [{ id: 4 }] }] }] }] }, 'number');
    const { repairs } = t.apply({ tasks: { updated: [{ id: 1, parentId: 4 }] } }) as Rec;
    expect(repairs).toBeNull();
    expect(t.record('tasks', 1)?.parentId).toBeNull();
    expect(t.children(null)).toEqual([1]);
    expect(t.children(3)).toEqual([4]);
  });

  it('a task cannot move below a grandchild that sits behind many siblings', () => {
    const t = projectOf({ tasks: [{ id: 1, children: [{ id: 2, children: [{ id: 4 }] }, ...[3, 5, 6, 7, 8].map((id) => ({ id }))] }] }, 'number');
    const { repairs } = t.apply({ tasks: { updated: [{ id: 1, parentId: 4 }] } }) as Rec;
    expect(repairs).toBeNull();
    expect(t.record('tasks', 1)?.parentId).toBeNull();
    expect(t.children(null)).toEqual([1]);
    expect(t.children(2)).toEqual([4]);
  });
});

describe('parent links a peer writes', () => {
  it('a task a peer adds without a parent stays at the top as written, with nothing to repair', () => {
    const t = projectOf({ tasks: [{ id: 1 }] }, 'number');
    const replica = new Y.Doc();
    Y.applyUpdateV2(replica, t.project.encodeState());
    const task = new Y.Map<unknown>();
    task.set('id', 50);
    storeMap(replica, 'tasks').set('50', task);
    const told = t.project.applyUpdate(Y.encodeStateAsUpdate(replica, Y.encodeStateVector(t.project.doc)), 'peer');
    expect(told).toEqual({ tasks: { added: [{ id: 50, parentId: null, parentIndex: 0, orderedParentIndex: 0 }] } });
    expect(t.record('tasks', 50)).toEqual({ id: 50 });
    expect(t.children(null)).toEqual([50, 1]);
  });

  it('links that close a cycle are broken at the cycle, not at a task that only leads into it', () => {
    const t = projectOf({ tasks: [{ id: 1 }, { id: 2 }, { id: 3 }] }, 'number');
    const replica = new Y.Doc();
    Y.applyUpdateV2(replica, t.project.encodeState());
    const tasks = storeMap(replica, 'tasks');
    replica.transact(() => {
      tasks.get('1')!.set('parentId', 2);
      tasks.get('2')!.set('parentId', 3);
      tasks.get('3')!.set('parentId', 2);
    });
    t.project.applyUpdate(Y.encodeStateAsUpdate(replica, Y.encodeStateVector(t.project.doc)), 'peer');
    expect(t.children(null)).toEqual([2]);
    expect(t.children(2).sort()).toEqual([1, 3]);
  });

  it('a parent that is no longer missing once its last child left is not listed as missing', () => {
    const doc = new Y.Doc();
    storeMap(doc, 'tasks').set('1', newRecord({ id: 1, parentId: 99 }));
    const project = new ProjectDocument(doc);
    expect(project.tree.missingParents()).toEqual(['99']);
    project.tree.detach('1');
    expect(project.tree.missingParents()).toEqual([]);
  });
});

describe('record ids a peer writes', () => {
  it('a number id that is not finite is refused', () => {
    const t = projectOf({ resources: [{ id: 'r1' }] });
    for (const id of [NaN, Infinity]) {
      const fresh = new Y.Doc();
      const record = new Y.Map<unknown>();
      fresh.getMap('resources').set(String(id), record);
      record.set('id', id);
      expect(() => t.project.applyUpdate(Y.encodeStateAsUpdate(fresh), 'peer')).toThrow(`resources "${id}": a record's id must be a number or a non-empty text`);
    }
  });
});

describe('served records', () => {
  it('a base that is text or a list holds no fields', async () => {
    const doc = new Y.Doc();
    const resources = storeMap(doc, 'resources');
    for (const [key, base] of [['r1', 'ab'], ['r2', ['x', 'y']], ['r3', null]] as const) {
      const record = new Y.Map<unknown>();
      record.set('$base', base);
      record.set('id', key);
      resources.set(key, record);
    }
    const dataset = await new ProjectDocument(doc).dataset();
    expect(dataset.resourcesData).toEqual([{ id: 'r1' }, { id: 'r2' }, { id: 'r3' }]);
  });

  it('a stored task with no fields at all is served with its children', async () => {
    const doc = new Y.Doc();
    const tasks = storeMap(doc, 'tasks');
    tasks.set('1', newRecord({}));
    tasks.set('2', newRecord({ id: 2, parentId: '1' }));
    const dataset = await new ProjectDocument(doc).dataset();
    expect(dataset.tasksData).toEqual([{ children: [{ id: 2 }] }]);
  });
});
