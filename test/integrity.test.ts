/**
 * One scenario per integrity rule (README "Conflicts and integrity"): concurrent edits from Yjs
 * replicas and Bryntum changes merge into a valid project, the same whatever the merge order.
 */
import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { ORDER_FIELD, readField, storeMap, type FieldMap, type RecordId } from '../src/document/layout.js';
import { keyBetween } from '../src/document/order.js';
import { NO_PHANTOMS } from '../src/document/phantoms.js';
import { ProjectDocument } from '../src/document/project-document.js';
import { projectOf, pushReplica as push, replicaOf, seededProject, type TestProject } from './support/document.js';
import { TINY_SEED } from './support/simulation.js';

type Rec = Record<string, any>;

const tasksOf = (doc: Y.Doc) => storeMap(doc, 'tasks');

/** A dependency written straight into a replica, as a Yjs peer would. */
function addDependency(replica: Y.Doc, id: number, fromTask: number, toTask: number): void {
  const dep = new Y.Map<unknown>();
  dep.set('id', id);
  dep.set('fromTask', fromTask);
  dep.set('toTask', toTask);
  storeMap(replica, 'dependencies').set(String(id), dep);
}

async function twoServers(): Promise<[TestProject, TestProject]> {
  return [await seededProject('saas', 'number'), await seededProject('saas', 'number')];
}

function validity(project: ProjectDocument): string[] {
  const problems: string[] = [];
  const tasks = storeMap(project.doc, 'tasks');
  for (const [key, record] of tasks) {
    const seen = new Set<string>([key]);
    for (let parent = readField(record, 'parentId') as RecordId | null; parent !== null && parent !== undefined; ) {
      const p = tasks.get(String(parent));
      if (!p) {
        problems.push(`task ${key} has missing ancestor ${parent}`);
        break;
      }
      if (seen.has(String(parent))) {
        problems.push(`task ${key} is in a cycle`);
        break;
      }
      seen.add(String(parent));
      parent = readField(p, 'parentId') as RecordId | null;
    }
  }
  for (const [key, dep] of storeMap(project.doc, 'dependencies')) {
    for (const end of ['fromTask', 'toTask']) {
      const to = readField(dep, end);
      if (to !== undefined && !tasks.has(String(to))) problems.push(`dependency ${key} points at missing ${to}`);
    }
  }
  for (const [key, a] of storeMap(project.doc, 'assignments')) {
    if (!tasks.has(String(readField(a, 'event')))) problems.push(`assignment ${key} points at missing task`);
    if (!storeMap(project.doc, 'resources').has(String(readField(a, 'resource')))) problems.push(`assignment ${key} points at missing resource`);
  }
  return problems;
}

