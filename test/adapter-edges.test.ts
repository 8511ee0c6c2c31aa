/**
 * Edges of the adapter (src/document/adapter.ts): the order in which stores are given ids, which
 * ids a client chose are kept, phantom ids inside field values, a phantom sent twice, positions
 * that are no index, re-sent phantoms of removed records, order keys of placed and fixed siblings,
 * fields a change wrote, `content` outside versions, stores sharing ids with tasks, refused moves
 * in `$input`, engine corrections that restate what is stored and nested change sets that only
 * remove. Also the id counter's bounds (src/document/ids.ts) and which phantom ids count as an
 * older client's page-counted ones (src/document/phantoms.ts), as the adapter relies on both.
 */
import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { ORDER_FIELD, readField, storeMap, TASKS, type RecordId } from '../src/document/layout.js';
import { isOrderKey } from '../src/document/order.js';
import { CounterIds, LAST_ID, numberIn } from '../src/document/ids.js';
import { NO_PHANTOMS, PhantomMap } from '../src/document/phantoms.js';
import type { ProjectDocument } from '../src/document/project-document.js';
import { seededProject } from './support/document.js';

type Rec = Record<string, any>;
const P = (name: string) => `_generatedTaskModel_${name}`;
/** A new task under task 1 (children 11..15 in the saas seed). */
const add = (name: string, fields: Rec = {}) => ({ $PhantomId: P(name), name, parentId: 1, ...fields });

/** Count the updates the document emits while `fn` runs. */
function updatesDuring<T>(doc: Y.Doc, fn: () => T): { result: T; updates: number } {
  let updates = 0;
  const onUpdate = () => updates++;
  doc.on('update', onUpdate);
  try {
    return { result: fn(), updates };
  } finally {
    doc.off('update', onUpdate);
  }
}

/** Another Yjs document in step with `project`, whose edits reach it as a peer's update. */
function peerOf(project: ProjectDocument): { tasks: Y.Map<Y.Map<unknown>>; send: () => unknown; peer: Y.Doc } {
  const peer = new Y.Doc();
  Y.applyUpdateV2(peer, project.encodeState());
  return {
    peer,
    tasks: peer.getMap(TASKS) as Y.Map<Y.Map<unknown>>,
    send: () => project.applyUpdate(Y.encodeStateAsUpdateV2(peer, Y.encodeStateVector(project.doc)), 'peer', true),
  };
}

describe('ids of added records', () => {
  it('hands out ids store by store: calendars, resources, tasks, dependencies, assignments, versions, changelogs, then other stores by name', async () => {
    const t = await seededProject('saas', 'number');
    const one = (p: string, f: Rec = {}) => ({ added: [{ $PhantomId: `_generated_${p}`, ...f }] });
    // Other stores deliberately not in alphabetical order, known ones reversed.
    const { outgoing } = t.apply({
      notes: one('n'),
      annotations: one('an'),
      labels: one('l'),
      memos: one('m'),
      changelogs: one('cl'),
      versions: one('v'),
      assignments: one('a', { event: 11, resource: 1 }),
      dependencies: one('d', { fromTask: 11, toTask: 12 }),
      tasks: one('t', { parentId: 1 }),
      resources: one('r'),
      calendars: one('c'),
    });
    const order = ['calendars', 'resources', 'tasks', 'dependencies', 'assignments', 'versions', 'changelogs', 'annotations', 'labels', 'memos', 'notes'];
    const ids = order.map((s) => (outgoing[s] as Rec).added[0].id as number);
    expect(ids.map((id) => id - ids[0])).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });

  it("keeps a client's own id only for a record sent without a phantom id whose id is free, and names only records sent with a text phantom id", async () => {
    const t = await seededProject('saas', 'number');
    const { outgoing, newPhantoms } = t.apply({
      resources: {
        added: [
          { $PhantomId: '_generatedResourceModel_own', id: 9100, name: 'phantom with an id' },
          { id: '', name: 'empty id' },
          { name: 'no id' },
          { id: 9200, name: 'own id' },
          { $PhantomId: -1, name: 'numeric phantom' },
          { id: 'res-a', name: 'own text id' },
          { id: 2, name: 'id of another resource' },
          { id: 11, name: 'id of a task' },
        ],
      },
      versions: { added: [{ id: 'weft-1', name: 'server-looking id' }] },
    });
    const [phantom, empty, none, own, numeric, text, other, task] = (outgoing.resources as Rec).added;
    expect(phantom.id).not.toBe(9100);
    expect(empty.id).not.toBe('');
    expect(typeof none.id).toBe('number');
    expect(own.id).toBe(9200);
    expect(typeof numeric.id).toBe('number');
    expect(text.id).toBe('res-a');
    // Ids held by another record, in any store, are not taken over.
    expect(other.id).not.toBe(2);
    expect(task.id).not.toBe(11);
    expect(t.record('resources', 2)?.name).not.toBe('id of another resource');
    expect((outgoing.versions as Rec).added[0].id).not.toBe('weft-1');
    expect([...newPhantoms.entries()].map((x) => x.phantom)).toEqual(['_generatedResourceModel_own']);
    expect(t.record('resources', 9200)).toMatchObject({ name: 'own id' });
    expect(t.record('resources', phantom.id)).toMatchObject({ name: 'phantom with an id' });
  });
});

describe('a new task under a phantom parent', () => {
  it('keeps the parentId it was sent with when its $PhantomParentId names no record', async () => {
    const t = await seededProject();
    const { newPhantoms } = t.apply({ tasks: { added: [add('u', { $PhantomParentId: P('nowhere') })] } });
    const id = newPhantoms.get(P('u'))!;
    expect(t.children(1)).toEqual([11, 12, 13, 14, 15, id]);
    expect(t.record('tasks', id)?.parentId).toBe(1);
  });
});

describe('phantom ids inside field values', () => {
  it('resolves a phantom id held in a nested value but leaves nested $PhantomId and $PhantomParentId fields as they are', async () => {
    const t = await seededProject();
    const meta = { $PhantomId: P('a'), $PhantomParentId: P('a'), ref: P('a'), list: [P('a'), { $PhantomId: P('a') }] };
    const { outgoing } = t.apply({ tasks: { added: [{ $PhantomId: P('a'), name: 'A', parentId: 1, meta }] } });
    const a = (outgoing.tasks as Rec).added[0];
    const expected = { $PhantomId: P('a'), $PhantomParentId: P('a'), ref: a.id, list: [a.id, { $PhantomId: P('a') }] };
    expect(a.$PhantomId).toBe(P('a'));
    expect(a.meta).toEqual(expected);
    expect(t.record('tasks', a.id)!.meta).toEqual(expected);
  });
});

describe('a phantom id sent twice', () => {
  it('makes the second row of one change an update of the first, and reports earlier phantoms used only when a later change re-sends one', async () => {
    const t = await seededProject();
    const before = t.count('tasks');
    const first = t.apply({ tasks: { added: [{ $PhantomId: P('d'), name: 'one', parentId: 1 }, { $PhantomId: P('d'), name: 'two' }] } });
    expect(first.usedEarlierPhantoms).toBe(false);
    expect(t.count('tasks')).toBe(before + 1);
    const id = first.newPhantoms.get(P('d'))!;
    expect(t.record('tasks', id)?.name).toBe('two');
    const second = t.apply({ tasks: { added: [{ $PhantomId: P('d'), name: 'three' }] } });
    expect(second.usedEarlierPhantoms).toBe(true);
    expect(t.count('tasks')).toBe(before + 1);
    expect(t.record('tasks', id)?.name).toBe('three');
  });
});

describe('positions that are no index', () => {
  it('places a task sent with a negative or fractional index at the end', async () => {
    const t = await seededProject();
    const { newPhantoms } = t.apply({ tasks: { added: [add('m', { parentIndex: -1 }), add('h', { orderedParentIndex: 1.5 }), add('s', { parentIndex: '0' })] } });
    expect(t.children(1)).toEqual([11, 12, 13, 14, 15, newPhantoms.get(P('m')), newPhantoms.get(P('h')), newPhantoms.get(P('s'))]);
  });

  it('leaves a task where it is when an update names a negative or fractional index', async () => {
    const t = await seededProject();
    t.apply({ tasks: { updated: [{ id: 13, parentIndex: -1 }, { id: 12, orderedParentIndex: 0.5 }] } });
    expect(t.children(1)).toEqual([11, 12, 13, 14, 15]);
  });
});