describe('integrity rules', () => {
  it('rule 1: a task added under a parent removed meanwhile moves to the top level, and clients are told', async () => {
    const t = await seededProject('saas', 'number');
    const replica = replicaOf(t.project);
    const child = new Y.Map<unknown>();
    child.set('id', 9001);
    child.set('name', 'added offline');
    child.set('parentId', 11);
    child.set(ORDER_FIELD, 'a0');
    tasksOf(replica).set('9001', child);

    t.apply({ tasks: { removed: [{ id: 11 }] } });
    const told = push(replica, t.project)!;

    expect(t.record('tasks', 9001)).toMatchObject({ name: 'added offline', parentId: null });
    expect(t.children(null)).toContain(9001);
    expect(t.children(null).at(-1)).toBe(9001);
    expect(told.tasks.added[0]).toMatchObject({ id: 9001, parentId: null });
    expect(validity(t.project)).toEqual([]);
  });

  it("rule 1: repairs after a peer's update are the server's own writes, under the client id it had", async () => {
    const t = await seededProject('saas', 'number');
    const replica = replicaOf(t.project);
    const child = new Y.Map<unknown>();
    child.set('id', 9001);
    child.set('parentId', 11);
    tasksOf(replica).set('9001', child);
    t.apply({ tasks: { removed: [{ id: 11 }] } });
    const before = t.project.doc.clientID;
    push(replica, t.project);
    expect(t.record('tasks', 9001)).toMatchObject({ parentId: null });
    // Taken for a remote client's writes under our id, Yjs would pick a new one.
    expect(t.project.doc.clientID).toBe(before);
  });

  it('rule 1: a Bryntum client adding a task under a parent that no longer exists gets it at the top level', async () => {
    const t = await seededProject('saas', 'number');
    t.apply({ tasks: { removed: [{ id: 2 }] } });
    const applied = t.apply({ tasks: { added: [{ $PhantomId: '_generatedTaskModel_x', name: 'late', parentId: 2 }] } }, 'keep-added');
    const id = (applied.outgoing.tasks as Rec).added[0].id;
    expect(t.record('tasks', id)).toMatchObject({ parentId: null });
    const index = t.children(null).indexOf(id);
    expect(index).toBeGreaterThan(0);
    expect((applied as Rec).repairs.tasks.updated).toEqual([{ id, parentId: null, parentIndex: index, orderedParentIndex: index }]);
  });

  it('rule 2: concurrent moves that form a cycle end in the same tree whichever merges first', async () => {
    const [a, b] = await twoServers();
    const results: unknown[] = [];
    for (const [t, order] of [
      [a, 'ann first'],
      [b, 'ben first'],
    ] as const) {
      const ann = replicaOf(t.project);
      const ben = replicaOf(t.project);
      // Ann moves 12 under 15, Ben moves 15 under 12 (siblings under 1).
      tasksOf(ann).get('12')!.set('parentId', 15);
      tasksOf(ben).get('15')!.set('parentId', 12);
      if (order === 'ann first') {
        push(ann, t.project);
        push(ben, t.project);
      } else {
        push(ben, t.project);
        push(ann, t.project);
      }
      expect(validity(t.project)).toEqual([]);
      results.push(await t.project.dataset());
    }
    expect(results[0]).toEqual(results[1]);
    // The cycle member with the smallest key ("12") went to the top level.
    expect(a.record('tasks', 12)).toMatchObject({ parentId: null });
    expect(a.record('tasks', 15)).toMatchObject({ parentId: 12 });
  });

  it('rule 2: a move of a task below its own descendant from a Bryntum client is refused and the sender corrected', async () => {
    const t = await seededProject('saas', 'number');
    const applied = t.apply({ tasks: { updated: [{ id: 1, parentId: 11, parentIndex: 0 }] } });
    expect(t.record('tasks', 1)).toMatchObject({ parentId: 1000 });
    expect((applied.corrections as Rec).tasks.updated[0]).toMatchObject({ id: 1, parentId: 1000 });
    expect((applied.outgoing.tasks as Rec).updated[0]).toEqual({ id: 1 });
  });

  it('rule 1: children of a task a Yjs peer removed alone move to the top level in record key order, whatever their order was', async () => {
    // 1 > (2 > 3, 4), (5 > 6, 7); 7 moved first under 2: 2 > 7, 3, 4.
    const t = projectOf(TINY_SEED, 'number');
    t.apply({ tasks: { updated: [{ id: 7, parentId: 2, parentIndex: 0 }] } });
    expect(t.children(2)).toEqual([7, 3, 4]);
    const replica = replicaOf(t.project);
    tasksOf(replica).delete('2');
    push(replica, t.project);
    expect(t.children(null)).toEqual([1, 3, 4, 7]);
  });

  it('rule 3: a dependency added concurrently with the removal of its task is removed', async () => {
    const t = await seededProject('saas', 'number');
    const replica = replicaOf(t.project);
    addDependency(replica, 7001, 13, 14);

    t.apply({ tasks: { removed: [{ id: 14 }] } });
    const told = push(replica, t.project)!;

    expect(t.record('dependencies', 7001)).toBeUndefined();
    expect(validity(t.project)).toEqual([]);
    // The peer's add and the repair cancel out within one transaction: nothing to add for clients.
    expect(told?.dependencies?.added ?? []).toEqual([]);
  });

  it('rule 3: removing a task without its dependencies removes them and says so', async () => {
    const t = await seededProject('saas', 'number');
    const before = [...storeMap(t.project.doc, 'dependencies').values()].filter((d) => readField(d, 'fromTask') === 11 || readField(d, 'toTask') === 11).map((d) => readField(d, 'id'));
    expect(before.length).toBeGreaterThan(0);
    const applied = t.apply({ tasks: { removed: [{ id: 11 }] } }) as Rec;
    expect(applied.repairs.dependencies.removed.map((r: Rec) => r.id).sort()).toEqual([...before].sort());
    expect(validity(t.project)).toEqual([]);
  });

  it('rule 4: assignments to a removed resource are removed', async () => {
    const t = await seededProject('saas', 'number');
    const assigned = [...storeMap(t.project.doc, 'assignments').values()].filter((a) => readField(a, 'resource') === 1).map((a) => readField(a, 'id'));
    expect(assigned.length).toBeGreaterThan(0);
    const applied = t.apply({ resources: { removed: [{ id: 1 }] } }) as Rec;
    expect(applied.repairs.assignments.removed.map((r: Rec) => r.id).sort()).toEqual([...assigned].sort());
    expect(validity(t.project)).toEqual([]);
  });

  it('rule 5: an update of a record removed meanwhile is not applied and the sender is told it is gone', async () => {
    const t = await seededProject('saas', 'number');
    t.apply({ tasks: { removed: [{ id: 4036 }] } });
    const applied = t.apply({ tasks: { updated: [{ id: 4036, name: 'too late' }] } });
    expect(t.record('tasks', 4036)).toBeUndefined();
    expect(applied.corrections).toEqual({ tasks: { removed: [{ id: 4036 }] } });
  });

  it('rule 5: a Yjs edit inside a record removed concurrently is lost, the record stays removed', async () => {
    const t = await seededProject('saas', 'number');
    const replica = replicaOf(t.project);
    tasksOf(replica).get('4035')!.set('name', 'edited offline');
    t.apply({ tasks: { removed: [{ id: 4035 }] } });
    push(replica, t.project);
    expect(t.record('tasks', 4035)).toBeUndefined();
  });

  it('rule 6: concurrent edits of one field by two Yjs replicas converge on every replica', async () => {
    const t = await seededProject('saas', 'number');
    const ann = replicaOf(t.project);
    const ben = replicaOf(t.project);
    tasksOf(ann).get('13')!.set('name', 'Ann');
    tasksOf(ben).get('13')!.set('name', 'Ben');
    push(ann, t.project);
    push(ben, t.project);
    Y.applyUpdateV2(ann, t.project.encodeState());
    Y.applyUpdateV2(ben, t.project.encodeState());
    const server = t.record('tasks', 13)!.name;
    expect(['Ann', 'Ben']).toContain(server);
    expect(readField(tasksOf(ann).get('13')!, 'name')).toBe(server);
    expect(readField(tasksOf(ben).get('13')!, 'name')).toBe(server);
  });

  it('rule 8: a dependency that makes a task wait for itself is kept but switched off, and everyone is told', async () => {
    const t = await seededProject('saas', 'number');
    // 401 -> 402 exists: 402 -> 401 would close a loop.
    const applied = t.apply({ dependencies: { added: [{ $PhantomId: 'd-1', fromTask: 402, toTask: 401 }] } }) as Rec;
    const id = applied.newPhantoms.get('d-1');
    expect(t.record('dependencies', id)).toMatchObject({ fromTask: 402, toTask: 401, active: false });
    expect(applied.repairs.dependencies).toEqual({ updated: [{ id, active: false }] });
    expect(applied.loops).toBe(1);
    expect(t.record('dependencies', 13)).toMatchObject({ fromTask: 401, toTask: 402 });
    expect(t.record('dependencies', 13)!.active).toBeUndefined();
    expect(t.count('dependencies')).toBe(23);
  });

  it('rule 8: a dependency switched off for closing a loop is switched off again when someone switches it on while the loop is there, and stays on once it is gone', async () => {
    const t = await seededProject('saas', 'number');
    const id = (t.apply({ dependencies: { added: [{ $PhantomId: 'd-1', fromTask: 402, toTask: 401 }] } }) as Rec).newPhantoms.get('d-1');
    const again = t.apply({ dependencies: { updated: [{ id, active: true }] } }) as Rec;
    expect(again.repairs.dependencies).toEqual({ updated: [{ id, active: false }] });
    expect(t.record('dependencies', id)!.active).toBe(false);
    // Without 401 -> 402 (dependency 13) there is no loop to close.
    t.apply({ dependencies: { removed: [{ id: 13 }] } });
    const on = t.apply({ dependencies: { updated: [{ id, active: true }] } }) as Rec;
    expect(on.repairs).toBeNull();
    expect(t.record('dependencies', id)!.active).toBe(true);
  });

  it('rule 8: a dependency between a task and one of its own ancestors is switched off', async () => {
    const t = await seededProject('saas', 'number');
    const applied = t.apply({ dependencies: { added: [{ $PhantomId: 'd-1', fromTask: 4, toTask: 41 }, { $PhantomId: 'd-2', fromTask: 41, toTask: 400 }] } }) as Rec;
    const ids = [applied.newPhantoms.get('d-1'), applied.newPhantoms.get('d-2')];
    expect(applied.repairs.dependencies.updated.map((r: Rec) => r.id).sort()).toEqual([...ids].sort());
    expect(t.count('dependencies')).toBe(24);
    for (const id of ids) expect(t.record('dependencies', id)!.active).toBe(false);
  });

  it("rule 8: a move that closes a loop switches off a dependency of a task inside the moved subtree", () => {
    // P > C, and X; C waits for X. Moving P under X puts C below the task it waits for.
    const t = projectOf({ tasks: [{ id: 1, name: 'P', children: [{ id: 2, name: 'C' }] }, { id: 3, name: 'X' }], dependencies: [{ id: 9, fromTask: 3, toTask: 2 }] }, 'number');
    const applied = t.apply({ tasks: { updated: [{ id: 1, parentId: 3, parentIndex: 0 }] } }) as Rec;
    expect(t.children(3)).toEqual([1]);
    expect(applied.repairs.dependencies).toEqual({ updated: [{ id: 9, active: false }] });
    expect(t.record('dependencies', 9)).toMatchObject({ active: false });
  });

  it('rule 8: a move that closes a loop through the task tree switches off the moved task\'s dependency that closes it', async () => {
    const t = await seededProject('saas', 'number');
    // 4036 waits for 4035 inside 402, and 402 waits for 401: 4036 cannot also be part of 401.
    const applied = t.apply({ tasks: { updated: [{ id: 4036, parentId: 401, parentIndex: 0 }] } }) as Rec;
    expect(t.record('tasks', 4036)).toMatchObject({ parentId: 401 });
    expect(applied.repairs.dependencies).toEqual({ updated: [{ id: 21, active: false }] });
    expect(t.record('dependencies', 21)).toMatchObject({ active: false });
    expect(t.record('dependencies', 13)!.active).toBeUndefined();
    expect(t.record('dependencies', 20)!.active).toBeUndefined();
  });

  it('rule 8: dependencies that close no loop stay, and the check still works after the document is reloaded', async () => {
    const t = await seededProject('saas', 'number');
    const kept = t.apply({ dependencies: { added: [{ $PhantomId: 'd-1', fromTask: 15, toTask: 331 }], updated: [{ id: 1, toTask: 14 }] } }) as Rec;
    expect(kept.repairs).toBeNull();
    expect(t.record('dependencies', kept.newPhantoms.get('d-1'))).toBeDefined();

    const reloaded = ProjectDocument.fromUpdate(t.project.encodeState());
    const repairs = reloaded.applyChange({ dependencies: { updated: [{ id: 12, fromTask: 402 }] } }, { ids: t.ids, phantoms: NO_PHANTOMS, resentPhantoms: 'keep-added' }).repairs as Rec;
    // 400 -> 401 re-pointed to 402 -> 401 closes a loop with 401 -> 402.
    expect(repairs.dependencies).toEqual({ updated: [{ id: 12, active: false }] });
    expect(readField(storeMap(reloaded.doc, 'dependencies').get('12')!, 'active')).toBe(false);
  });

  it('rule 8: an inactive dependency closes no loop', async () => {
    const t = await seededProject('saas', 'number');
    const applied = t.apply({ dependencies: { added: [{ $PhantomId: 'd-1', fromTask: 402, toTask: 401, active: false }] } }) as Rec;
    expect(applied.repairs).toBeNull();
    expect(t.record('dependencies', applied.newPhantoms.get('d-1'))).toMatchObject({ active: false });
  });

  it('rule 3: a dependency whose end is not an id ([402], true, an object) names no task and is removed, so it cannot hide a loop', async () => {
    const t = await seededProject('saas', 'number');
    // 401 -> 402 exists (dependency 13): read as text, [402] -> 401 would close a loop.
    for (const [i, end] of [[402], [[402]], true, { id: 402 }].entries()) {
      const phantoms = [`d-${i}-from`, `d-${i}-to`];
      const applied = t.apply({ dependencies: { added: [{ $PhantomId: phantoms[0], fromTask: end, toTask: 401 }, { $PhantomId: phantoms[1], fromTask: 401, toTask: end }] } }) as Rec;
      const ids = phantoms.map((p) => applied.newPhantoms.get(p));
      for (const id of ids) expect(t.record('dependencies', id), JSON.stringify(end)).toBeUndefined();
      // Clients were sent the added records: they are told these are gone.
      expect(applied.repairs.dependencies.removed.map((r: Rec) => r.id).sort()).toEqual([...ids].sort());
    }
    expect(t.count('dependencies')).toBe(22);
    expect(t.record('dependencies', 13)!.active).toBeUndefined();
  });

  it('rule 3: a Yjs peer\'s dependency naming a task by [402] is removed, and the project keeps no loop', async () => {
    const t = await seededProject('saas', 'number');
    const replica = replicaOf(t.project);
    const dep = new Y.Map<unknown>();
    dep.set('id', 7002);
    dep.set('fromTask', [402]);
    dep.set('toTask', 401);
    storeMap(replica, 'dependencies').set('7002', dep);
    push(replica, t.project);
    expect(t.record('dependencies', 7002)).toBeUndefined();
  });

  it('rule 4: an assignment whose task or resource is not an id is removed', async () => {
    const t = await seededProject('saas', 'number');
    const [task] = t.children(null);
    const applied = t.apply({ assignments: { added: [{ $PhantomId: 'a-1', event: [task], resource: 1 }, { $PhantomId: 'a-2', event: task, resource: [1] }] } }) as Rec;
    for (const p of ['a-1', 'a-2']) expect(t.record('assignments', applied.newPhantoms.get(p))).toBeUndefined();
  });

  /** A replica that adds store `notes` (new to the project) with one record, pushed to the server. */
  async function peerAddsStore(): Promise<Rec | null> {
    const t = await seededProject('saas', 'number');
    const replica = replicaOf(t.project);
    const record = new Y.Map<unknown>();
    record.set('id', 1);
    record.set('name', 'x');
    replica.transact(() => {
      replica.getMap('$stores').set('notes', true);
      storeMap(replica, 'notes').set('1', record);
    });
    return push(replica, t.project);
  }

  it("a Yjs peer's new store is not told to Bryntum clients as a change of the project's fields", async () => {
    expect((await peerAddsStore())?.project).toBeUndefined();
  });

  // Yjs knows a store the update made by a placeholder until it is read as a map, then replaces it.
  it("a Yjs peer's record in a store new to the project is told to Bryntum clients", async () => {
    expect((await peerAddsStore())?.notes).toEqual({ added: [{ id: 1, name: 'x' }] });
  });

  it('rule 8: a loop made by a Yjs peer and a Bryntum client concurrently is broken on the server', async () => {
    const t = await seededProject('saas', 'number');
    const replica = replicaOf(t.project);
    addDependency(replica, 7001, 43, 42);

    // Each alone is fine; together 42 and 43 wait for each other.
    const applied = t.apply({ dependencies: { added: [{ $PhantomId: 'd-1', fromTask: 42, toTask: 43 }] } }) as Rec;
    expect(applied.repairs).toBeNull();
    const told = push(replica, t.project);
    expect(t.record('dependencies', 7001)).toMatchObject({ fromTask: 43, toTask: 42, active: false });
    expect(t.record('dependencies', applied.newPhantoms.get('d-1')!)!.active).toBeUndefined();
    // Bryntum clients get the peer's dependency already switched off.
    expect(told?.dependencies?.added).toEqual([expect.objectContaining({ id: 7001, active: false })]);
  });

  it('rule 7: siblings with equal order keys sort by id, and inserting between them renumbers that parent', async () => {
    const t = await seededProject('saas', 'number');
    const replica = replicaOf(t.project);
    const kids = t.children(1);
    const tied = readField(tasksOf(replica).get(String(kids[0]))!, ORDER_FIELD) as string;
    // A peer gives the second child the first child's key: a tie.
    tasksOf(replica).get(String(kids[1]))!.set(ORDER_FIELD, tied);
    push(replica, t.project);
    const sorted = [kids[0], kids[1]].sort((x, y) => (String(x) < String(y) ? -1 : 1));
    expect(t.children(1).slice(0, 2)).toEqual(sorted);

    const applied = t.apply({ tasks: { added: [{ $PhantomId: '_generatedTaskModel_mid', name: 'between', parentId: 1, parentIndex: 1 }] } }, 'keep-added');
    const id = (applied.outgoing.tasks as Rec).added[0].id;
    expect(t.children(1).slice(0, 3)).toEqual([sorted[0], id, sorted[1]]);
    const keys = t.children(1).map((k) => t.record('tasks', k)![ORDER_FIELD] as string);
    expect(new Set(keys).size).toBe(keys.length);
    expect([...keys].sort()).toEqual(keys);
    expect(keyBetween(keys[0], keys[1]) > keys[0]).toBe(true);
  });

  it("a Yjs peer's edit of a task's other fields leaves its siblings' order as worked out; an order key makes it be worked out again", async () => {
    const t = await seededProject('saas', 'number');
    const replica = replicaOf(t.project);
    const kids = t.children(1);
    const before = t.project.tree.childrenOf('1');
    tasksOf(replica).get(String(kids[1]))!.set('name', 'renamed by a peer');
    push(replica, t.project);
    // The very list: renaming must not make a parent's children be sorted again.
    expect(t.project.tree.childrenOf('1')).toBe(before);
    tasksOf(replica).get(String(kids[1]))!.set(ORDER_FIELD, readField(tasksOf(replica).get(String(kids[0]))!, ORDER_FIELD) as string);
    push(replica, t.project);
    expect(t.project.tree.childrenOf('1')).not.toBe(before);
  });

  it('rule 2: new tasks that name each other (or themselves) as parent are broken out of the cycle and can be removed', async () => {
    const t = await seededProject('saas', 'number');
    const a = '_generatedTaskModel_a';
    const b = '_generatedTaskModel_b';
    const c = '_generatedTaskModel_c';
    const applied = t.apply(
      {
        tasks: {
          added: [
            { $PhantomId: a, name: 'a', parentId: b, $PhantomParentId: b },
            { $PhantomId: b, name: 'b', parentId: a, $PhantomParentId: a },
            { $PhantomId: c, name: 'c', parentId: c, $PhantomParentId: c },
          ],
        },
      },
      'keep-added',
    );
    expect(validity(t.project)).toEqual([]);
    const [ida, idb, idc] = (applied.outgoing.tasks as Rec).added.map((r: Rec) => r.id);
    const served = JSON.stringify(await t.project.dataset());
    for (const id of [ida, idb, idc]) expect(served).toContain(`"id":${id}`);
    t.apply({ tasks: { removed: [{ id: ida }, { id: idc }] } });
    expect(t.record('tasks', ida)).toBeUndefined();
    expect(t.record('tasks', idc)).toBeUndefined();
    expect(validity(t.project)).toEqual([]);
  });

  it('ignores order keys sent by clients: positions come from parentIndex only', async () => {
    const t = await seededProject('saas', 'number');
    const applied = t.apply({ tasks: { added: [{ $PhantomId: '_generatedTaskModel_o', name: 'o', parentId: 1, parentIndex: 0, $order: '!' }] } }, 'keep-added');
    const id = (applied.outgoing.tasks as Rec).added[0].id;
    expect(t.children(1)[0]).toBe(id);
    t.apply({ tasks: { updated: [{ id: 12, $order: '!' }] } });
    expect(t.record('tasks', 12)![ORDER_FIELD]).not.toBe('!');
    t.apply({ tasks: { added: [{ $PhantomId: '_generatedTaskModel_p', name: 'p', parentId: 1, parentIndex: 1 }] } }, 'keep-added');
    expect(t.children(1)).toHaveLength(7);
  });
});