describe('a re-sent phantom of a removed record', () => {
  it('is left out of the outgoing added rows when re-sent phantoms are kept in added', async () => {
    const t = await seededProject();
    const first = t.apply({ tasks: { added: [{ $PhantomId: P('a'), name: 'A', parentId: 1 }] } });
    const id = (first.outgoing.tasks as Rec).added[0].id as RecordId;
    t.apply({ tasks: { removed: [{ id }] } });
    const before = t.count('tasks');
    const { outgoing, corrections } = t.apply({ tasks: { added: [{ $PhantomId: P('a'), name: 'again' }] } }, 'keep-added');
    expect(outgoing.tasks).toEqual({ added: [] });
    expect(corrections).toEqual({ tasks: { removed: [{ id }] } });
    expect(t.count('tasks')).toBe(before);
    expect(t.record('tasks', id)).toBeUndefined();
  });

  it('stays in the outgoing added rows, with its id, when its record is still there', async () => {
    const t = await seededProject();
    const first = t.apply({ tasks: { added: [{ $PhantomId: P('a'), name: 'A', parentId: 1 }] } });
    const id = (first.outgoing.tasks as Rec).added[0].id as RecordId;
    const { outgoing, corrections } = t.apply({ tasks: { added: [{ $PhantomId: P('a'), name: 'again' }, add('b')] } }, 'keep-added');
    const added = (outgoing.tasks as Rec).added;
    expect(added.map((r: Rec) => r.$PhantomId)).toEqual([P('a'), P('b')]);
    expect(added[0].id).toBe(id);
    expect(corrections).toBeNull();
    expect(t.record('tasks', id)?.name).toBe('again');
  });
});

describe('order keys of placed siblings', () => {
  const orderOf = (t: { project: ProjectDocument }, id: RecordId) => readField(storeMap(t.project.doc, TASKS).get(String(id))!, ORDER_FIELD);

  it('writes nothing when tasks are placed at the first and last index they already hold', async () => {
    const t = await seededProject();
    const { updates, result } = updatesDuring(t.project.doc, () => t.apply({ tasks: { updated: [{ id: 11, parentIndex: 0 }, { id: 15, parentIndex: 4 }] } }));
    expect(result.corrections).toBeNull();
    expect(updates).toBe(0);
    expect(t.children(1)).toEqual([11, 12, 13, 14, 15]);
  });

  it('gives every new child of a new parent an order key', async () => {
    const t = await seededProject();
    const { outgoing } = t.apply({
      tasks: {
        added: [
          { $PhantomId: P('c1'), $PhantomParentId: P('p'), name: 'c1' },
          { $PhantomId: P('c2'), $PhantomParentId: P('p'), name: 'c2' },
          { $PhantomId: P('p'), parentId: 1000, name: 'p' },
        ],
      },
    });
    const [c1, c2, p] = (outgoing.tasks as Rec).added;
    expect(t.children(p.id)).toEqual([c1.id, c2.id]);
    for (const c of [c1, c2, p]) expect(isOrderKey(orderOf(t, c.id)), String(c.id)).toBe(true);
  });

  it('renumbers the siblings when a fixed one holds a key in another format, so an insert at index 0 comes first', async () => {
    const t = await seededProject();
    const { tasks, send } = peerOf(t.project);
    tasks.get('11')!.set(ORDER_FIELD, '0');
    send();
    const { newPhantoms } = t.apply({ tasks: { added: [add('x', { parentIndex: 0 })] } });
    expect(t.children(1)).toEqual([newPhantoms.get(P('x')), 11, 12, 13, 14, 15]);
    for (const id of t.children(1)) expect(isOrderKey(orderOf(t, id))).toBe(true);
  });

  it('renumbers the siblings when two neighbours of an insert hold the same key', async () => {
    const t = await seededProject();
    const { tasks, send, peer } = peerOf(t.project);
    const key11 = readField(tasks.get('11')!, ORDER_FIELD);
    peer.transact(() => tasks.get('12')!.set(ORDER_FIELD, key11));
    send();
    const order = t.children(1);
    const { newPhantoms } = t.apply({ tasks: { added: [add('x', { parentIndex: 1 })] } });
    const x = newPhantoms.get(P('x'))!;
    expect(t.children(1)).toEqual([order[0], x, ...order.slice(1)]);
    const keys = t.children(1).map((id) => orderOf(t, id) as string);
    expect(keys.every((k, i) => i === 0 || keys[i - 1] < k)).toBe(true);
  });
});

describe('fields a change wrote', () => {
  it('reports exactly the fields it wrote, and nothing for a change that writes no field', async () => {
    const t = await seededProject();
    const { touched } = t.apply({ tasks: { updated: [{ id: 12, name: 'renamed', parentId: 2 }] }, project: { hoursPerDay: 8 } });
    expect(touched.map((k) => k.split('\u0000'))).toEqual([
      ['tasks', '12', 'name'],
      ['tasks', '12', 'parentId'],
      ['project', '', 'hoursPerDay'],
    ]);
    expect(t.apply({ tasks: { removed: [{ id: 13 }] } }).touched).toEqual([]);
  });

  it('takes an id sent as text in an update for the record, not as a field to write', async () => {
    const t = await seededProject();
    const { touched } = t.apply({ tasks: { updated: [{ id: '12', name: 'x' }] } });
    expect(t.record('tasks', 12)).toMatchObject({ id: 12, name: 'x' });
    expect(touched.map((k) => k.split('\u0000'))).toEqual([['tasks', '12', 'name']]);
  });
});

describe('a field named content outside versions', () => {
  it('is stored and sent like any other field', async () => {
    const t = await seededProject();
    const r = t.apply({ resources: { added: [{ $PhantomId: '_generatedResourceModel_r', name: 'R', content: 'bio' }], updated: [{ id: 1, content: 'notes' }] } });
    expect(r.versionContents.size).toBe(0);
    const resources = r.outgoing.resources as Rec;
    expect(resources.added[0].content).toBe('bio');
    expect(resources.updated[0].content).toBe('notes');
    expect(t.record('resources', resources.added[0].id)?.content).toBe('bio');
    expect(t.record('resources', 1)?.content).toBe('notes');
  });
});

describe('a store sharing ids with tasks', () => {
  it("writes a resource's parentId as a plain field and leaves the task with the same id where it is", async () => {
    const t = await seededProject();
    const { corrections } = t.apply({ resources: { updated: [{ id: 1, parentId: 2 }] } });
    expect(corrections).toBeNull();
    expect(t.record('resources', 1)?.parentId).toBe(2);
    expect(t.record('tasks', 1)?.parentId).toBe(1000);
    expect(t.children(2)).toEqual([21, 22, 23, 24, 25]);
    expect(t.children(1000)).toEqual([1, 2, 3, 4]);
  });

  it('removes a resource without touching the task with the same id or its subtree', async () => {
    const t = await seededProject();
    const { corrections } = t.apply({ resources: { removed: [{ id: 1 }] } });
    expect(corrections).toBeNull();
    expect(t.record('resources', 1)).toBeUndefined();
    expect(t.children(1000)).toEqual([1, 2, 3, 4]);
    expect(t.children(1)).toEqual([11, 12, 13, 14, 15]);
  });
});

describe('a refused move in $input', () => {
  it("drops only the refused row's placement from what receivers replay", async () => {
    const t = await seededProject();
    const rows = [{ id: 4, parentId: 41 }, { id: 15, parentIndex: 0 }];
    const { outgoing, corrections } = t.apply({ tasks: { updated: structuredClone(rows), $input: { updated: structuredClone(rows) } } });
    expect((outgoing.tasks as Rec).$input.updated).toEqual([{ id: 4 }, { id: 15, parentIndex: 0 }]);
    expect(corrections?.tasks).toMatchObject({ updated: [{ id: 4, parentId: 1000 }] });
    expect(t.children(1)).toEqual([15, 11, 12, 13, 14]);
  });
});

describe('an engine correction', () => {
  it('tells nothing when it restates stored values or names a field never stored', async () => {
    const t = await seededProject();
    const name = t.record('tasks', 11)!.name;
    const applied = t.project.applyChange(
      { tasks: { updated: [{ id: 11, name, custom: 'x' }] } },
      { ids: t.ids, phantoms: NO_PHANTOMS, resentPhantoms: 'to-updated', engineCorrection: true },
    );
    expect(applied.corrections).toBeNull();
    expect(t.record('tasks', 11)).not.toHaveProperty('custom');
    expect(t.record('tasks', 11)?.name).toBe(name);
  });

  it('restates a stored value it would have changed', async () => {
    const t = await seededProject();
    const name = t.record('tasks', 11)!.name;
    const applied = t.project.applyChange(
      { tasks: { updated: [{ id: 11, name: 'other' }] } },
      { ids: t.ids, phantoms: NO_PHANTOMS, resentPhantoms: 'to-updated', engineCorrection: true },
    );
    expect(applied.corrections).toEqual({ tasks: { updated: [{ id: 11, name }] } });
    expect(t.record('tasks', 11)?.name).toBe(name);
  });
});

describe('a nested change set that only removes', () => {
  it('removes the rows it names by id, keeps rows without an id, and passes over removals naming none', async () => {
    const t = await seededProject();
    const { outgoing } = t.apply({
      calendars: { added: [{ $PhantomId: '_generatedCalendarModel_c', name: 'C', intervals: { added: [{ id: 'i1' }, { note: 'no id' }, null, { $PhantomId: '_generatedIntervalModel_1', id: 'i2' }] } }] },
    });
    const cal = (outgoing.calendars as Rec).added[0];
    expect(t.record('calendars', cal.id)?.intervals).toEqual([{ id: 'i1' }, { note: 'no id' }, { id: 'i2' }]);
    t.apply({ calendars: { updated: [{ id: cal.id, intervals: { removed: [{ id: 'i1' }, {}, null] } }] } });
    expect(t.record('calendars', cal.id)?.intervals).toEqual([{ note: 'no id' }, { id: 'i2' }]);
    t.apply({ calendars: { updated: [{ id: cal.id, intervals: { updated: [{ id: 'i2', isWorking: true }, { isWorking: false }, 'x'] } }] } });
    expect(t.record('calendars', cal.id)?.intervals).toEqual([{ note: 'no id' }, { id: 'i2', isWorking: true }]);
  });
});

describe('the id counter', () => {
  it('hands out the first id from a counter at 1, and reads the largest id it may hand out', () => {
    expect(new CounterIds(1, 'number').next('tasks', () => false)).toBe(1);
    expect(new CounterIds(1, 'prefixed').next('tasks', () => false)).toBe('tasks-1');
    expect(numberIn(`tasks-${LAST_ID}`)).toBe(LAST_ID);
    expect(String(LAST_ID)).toHaveLength(15);
  });

  it('does not take text without a number, or an object, for an id it handed out', () => {
    const ids = new CounterIds(10, 'prefixed');
    expect(ids.mayHaveHeld('tasks', 'tasks-5')).toBe(true);
    expect(ids.mayHaveHeld('tasks', 'tasks-null')).toBe(false);
    expect(ids.mayHaveHeld('tasks', 'tasks-')).toBe(false);
    // A phantom id is client JSON: an object whose toString is no function must not break the check.
    expect(ids.mayHaveHeld('tasks', JSON.parse('{"toString":1,"valueOf":2}'))).toBe(false);
    expect(ids.mayHaveHeld('tasks', ['tasks-5'])).toBe(false);
  });
});

describe("an older client's page-counted phantom ids", () => {
  it('are re-sent records only over the connection that named them; other phantom ids over any of the user\'s connections', () => {
    const map = new PhantomMap(Infinity);
    const now = Date.now();
    const phantoms = ['_generatedModel12', '_generatedTaskModel7', 'x_generatedModel1', '_generatedModel1x', '_generatedModel'];
    phantoms.forEach((phantom, i) => map.set({ user: 'ann', store: 'tasks', phantom, id: i + 1, connection: 'c1', at: now }));
    const same = map.of('ann', 'c1', now);
    const other = map.of('ann', 'c2', now);
    expect(phantoms.map((p) => same.get('tasks', p)?.resent)).toEqual([true, true, true, true, true]);
    expect(phantoms.map((p) => other.get('tasks', p)?.resent)).toEqual([false, false, true, true, true]);
    expect(phantoms.map((p) => other.get('tasks', p)?.id)).toEqual([1, 2, 3, 4, 5]);
  });

  it('names the stores a phantom id was used in, and none for one never used', () => {
    const map = new PhantomMap(Infinity);
    const now = Date.now();
    map.set({ user: 'ann', store: 'tasks', phantom: 'p', id: 1, connection: 'c1', at: now });
    map.set({ user: 'ann', store: 'resources', phantom: 'p', id: 2, connection: 'c1', at: now });
    const known = map.of('ann', 'c1', now);
    expect([...known.storesOf('p')]).toEqual(['tasks', 'resources']);
    expect([...known.storesOf('unknown')]).toEqual([]);
  });
});
