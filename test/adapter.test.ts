import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { readField, storeMap, TASKS, type RecordId } from '../src/document/layout.js';
import { keyBetween } from '../src/document/order.js';
import { ProjectDocument } from '../src/document/project-document.js';
import { idTree, projectOf, seededProject, type ServedTask } from './support/document.js';

type Rec = Record<string, any>;
const P = (name: string) => `_generatedTaskModel_${name}`;

/** Count what the document emits while `fn` runs. */
function watch<T>(doc: Y.Doc, fn: () => T): { result: T; updates: number; transactions: number } {
  let updates = 0;
  let transactions = 0;
  const onUpdate = () => updates++;
  const onTransaction = () => transactions++;
  doc.on('update', onUpdate);
  doc.on('afterTransaction', onTransaction);
  try {
    return { result: fn(), updates, transactions };
  } finally {
    doc.off('update', onUpdate);
    doc.off('afterTransaction', onTransaction);
  }
}

describe('ids of added records', () => {
  it('gives every added record a fresh id, in every store, never one already in the project', async () => {
    const t = await seededProject();
    const existing = new Set([...t.project.ids()].map(String));
    const stores = ['tasks', 'resources', 'dependencies', 'assignments', 'calendars', 'versions', 'changelogs', 'notes'];
    const changes: Rec = {};
    for (const store of stores) changes[store] = { added: [{ $PhantomId: `_generated_${store}_1`, name: store }, { $PhantomId: `_generated_${store}_2`, name: store }] };

    const { outgoing, newPhantoms, hasAdded } = t.apply(changes);

    expect(hasAdded).toBe(true);
    const ids: RecordId[] = [];
    for (const store of stores) {
      for (const [i, rec] of (outgoing[store] as Rec).added.entries()) {
        expect(rec.id, `${store} #${i}`).toBeDefined();
        expect(String(rec.id).startsWith('_generated')).toBe(false);
        expect(existing.has(String(rec.id))).toBe(false);
        expect(newPhantoms.get(`_generated_${store}_${i + 1}`)).toBe(rec.id);
        expect(t.record(store, rec.id)).toMatchObject({ id: rec.id, name: store });
        ids.push(rec.id);
      }
    }
    expect(new Set(ids.map(String)).size).toBe(ids.length);
  });

  it('keeps $PhantomId on added records in the outgoing change but does not store it', async () => {
    const t = await seededProject();
    const { outgoing } = t.apply({ resources: { added: [{ $PhantomId: '_generatedResourceModel_a', name: 'Ann' }] } });
    const sent = (outgoing.resources as Rec).added[0];
    expect(sent.$PhantomId).toBe('_generatedResourceModel_a');
    expect(t.record('resources', sent.id)).toEqual({ id: sent.id, name: 'Ann' });
  });

  it('leaves the incoming change untouched', async () => {
    const t = await seededProject();
    const incoming = { tasks: { added: [{ $PhantomId: P('a'), name: 'A', parentId: 1 }] } };
    const copy = structuredClone(incoming);
    t.apply(incoming);
    expect(incoming).toEqual(copy);
  });

  it('keeps the id of an added record without $PhantomId when no record has it, and starts later ids above it', async () => {
    const t = await seededProject();
    const { outgoing } = t.apply({ resources: { added: [{ id: 9000, name: 'Own id' }] } });
    expect((outgoing.resources as Rec).added[0].id).toBe(9000);
    expect(t.record('resources', 9000)).toEqual({ id: 9000, name: 'Own id' });

    const next = t.apply({ resources: { added: [{ $PhantomId: '_generatedResourceModel_b', name: 'B' }] } });
    expect((next.outgoing.resources as Rec).added[0].id).toBe('resources-9001');
  });

  it('gives an added record without $PhantomId a fresh id when its id is taken, in any store', async () => {
    const t = await seededProject();
    // 11 is a task, 'general' a calendar: ids are unique across stores.
    const { outgoing } = t.apply({ resources: { added: [{ id: 11, name: 'Clash' }, { id: 'general', name: 'Clash too' }] } });
    const [a, b] = (outgoing.resources as Rec).added;
    expect(a.id).not.toBe(11);
    expect(b.id).not.toBe('general');
    expect(a.id).not.toBe(b.id);
    expect(t.record('tasks', 11)?.name).toBe('Install Apache');
    expect(t.record('calendars', 'general')?.name).toBe('General');
    expect(t.record('resources', a.id)?.name).toBe('Clash');
  });

  it('treats ids of stores beyond the known ones as taken', async () => {
    const t = await seededProject();
    t.apply({ notes: { added: [{ id: 'note-1', text: 'hello' }] } });
    const { outgoing } = t.apply({ resources: { added: [{ id: 'note-1', name: 'Clash' }] } });
    expect((outgoing.resources as Rec).added[0].id).not.toBe('note-1');
    expect(t.record('notes', 'note-1')).toEqual({ id: 'note-1', text: 'hello' });
  });

  it('does not let two added records of one change share an id', async () => {
    const t = await seededProject();
    const { outgoing } = t.apply({ resources: { added: [{ id: 9000, name: 'A' }] }, tasks: { added: [{ id: 9000, name: 'B' }] } });
    const ids = [(outgoing.resources as Rec).added[0].id, (outgoing.tasks as Rec).added[0].id];
    expect(new Set(ids).size).toBe(2);
  });

  it('gives a fresh id to an added record whose id looks like a phantom id', async () => {
    const t = await seededProject();
    const { outgoing } = t.apply({ resources: { added: [{ id: '_generatedResourceModel_x', name: 'X' }] } });
    const id = (outgoing.resources as Rec).added[0].id;
    expect(String(id).startsWith('_generated')).toBe(false);
    expect(t.record('resources', id)?.name).toBe('X');
  });
});

describe('added tasks as Yjs peers read them', () => {
  it('hold parentId null at the top level and their parent\'s id below it, like seeded tasks (README: layout)', async () => {
    const t = await seededProject();
    const { newPhantoms } = t.apply({ tasks: { added: [{ $PhantomId: P('top'), name: 'top' }, { $PhantomId: P('below'), name: 'below', parentId: 1 }] } });
    const tasks = storeMap(t.project.doc, TASKS);
    const parentOf = (phantom: string) => readField(tasks.get(String(newPhantoms.get(phantom)))!, 'parentId');
    expect(parentOf(P('top'))).toBeNull();
    expect(parentOf(P('below'))).toBe(1);
  });

  it('are placed among the top-level tasks when added without a parent, where their index says', async () => {
    const t = await seededProject();
    const before = t.children(null);
    const { newPhantoms } = t.apply({ tasks: { added: [{ $PhantomId: P('first'), name: 'first', parentIndex: 0 }] } });
    expect(t.children(null)).toEqual([newPhantoms.get(P('first')), ...before]);
  });
});

describe('phantom references', () => {
  it('resolves references to records added in the same change whatever the key order', async () => {
    const t = await seededProject();
    const { outgoing } = t.apply({
      assignments: { added: [{ $PhantomId: '_generatedAssignmentModel_1', event: P('a'), resource: '_generatedResourceModel_1' }] },
      dependencies: { added: [{ $PhantomId: '_generatedDependencyModel_1', fromTask: P('a'), toTask: 15 }] },
      tasks: { added: [{ $PhantomId: P('a'), name: 'A', parentId: 1 }] },
      resources: { added: [{ $PhantomId: '_generatedResourceModel_1', name: 'R' }] },
    });
    const task = (outgoing.tasks as Rec).added[0].id;
    const resource = (outgoing.resources as Rec).added[0].id;
    const dep = (outgoing.dependencies as Rec).added[0];
    const asg = (outgoing.assignments as Rec).added[0];
    expect(dep).toMatchObject({ fromTask: task, toTask: 15 });
    expect(asg).toMatchObject({ event: task, resource });
    expect(t.record('dependencies', dep.id)).toMatchObject({ fromTask: task, toTask: 15 });
    expect(t.record('assignments', asg.id)).toMatchObject({ event: task, resource });
  });

  it('places a task under a phantom parent named by $PhantomParentId and does not store that field', async () => {
    const t = await seededProject();
    const { outgoing } = t.apply({
      tasks: {
        added: [
          { $PhantomId: P('child1'), $PhantomParentId: P('parent'), parentId: P('parent'), name: 'child 1' },
          { $PhantomId: P('child2'), $PhantomParentId: P('parent'), name: 'child 2' },
          { $PhantomId: P('parent'), parentId: 1000, name: 'parent' },
        ],
      },
    });
    const [c1, c2, parent] = (outgoing.tasks as Rec).added;
    expect(c1.parentId).toBe(parent.id);
    expect(c2.parentId).toBe(parent.id);
    expect(t.children(parent.id)).toEqual([c1.id, c2.id]);
    expect(t.children(1000)).toContain(parent.id);
    for (const rec of [c1, c2]) {
      const stored = t.record('tasks', rec.id)!;
      expect(stored.parentId).toBe(parent.id);
      expect(stored).not.toHaveProperty('$PhantomParentId');
      expect(stored).not.toHaveProperty('$PhantomId');
    }
  });

  it('resolves references to phantoms mapped by an earlier change', async () => {
    const t = await seededProject();
    const first = t.apply({ tasks: { added: [{ $PhantomId: P('a'), name: 'A', parentId: 1 }] } });
    const id = (first.outgoing.tasks as Rec).added[0].id;
    const { outgoing } = t.apply({
      dependencies: { added: [{ $PhantomId: '_generatedDependencyModel_1', fromTask: 11, toTask: P('a') }] },
      tasks: { added: [{ $PhantomId: P('b'), $PhantomParentId: P('a'), parentId: P('a'), name: 'B' }] },
    });
    expect((outgoing.dependencies as Rec).added[0].toTask).toBe(id);
    const b = (outgoing.tasks as Rec).added[0];
    expect(b.parentId).toBe(id);
    expect(t.children(id)).toEqual([b.id]);
  });

  it('resolves phantom ids inside arrays and nested objects', async () => {
    const t = await seededProject();
    const { outgoing } = t.apply({
      resources: { added: [{ $PhantomId: '_generatedResourceModel_1', name: 'R' }] },
      tasks: {
        added: [
          {
            $PhantomId: P('a'),
            name: 'A',
            watchers: ['_generatedResourceModel_1', 2],
            meta: { owner: '_generatedResourceModel_1', links: [{ to: '_generatedResourceModel_1' }, [['_generatedResourceModel_1']]] },
          },
        ],
      },
    });
    const r = (outgoing.resources as Rec).added[0].id;
    const expected = { watchers: [r, 2], meta: { owner: r, links: [{ to: r }, [[r]]] } };
    const a = (outgoing.tasks as Rec).added[0];
    expect(a).toMatchObject(expected);
    expect(t.record('tasks', a.id)).toMatchObject(expected);
  });

  it('resolves phantom ids used as ids in updated and removed, and in every $input list', async () => {
    const t = await seededProject();
    const first = t.apply({
      tasks: {
        added: [
          { $PhantomId: P('a'), name: 'A', parentId: 1 },
          { $PhantomId: P('b'), name: 'B', parentId: 1 },
        ],
      },
    });
    const [a, b] = (first.outgoing.tasks as Rec).added.map((r: Rec) => r.id);
    const { outgoing } = t.apply({
      tasks: {
        updated: [{ id: P('a'), name: 'A renamed' }],
        removed: [{ id: P('b') }],
        $input: { updated: [{ id: P('a'), name: 'A renamed' }], removed: [{ id: P('b') }] },
      },
      dependencies: {
        added: [{ $PhantomId: '_generatedDependencyModel_1', fromTask: P('a'), toTask: 15 }],
        updated: [{ id: 1, toTask: P('a') }],
        $input: {
          added: [{ $PhantomId: '_generatedDependencyModel_1', fromTask: P('a'), toTask: 15 }],
          updated: [{ id: 1, toTask: P('a') }],
        },
      },
    });
    const tasks = outgoing.tasks as Rec;
    expect(tasks.updated).toEqual([{ id: a, name: 'A renamed' }]);
    expect(tasks.removed).toEqual([{ id: b }]);
    expect(tasks.$input).toEqual({ updated: [{ id: a, name: 'A renamed' }], removed: [{ id: b }] });
    const deps = outgoing.dependencies as Rec;
    const depId = deps.added[0].id;
    expect(deps.$input.added).toEqual([{ $PhantomId: '_generatedDependencyModel_1', id: depId, fromTask: a, toTask: 15 }]);
    expect(deps.$input.updated).toEqual([{ id: 1, toTask: a }]);
    expect(t.record('tasks', a)?.name).toBe('A renamed');
    expect(t.record('tasks', b)).toBeUndefined();
    expect(t.record('dependencies', 1)?.toTask).toBe(a);
  });

  it('resolves phantom ids in project fields', async () => {
    const t = await seededProject();
    const { outgoing } = t.apply({
      calendars: { added: [{ $PhantomId: '_generatedCalendarModel_1', name: 'Night shift' }] },
      project: { calendar: '_generatedCalendarModel_1', $input: { calendar: '_generatedCalendarModel_1' } },
    });
    const cal = (outgoing.calendars as Rec).added[0].id;
    expect(outgoing.project).toEqual({ calendar: cal, $input: { calendar: cal } });
    expect(t.project.readFields('project', '', ['calendar'])).toEqual({ calendar: cal });
  });
});

describe('what revisions receivers replay ($input)', () => {
  it('adds a user edit the revision wrote but left out of the record\'s $input entry', async () => {
    const t = await seededProject();
    // Bryntum's revision engine: a task moved among its siblings, then renamed, in one transaction.
    const { outgoing } = t.apply({
      tasks: { updated: [{ id: 14, parentIndex: 3, name: 'renamed' }], $input: { updated: [{ id: 14, parentIndex: 3 }] } },
    });
    expect((outgoing.tasks as Rec).$input.updated).toEqual([{ id: 14, parentIndex: 3, name: 'renamed' }]);
    expect((outgoing.tasks as Rec).updated).toEqual([{ id: 14, parentIndex: 3, name: 'renamed' }]);
    expect(t.record('tasks', 14)?.name).toBe('renamed');
  });

  it('adds an entry for a record whose user edit is missing from $input altogether', async () => {
    const t = await seededProject();
    const { outgoing } = t.apply({
      tasks: { updated: [{ id: 14, note: 'call the vendor', startDate: '2019-01-20T00:00:00' }], $input: { updated: [] } },
    });
    expect((outgoing.tasks as Rec).$input.updated).toEqual([{ id: 14, note: 'call the vendor' }]);
  });

  it('leaves out what the scheduling engine computes, sibling positions, and values the record already had', async () => {
    const t = await seededProject();
    const name = t.record('tasks', 14)?.name;
    const { outgoing } = t.apply({
      tasks: {
        updated: [{ id: 14, name, startDate: '2019-01-20T00:00:00', endDate: '2019-01-22T00:00:00', duration: 2, effort: 16, parentIndex: 1 }],
        $input: { updated: [{ id: 14, duration: 2 }] },
      },
      assignments: { updated: [{ id: 1, units: 50 }], $input: {} },
    });
    expect((outgoing.tasks as Rec).$input).toEqual({ updated: [{ id: 14, duration: 2 }] });
    expect((outgoing.assignments as Rec).$input).toEqual({});
  });

  it('replays a value the document stores as it is, and leaves out one it merges as a nested change set', async () => {
    const t = await seededProject();
    const mixed = { added: [{ id: 1 }], label: 'not a change set' };
    const { outgoing } = t.apply({
      tasks: {
        updated: [{ id: 14, custom: mixed, segments2: { added: [{ id: 1, name: 'merged' }] } }],
        $input: { updated: [] },
      },
    });
    expect(t.record('tasks', 14)?.custom).toEqual(mixed);
    expect(t.record('tasks', 14)?.segments2).toEqual([{ id: 1, name: 'merged' }]);
    expect((outgoing.tasks as Rec).$input.updated).toEqual([{ id: 14, custom: mixed }]);
  });

  it('adds a leaf task\'s duration and progress to its partial $input entry, but not a summary task\'s', async () => {
    const t = await seededProject();
    const all: Rec[] = [];
    const walk = (tasks: Rec[]) => tasks.forEach((task) => (all.push(task), walk(task.children ?? [])));
    walk((await t.project.dataset()).tasksData as Rec[]);
    const parent = all.find((task) => task.children?.some((child: Rec) => !child.children?.length))!;
    const leaf = parent.children.find((child: Rec) => !child.children?.length);
    // Duration typed, then the task moved among its siblings, in one transaction (Gantt 7.3).
    const { outgoing } = t.apply({
      tasks: {
        updated: [
          { id: leaf.id, parentIndex: 0, endDate: '2019-03-01T00:00:00', duration: leaf.duration + 3, durationUnit: 'day', percentDone: 55 },
          { id: parent.id, duration: parent.duration + 3, percentDone: 12 },
        ],
        $input: { updated: [{ id: leaf.id, parentIndex: 0 }, { id: parent.id }] },
      },
    });
    expect((outgoing.tasks as Rec).$input.updated).toEqual([
      { id: leaf.id, parentIndex: 0, duration: leaf.duration + 3, durationUnit: 'day', percentDone: 55 },
      { id: parent.id },
    ]);
  });

  it('does not add a leaf task\'s computed duration when the revision has no $input entry for the task', async () => {
    const t = await seededProject();
    const { outgoing } = t.apply({ tasks: { updated: [{ id: 14, duration: 9 }], $input: { updated: [] } } });
    expect((outgoing.tasks as Rec).$input.updated).toEqual([]);
  });

  it('gives a new record\'s $input.added the user fields the record was added with', async () => {
    const t = await seededProject();
    // Added and then edited while still a phantom, in one user action.
    const { outgoing } = t.apply({
      tasks: {
        added: [{ $PhantomId: P('a'), name: 'final', note: 'n', parentId: 1, startDate: '2019-01-20T00:00:00' }],
        $input: { added: [{ $PhantomId: P('a'), name: 'first', parentId: 1 }] },
      },
    });
    const tasks = outgoing.tasks as Rec;
    expect(tasks.$input.added).toEqual([{ $PhantomId: P('a'), id: tasks.added[0].id, name: 'final', note: 'n', parentId: 1 }]);
  });

  it('does not touch changes without $input (classic clients, engine corrections)', async () => {
    const t = await seededProject();
    const { outgoing } = t.apply({ tasks: { updated: [{ id: 14, name: 'classic' }] } });
    expect(outgoing.tasks).toEqual({ updated: [{ id: 14, name: 'classic' }] });
  });
});

describe('re-sent phantom ids', () => {
  async function withAddedTask() {
    const t = await seededProject();
    const first = t.apply({ tasks: { added: [{ $PhantomId: P('a'), name: 'A', parentId: 1 }], $input: { added: [{ $PhantomId: P('a'), name: 'A', parentId: 1 }] } } });
    return { t, id: (first.outgoing.tasks as Rec).added[0].id as RecordId };
  }

  it('turns a re-sent phantom into an update of its record, in updated and $input.updated', async () => {
    const { t, id } = await withAddedTask();
    const before = t.count('tasks');
    const { outgoing, newPhantoms } = t.apply({
      tasks: {
        added: [
          { $PhantomId: P('a'), name: 'A edited', parentId: 1 },
          { $PhantomId: P('b'), name: 'B', parentId: 1 },
        ],
        $input: { added: [{ $PhantomId: P('a'), name: 'A edited' }, { $PhantomId: P('b'), name: 'B', parentId: 1 }] },
      },
    });
    const tasks = outgoing.tasks as Rec;
    const b = newPhantoms.get(P('b'));
    expect(tasks.added).toEqual([{ $PhantomId: P('b'), id: b, name: 'B', parentId: 1 }]);
    expect(tasks.updated).toEqual([{ id, name: 'A edited', parentId: 1 }]);
    expect(tasks.$input).toEqual({ added: [{ $PhantomId: P('b'), id: b, name: 'B', parentId: 1 }], updated: [{ id, name: 'A edited' }] });
    expect(newPhantoms.get(P('a'))).toBeUndefined();
    expect(t.count('tasks')).toBe(before + 1);
    expect(t.record('tasks', id)?.name).toBe('A edited');
    expect(t.children(1).filter((c) => c === id)).toHaveLength(1);
  });

  it('turns a re-sent phantom into an update when other store entries of the revision are empty', async () => {
    const { t, id } = await withAddedTask();
    const { outgoing } = t.apply({
      resources: { $input: {} },
      dependencies: {},
      tasks: { added: [{ $PhantomId: P('a'), name: 'A edited' }], $input: { added: [{ $PhantomId: P('a'), name: 'A edited' }] } },
    });
    expect(outgoing.resources).toEqual({ $input: {} });
    expect(outgoing.dependencies).toEqual({});
    expect(outgoing.tasks).toEqual({ added: [], updated: [{ id, name: 'A edited' }], $input: { added: [], updated: [{ id, name: 'A edited' }] } });
    expect(t.record('tasks', id)?.name).toBe('A edited');
  });

  it('handles a re-sent phantom with no $input.added counterpart, and lets receivers replay its new name', async () => {
    const { t, id } = await withAddedTask();
    const { outgoing } = t.apply({ tasks: { added: [{ $PhantomId: P('a'), name: 'A edited' }], $input: { updated: [{ id: 11, name: 'typed' }] } } });
    expect(outgoing.tasks).toEqual({ added: [], updated: [{ id, name: 'A edited' }], $input: { updated: [{ id: 11, name: 'typed' }, { id, name: 'A edited' }] } });
  });

  it('keeps a re-sent phantom in added with its id when asked to, without creating a second record', async () => {
    const { t, id } = await withAddedTask();
    const before = t.count('tasks');
    const { outgoing } = t.apply(
      { tasks: { added: [{ $PhantomId: P('a'), name: 'A edited', parentId: 1 }], $input: { added: [{ $PhantomId: P('a'), name: 'A edited' }] } } },
      'keep-added',
    );
    expect(outgoing.tasks).toEqual({
      added: [{ $PhantomId: P('a'), id, name: 'A edited', parentId: 1 }],
      $input: { added: [{ $PhantomId: P('a'), id, name: 'A edited' }] },
    });
    expect(t.count('tasks')).toBe(before);
    expect(t.record('tasks', id)?.name).toBe('A edited');
  });

  it('does not bring back a record removed before its phantom was re-sent', async () => {
    const { t, id } = await withAddedTask();
    t.apply({ tasks: { removed: [{ id }] } });
    for (const mode of ['to-updated', 'keep-added'] as const) {
      const { corrections } = t.apply({ tasks: { added: [{ $PhantomId: P('a'), name: 'again' }] } }, mode);
      expect(t.record('tasks', id)).toBeUndefined();
      expect(corrections).toEqual({ tasks: { removed: [{ id }] } });
    }
  });
});

describe('records re-added under their own id', () => {
  it('takes an added record whose $PhantomId is the id of a record still there as an update of it, not a copy', async () => {
    const t = await seededProject('saas', 'number');
    const before = t.count('tasks');
    const { outgoing, newPhantoms } = t.apply({ tasks: { added: [{ $PhantomId: 12, name: 'Configure firewall again', parentId: 1 }], $input: { added: [{ $PhantomId: 12, name: 'Configure firewall again' }] } } }, 'to-updated');
    expect(t.count('tasks')).toBe(before);
    expect(t.record('tasks', 12)?.name).toBe('Configure firewall again');
    expect(outgoing.tasks).toEqual({ added: [], updated: [{ id: 12, name: 'Configure firewall again', parentId: 1 }], $input: { added: [], updated: [{ id: 12, name: 'Configure firewall again' }] } });
    expect(newPhantoms.size).toBe(0);
  });

  it('does not bring back a removed record re-added with its own id as $PhantomId, and tells the sender it is gone', async () => {
    const t = await seededProject('saas', 'number');
    t.apply({ tasks: { removed: [{ id: 12 }] } });
    const before = t.count('tasks');
    const { corrections } = t.apply({ tasks: { added: [{ $PhantomId: 12, name: 'Configure firewall', parentId: 1 }] } }, 'to-updated');
    expect(t.count('tasks')).toBe(before);
    expect(t.record('tasks', 12)).toBeUndefined();
    expect(corrections).toEqual({ tasks: { removed: [{ id: 12 }] } });
  });

  it("gives each record's $input.added row the id its record got, matched by the numeric $PhantomId whatever the rows' order", async () => {
    const t = await seededProject('saas', 'number');
    const input = [{ $PhantomId: 13, name: 'Thirteen again' }, { $PhantomId: 12, name: 'Twelve again' }];
    const added = [{ $PhantomId: 12, name: 'Twelve again', parentId: 1 }, { $PhantomId: 13, name: 'Thirteen again', parentId: 1 }];
    const { outgoing } = t.apply({ tasks: { added, $input: { added: input } } }, 'to-updated');
    expect((outgoing.tasks as Rec).$input.updated).toEqual([
      { id: 13, name: 'Thirteen again' },
      { id: 12, name: 'Twelve again' },
    ]);
  });

  it('leaves an $input.added row whose numeric $PhantomId names no added record as it was sent', async () => {
    const t = await seededProject('saas', 'number');
    const { outgoing } = t.apply({ tasks: { added: [{ $PhantomId: 12, name: 'Twelve again', parentId: 1 }], $input: { added: [{ $PhantomId: 99, name: 'Nowhere' }] } } }, 'keep-added');
    expect((outgoing.tasks as Rec).$input.added).toEqual([{ $PhantomId: 99, name: 'Nowhere' }]);
  });

  it('gives each $input.added row of a record added with an id of its own the id that record got, a fresh one where its own was taken', async () => {
    const t = await seededProject('saas', 'number');
    const rows = [{ id: 9000, name: 'Nine' }, { id: 1, name: 'Taken' }, { id: 9500, name: 'Ninety-five' }];
    const { outgoing } = t.apply({ resources: { added: structuredClone(rows), $input: { added: structuredClone(rows) } } });
    const ids = (outgoing.resources as Rec).added.map((r: Rec) => r.id);
    expect(ids[0]).toBe(9000);
    expect(ids[1]).not.toBe(1);
    expect(ids[2]).toBe(9500);
    expect((outgoing.resources as Rec).$input.added.map((r: Rec) => r.id)).toEqual(ids);
  });

  it('gives a fresh id to an added record whose numeric $PhantomId the project never handed out', async () => {
    const t = await seededProject('saas', 'number');
    const { outgoing } = t.apply({ tasks: { added: [{ $PhantomId: -1, name: 'temp id from a custom client', parentId: 1 }] } });
    const id = (outgoing.tasks as Rec).added[0].id;
    expect(id).toBeGreaterThan(4036);
    expect(t.record('tasks', id)?.name).toBe('temp id from a custom client');
  });
});

describe('moving tasks', () => {
  it('moves a task with its whole subtree when its parentId changes', async () => {
    const t = await seededProject();
    const subtree = await t.project.dataset().then((d) => (d.tasksData as ServedTask[])[0].children!.find((c) => c.id === 4)!);
    const { corrections } = t.apply({ tasks: { updated: [{ id: 4, parentId: 1, parentIndex: 1 }] } });
    expect(corrections).toBeNull();
    expect(t.children(1000)).toEqual([1, 2, 3]);
    expect(t.children(1)).toEqual([11, 4, 12, 13, 14, 15]);
    expect(t.children(4)).toEqual([400, 401, 402]);
    expect(t.record('tasks', 4)?.parentId).toBe(1);
    const served = ((await t.project.dataset()).tasksData as ServedTask[])[0].children!.find((c) => c.id === 1)!;
    expect(idTree([served.children![1]])).toEqual(idTree([subtree]));
  });

  it('moves a task to the root when its parentId becomes null', async () => {
    const t = await seededProject();
    t.apply({ tasks: { updated: [{ id: 2, parentId: null, parentIndex: 0 }] } });
    expect(t.children(null)).toEqual([2, 1000]);
    expect(t.children(2)).toEqual([21, 22, 23, 24, 25]);
    expect(t.record('tasks', 2)?.parentId).toBeNull();
  });

  it('refuses to move a task below its own descendant and tells the sender where it stays', async () => {
    const t = await seededProject();
    const rows = [
      { id: 4, parentId: 41, parentIndex: 0, orderedParentIndex: 0, name: 'Implementation' },
      { id: 400, parentId: 400 },
    ];
    const { outgoing, corrections, result } = (() => {
      const r = watch(t.project.doc, () => t.apply({ tasks: { updated: structuredClone(rows), $input: { updated: structuredClone(rows) } } }));
      return { ...r.result, result: r };
    })();
    expect(t.children(1000)).toEqual([1, 2, 3, 4]);
    expect(t.children(4)).toEqual([400, 401, 402]);
    expect(t.children(41)).toEqual([]);
    expect(t.record('tasks', 4)?.parentId).toBe(1000);
    expect(t.record('tasks', 400)?.parentId).toBe(4);
    expect(corrections).toEqual({
      tasks: {
        updated: [
          { id: 4, parentId: 1000, parentIndex: 3, orderedParentIndex: 3 },
          { id: 400, parentId: 4, parentIndex: 0, orderedParentIndex: 0 },
        ],
      },
    });
    const tasks = outgoing.tasks as Rec;
    for (const list of [tasks.updated, tasks.$input.updated]) {
      for (const rec of list) {
        expect(rec).not.toHaveProperty('parentId');
        expect(rec).not.toHaveProperty('parentIndex');
        expect(rec).not.toHaveProperty('orderedParentIndex');
      }
    }
    expect(tasks.updated[0].name).toBe('Implementation');
    expect(result.transactions).toBe(1);
  });

  it('refuses the second of two moves in one change that together would make a cycle', async () => {
    const t = await seededProject();
    const { corrections } = t.apply({ tasks: { updated: [{ id: 1, parentId: 2 }, { id: 2, parentId: 1 }] } });
    expect(t.children(2)).toEqual([21, 22, 23, 24, 25, 1]);
    expect(t.record('tasks', 2)?.parentId).toBe(1000);
    expect(corrections).toEqual({ tasks: { updated: [{ id: 2, parentId: 1000, parentIndex: 0, orderedParentIndex: 0 }] } });
  });
});

describe('sibling order', () => {
  const add = (name: string, fields: Rec = {}) => ({ $PhantomId: P(name), name, parentId: 1, ...fields });

  it('inserts a task at index 0', async () => {
    const t = await seededProject();
    const { newPhantoms } = t.apply({ tasks: { added: [add('x', { orderedParentIndex: 0 })] } });
    expect(t.children(1)).toEqual([newPhantoms.get(P('x')), 11, 12, 13, 14, 15]);
  });

  it('inserts a task in the middle', async () => {
    const t = await seededProject();
    const { newPhantoms } = t.apply({ tasks: { added: [add('x', { parentIndex: 2 })] } });
    expect(t.children(1)).toEqual([11, 12, newPhantoms.get(P('x')), 13, 14, 15]);
  });

  it('inserts a task at the end, by index or without one', async () => {
    const t = await seededProject();
    const { newPhantoms } = t.apply({ tasks: { added: [add('x', { parentIndex: 5 }), add('y')] } });
    expect(t.children(1)).toEqual([11, 12, 13, 14, 15, newPhantoms.get(P('x')), newPhantoms.get(P('y'))]);
  });

  it('prefers orderedParentIndex over parentIndex', async () => {
    const t = await seededProject();
    const { newPhantoms } = t.apply({ tasks: { added: [add('x', { parentIndex: 0, orderedParentIndex: 3 })] } });
    expect(t.children(1)).toEqual([11, 12, 13, newPhantoms.get(P('x')), 14, 15]);
  });

  it('places several inserts of one change at their final indexes', async () => {
    const t = await seededProject();
    const { newPhantoms } = t.apply({
      tasks: { added: [add('c', { parentIndex: 7 }), add('a', { parentIndex: 0 }), add('b', { parentIndex: 2 })] },
    });
    const [a, b, c] = ['a', 'b', 'c'].map((n) => newPhantoms.get(P(n)));
    expect(t.children(1)).toEqual([a, 11, b, 12, 13, 14, 15, c]);
  });

  it('follows the client pattern of one insert plus updated rows carrying only shifted parentIndex', async () => {
    const t = await seededProject();
    const { newPhantoms } = t.apply({
      tasks: {
        added: [add('x', { parentIndex: 2 })],
        updated: [
          { id: 13, parentIndex: 3 },
          { id: 14, parentIndex: 4 },
          { id: 15, parentIndex: 5 },
        ],
      },
    });
    expect(t.children(1)).toEqual([11, 12, newPhantoms.get(P('x')), 13, 14, 15]);
  });

  it('reorders siblings from updated rows with only parentIndex', async () => {
    const t = await seededProject();
    t.apply({
      tasks: {
        updated: [
          { id: 15, parentIndex: 0 },
          { id: 11, parentIndex: 1 },
          { id: 12, parentIndex: 2 },
          { id: 13, parentIndex: 3 },
          { id: 14, parentIndex: 4 },
        ],
      },
    });
    expect(t.children(1)).toEqual([15, 11, 12, 13, 14]);
    t.apply({ tasks: { updated: [{ id: 11, orderedParentIndex: 4 }] } });
    expect(t.children(1)).toEqual([15, 12, 13, 14, 11]);
  });

  it('places a moved task at its index among the new siblings', async () => {
    const t = await seededProject();
    t.apply({ tasks: { updated: [{ id: 15, parentId: 2, parentIndex: 2 }] } });
    expect(t.children(2)).toEqual([21, 22, 15, 23, 24, 25]);
    expect(t.children(1)).toEqual([11, 12, 13, 14]);
  });

  it('places a task listed twice in one change where its last placement puts it, untouched by the parent it passed through', async () => {
    const t = await seededProject();
    t.apply({
      tasks: {
        updated: [
          { id: 22, parentIndex: 0 },
          { id: 15, parentId: 1, parentIndex: 0 },
          { id: 15, parentId: 2, parentIndex: 2 },
        ],
      },
    });
    expect(t.children(2)).toEqual([22, 21, 15, 23, 24, 25]);
    expect(t.children(1)).toEqual([11, 12, 13, 14]);
  });

  it('places nothing for a task added and removed in the same change', async () => {
    const t = await seededProject();
    const { newPhantoms } = t.apply({ tasks: { added: [add('x', { parentIndex: 0 }), add('y', { parentIndex: 2 })], removed: [{ id: P('x') }] } });
    expect(newPhantoms.get(P('x'))).toBeDefined();
    expect(t.children(1)).toEqual([11, 12, newPhantoms.get(P('y')), 13, 14, 15]);
  });

  it('keeps the order through encoding the document and loading it into a new one', async () => {
    const t = await seededProject();
    const { newPhantoms } = t.apply({
      tasks: {
        added: [add('a', { parentIndex: 0 }), add('b', { parentIndex: 3 })],
        updated: [{ id: 25, parentId: 1, parentIndex: 1 }],
      },
    });
    const order = t.children(1);
    expect(order).toEqual([newPhantoms.get(P('a')), 25, 11, newPhantoms.get(P('b')), 12, 13, 14, 15]);
    const copy = ProjectDocument.fromUpdate(t.project.encodeState());
    const copyChildren = copy.tree.childrenOf('1').map((k) => readField(storeMap(copy.doc, TASKS).get(k)!, 'id'));
    expect(copyChildren).toEqual(order);
    expect(idTree((await copy.dataset()).tasksData as ServedTask[])).toEqual(idTree((await t.project.dataset()).tasksData as ServedTask[]));
  });

  it('keeps a consistent order after many inserts at the same index', async () => {
    const t = await seededProject();
    const expected: RecordId[] = [11, 12, 13, 14, 15];
    for (let i = 0; i < 200; i++) {
      const { newPhantoms } = t.apply({ tasks: { added: [add(`n${i}`, { parentIndex: 1 })] } });
      expected.splice(1, 0, newPhantoms.get(P(`n${i}`))!);
    }
    expect(t.children(1)).toEqual(expected);
  });
});

describe('removing records', () => {
  it('removes a task with its whole subtree', async () => {
    const t = await seededProject();
    const before = t.count('tasks');
    const { removedVersions } = t.apply({ tasks: { removed: [{ id: 4 }] } });
    expect(removedVersions).toEqual([]);
    const gone = [4, 400, 401, 402, 41, 42, 43, 44, 45, 46, 4011, 4012, 4013, 4014, 4015, 4031, 4032, 4033, 4034, 4035, 4036];
    for (const id of gone) expect(t.record('tasks', id), String(id)).toBeUndefined();
    expect(t.count('tasks')).toBe(before - gone.length);
    expect(t.children(1000)).toEqual([1, 2, 3]);
    expect(t.children(400)).toEqual([]);
    const served = [...JSON.stringify((await t.project.dataset()).tasksData).matchAll(/"id":(\d+)/g)].map((m) => Number(m[1]));
    for (const id of gone) expect(served).not.toContain(id);
  });

  it('writes nothing for an update of a removed record and tells the sender the record is gone', async () => {
    const t = await seededProject();
    t.apply({ tasks: { removed: [{ id: 11 }] }, resources: { removed: [{ id: 1 }] } });
    const { result, updates } = watch(t.project.doc, () =>
      t.apply({ tasks: { updated: [{ id: 11, name: 'back?', parentIndex: 0 }] }, resources: { updated: [{ id: 1, name: 'back?' }] } }),
    );
    expect(updates).toBe(0);
    expect(result.corrections).toEqual({ tasks: { removed: [{ id: 11 }] }, resources: { removed: [{ id: 1 }] } });
    expect(result.outgoing).toEqual({ tasks: { updated: [{ id: 11, name: 'back?', parentIndex: 0 }] }, resources: { updated: [{ id: 1, name: 'back?' }] } });
    expect(t.record('tasks', 11)).toBeUndefined();
    expect(t.record('resources', 1)).toBeUndefined();
    expect(t.children(1)).toEqual([12, 13, 14, 15]);
  });

  it('ignores the removal of a record that does not exist', async () => {
    const t = await seededProject();
    const { updates, result } = watch(t.project.doc, () => t.apply({ tasks: { removed: [{ id: 'nope' }] } }));
    expect(updates).toBe(0);
    expect(result.outgoing).toEqual({ tasks: { removed: [{ id: 'nope' }] } });
  });
});

describe('project fields', () => {
  it('stores project fields except $input and the client project id', async () => {
    const t = await seededProject();
    const { outgoing } = t.apply({
      project: { startDate: '2019-01-21', hoursPerDay: 8, id: '_generatedProjectModel_1', $input: { startDate: '2019-01-21' } },
    });
    expect(outgoing.project).toEqual({ startDate: '2019-01-21', hoursPerDay: 8, id: '_generatedProjectModel_1', $input: { startDate: '2019-01-21' } });
    const project = t.project.doc.getMap('project').toJSON();
    expect(project).toEqual({ calendar: 'general', startDate: '2019-01-21', hoursPerDay: 8, daysPerWeek: 5, daysPerMonth: 20 });
    expect((await t.project.dataset()).project).toEqual(project);
  });
});

describe('versions', () => {
  it('takes version content out of the document and out of the outgoing change', async () => {
    const t = await seededProject();
    const content = { tasks: [{ id: 1 }] };
    const added = { $PhantomId: '_generatedVersionModel_1', name: 'v2', savedAt: '2024-01-01', content };
    const { outgoing, versionContents } = t.apply({ versions: { added: [added], $input: { added: [added] } } });
    const versions = outgoing.versions as Rec;
    const id = versions.added[0].id;
    expect(versionContents).toEqual(new Map([[String(id), content]]));
    expect(versions.added[0]).not.toHaveProperty('content');
    expect(versions.$input.added[0]).not.toHaveProperty('content');
    expect(t.record('versions', id)).toEqual({ id, name: 'v2', savedAt: '2024-01-01' });

    const update = { id, name: 'v2b', content: { tasks: [] } };
    const second = t.apply({ versions: { updated: [update], $input: { updated: [update] } } });
    expect(second.versionContents).toEqual(new Map([[String(id), { tasks: [] }]]));
    expect((second.outgoing.versions as Rec).updated).toEqual([{ id, name: 'v2b' }]);
    expect((second.outgoing.versions as Rec).$input.updated).toEqual([{ id, name: 'v2b' }]);
    expect(t.record('versions', id)).toEqual({ id, name: 'v2b', savedAt: '2024-01-01' });
  });

  it('reports removed versions so their content can be dropped', async () => {
    const t = await seededProject();
    const { removedVersions } = t.apply({ versions: { removed: [{ id: 'version-1' }] } });
    expect(removedVersions).toEqual(['version-1']);
    expect(t.record('versions', 'version-1')).toBeUndefined();
  });
});

describe('nested change sets', () => {
  it('stores a nested change set inside a record as the plain array it describes', async () => {
    const t = await seededProject();
    const { outgoing } = t.apply({
      calendars: {
        added: [
          {
            $PhantomId: '_generatedCalendarModel_1',
            name: 'Shifts',
            intervals: { added: [{ $PhantomId: '_generatedIntervalModel_1', id: 'i1', isWorking: true }, { id: 'i2', isWorking: false }] },
          },
        ],
      },
    });
    const cal = (outgoing.calendars as Rec).added[0];
    expect(t.record('calendars', cal.id)?.intervals).toEqual([
      { id: 'i1', isWorking: true },
      { id: 'i2', isWorking: false },
    ]);
    t.apply({ calendars: { updated: [{ id: cal.id, intervals: { updated: [{ id: 'i2', isWorking: true }], removed: [{ id: 'i1' }], added: [{ id: 'i3' }] } }] } });
    expect(t.record('calendars', cal.id)?.intervals).toEqual([{ id: 'i2', isWorking: true }, { id: 'i3' }]);
    const served = ((await t.project.dataset()).calendarsData as Rec[]).find((c) => c.id === cal.id);
    expect(served?.intervals).toEqual([{ id: 'i2', isWorking: true }, { id: 'i3' }]);
  });

  it('updates the rows a nested change set names wherever they stand, and passes over entries that are not records', async () => {
    const t = await seededProject();
    const { outgoing } = t.apply({
      calendars: { added: [{ $PhantomId: '_generatedCalendarModel_2', name: 'Rota', intervals: { added: [{ id: 'i1' }, { id: 'i2' }, { id: 'i3' }, { note: 'no id' }] } }] },
    });
    const cal = (outgoing.calendars as Rec).added[0];
    t.apply({
      calendars: {
        updated: [{ id: cal.id, intervals: { updated: [{ id: 'i3', n: 3 }, null, 7, { id: 'i2', n: 2 }, { id: 'missing', n: 0 }, { id: 'i3', m: 3 }, { n: 'no id' }], added: [null, 'x', { id: 'i4' }] } }],
      },
    });
    // An update without an id names no row, not even one without an id.
    expect(t.record('calendars', cal.id)?.intervals).toEqual([{ id: 'i1' }, { id: 'i2', n: 2 }, { id: 'i3', n: 3, m: 3 }, { note: 'no id' }, { id: 'i4' }]);
  });

  it('leaves plain objects that only look a little like change sets alone', async () => {
    const t = await seededProject();
    const value = { added: 3, note: 'x' };
    t.apply({ resources: { updated: [{ id: 1, stats: value, empty: {} }] } });
    expect(t.record('resources', 1)).toMatchObject({ stats: value, empty: {} });
  });
});

describe('writes and transactions', () => {
  it('writes nothing when every field is set to its current value', async () => {
    const t = await seededProject();
    const task = t.record('tasks', 13)!;
    const { updates, result } = watch(t.project.doc, () =>
      t.apply({
        tasks: { updated: [{ id: 13, name: task.name, percentDone: task.percentDone, baselines: task.baselines, parentId: 1, parentIndex: 2, orderedParentIndex: 2 }] },
        resources: { updated: [{ id: 1, name: 'Celia', city: 'Barcelona' }] },
        calendars: { updated: [{ id: 'general', intervals: t.record('calendars', 'general')!.intervals }] },
        project: { startDate: '2019-01-14', hoursPerDay: 24 },
      }),
    );
    expect(result.corrections).toBeNull();
    expect(updates).toBe(0);
    expect(t.children(1)).toEqual([11, 12, 13, 14, 15]);
  });

  it('makes one transaction of one change, however many stores it touches', async () => {
    const t = await seededProject();
    const { transactions, updates } = watch(t.project.doc, () =>
      t.apply({
        tasks: {
          added: [{ $PhantomId: P('a'), name: 'A', parentId: 1, parentIndex: 0 }],
          updated: [{ id: 15, parentId: 2, parentIndex: 0 }, { id: 12, name: 'renamed' }],
          removed: [{ id: 3 }],
        },
        resources: { added: [{ $PhantomId: '_generatedResourceModel_1', name: 'R' }], removed: [{ id: 2 }] },
        dependencies: { added: [{ $PhantomId: '_generatedDependencyModel_1', fromTask: P('a'), toTask: 13 }] },
        notes: { added: [{ $PhantomId: '_generatedNoteModel_1', text: 'n' }] },
        versions: { added: [{ $PhantomId: '_generatedVersionModel_1', name: 'v', content: {} }] },
        project: { hoursPerDay: 8 },
      }),
    );
    expect(transactions).toBe(1);
    expect(updates).toBe(1);
  });

  it('marks its transaction with the adapter origin', async () => {
    const t = await seededProject();
    const origins: unknown[] = [];
    t.project.doc.on('afterTransaction', (tr: Y.Transaction) => origins.push(tr.origin));
    t.apply({ tasks: { updated: [{ id: 12, name: 'renamed' }] } });
    expect(origins).toHaveLength(1);
    expect(origins[0]).toBeTypeOf('symbol');
  });

  it('reports each field it wrote', async () => {
    const t = await seededProject();
    const { touched } = t.apply({ tasks: { updated: [{ id: 12, name: 'renamed', parentId: 2 }] }, project: { hoursPerDay: 8 } });
    expect(touched.map((k) => k.split('\u0000'))).toEqual(
      expect.arrayContaining([
        ['tasks', '12', 'name'],
        ['tasks', '12', 'parentId'],
        ['project', '', 'hoursPerDay'],
      ]),
    );
  });

  it('leaves null store entries out of the outgoing change', async () => {
    const t = await seededProject();
    const { outgoing } = t.apply({ tasks: { updated: [{ id: 12, name: 'renamed' }] }, resources: null, project: null });
    expect(outgoing).toEqual({ tasks: { updated: [{ id: 12, name: 'renamed' }] } });
  });

  it('stores records of stores beyond the known ones and finds them again after a reload', async () => {
    const t = await seededProject();
    const { outgoing } = t.apply({ notes: { added: [{ $PhantomId: '_generatedNoteModel_1', text: 'hello' }] } });
    const id = (outgoing.notes as Rec).added[0].id;
    const copy = ProjectDocument.fromUpdate(t.project.encodeState());
    expect([...copy.ids()].map(String)).toContain(String(id));
  });
});

describe('tree index and Yjs peers', () => {
  function peerOf(project: ProjectDocument): { peer: Y.Doc; send: () => unknown } {
    const peer = new Y.Doc();
    Y.applyUpdateV2(peer, project.encodeState());
    return {
      peer,
      send: () => project.applyUpdate(Y.encodeStateAsUpdateV2(peer, Y.encodeStateVector(project.doc)), 'peer', true),
    };
  }

  it('follows a task moved by a Yjs update made on another document', async () => {
    const t = await seededProject();
    const { peer, send } = peerOf(t.project);
    const tasks = peer.getMap(TASKS) as Y.Map<Y.Map<unknown>>;
    const after = readField(tasks.get('25')!, '$order') as string;
    tasks.get('15')!.set('parentId', 2);
    tasks.get('15')!.set('$order', after + 'V');
    send();
    expect(t.children(1)).toEqual([11, 12, 13, 14]);
    expect(t.children(2)).toEqual([21, 22, 23, 24, 25, 15]);
    const served = ((await t.project.dataset()).tasksData as ServedTask[])[0].children!;
    expect(idTree(served.filter((s) => s.id === 2))).toEqual([[2, [21, 22, 23, 24, 25, 15]]]);
  });

  it('follows tasks added, removed and reordered by a Yjs update', async () => {
    const t = await seededProject();
    const { peer, send } = peerOf(t.project);
    const tasks = peer.getMap(TASKS) as Y.Map<Y.Map<unknown>>;
    const orderOf = (key: string) => readField(tasks.get(key)!, '$order') as string;
    peer.transact(() => {
      const fresh = new Y.Map<unknown>();
      fresh.set('id', 'peer-1');
      fresh.set('name', 'from a peer');
      fresh.set('parentId', 1);
      fresh.set('$order', keyBetween(null, orderOf('11')));
      tasks.set('peer-1', fresh);
      tasks.delete('13');
      tasks.get('11')!.set('$order', keyBetween(orderOf('15'), null));
    });
    send();
    expect(t.children(1)).toEqual(['peer-1', 12, 14, 15, 11]);
    // The adapter works on the tree the peer left.
    const { newPhantoms } = t.apply({ tasks: { added: [{ $PhantomId: P('x'), parentId: 1, parentIndex: 1 }] } });
    expect(t.children(1)).toEqual(['peer-1', newPhantoms.get(P('x')), 12, 14, 15, 11]);
  });

  it('tells clients only of the removal of a record one peer edited while another removed it, merged into one update', async () => {
    const t = await seededProject();
    const [ann, ben] = [new Y.Doc(), new Y.Doc()];
    for (const peer of [ann, ben]) Y.applyUpdateV2(peer, t.project.encodeState());
    const known = Y.encodeStateVector(t.project.doc);
    const resources = (peer: Y.Doc) => peer.getMap('resources') as Y.Map<Y.Map<unknown>>;
    resources(ann).get('1')!.set('name', 'renamed');
    resources(ben).delete('1');
    const told = t.project.applyUpdate(Y.mergeUpdatesV2([Y.encodeStateAsUpdateV2(ann, known), Y.encodeStateAsUpdateV2(ben, known)]), 'peer', true) as Rec;
    expect(told.resources).toEqual({ removed: [{ id: 1 }] });
    expect(t.record('resources', 1)).toBeUndefined();
  });

  it('serves tasks whose parent a peer removed at the top level', async () => {
    const t = await seededProject();
    const { peer, send } = peerOf(t.project);
    (peer.getMap(TASKS) as Y.Map<unknown>).delete('1');
    send();
    const served = (await t.project.dataset()).tasksData as ServedTask[];
    expect(idTree(served).slice(1)).toEqual([11, 12, 13, 14, 15]);
    expect(served[0].id).toBe(1000);
  });

  it('gives an inserted task an order key between its neighbours and leaves the siblings\' keys as they were', async () => {
    const t = await seededProject();
    const tasks = storeMap(t.project.doc, TASKS);
    const orderOf = (key: string) => readField(tasks.get(key)!, '$order') as string;
    const siblings = ['11', '12', '13', '14', '15'];
    const before = siblings.map(orderOf);
    const { newPhantoms } = t.apply({ tasks: { added: [{ $PhantomId: P('k'), parentId: 1, parentIndex: 2 }] } });
    const id = newPhantoms.get(P('k'))!;
    expect(t.children(1)).toEqual([11, 12, id, 13, 14, 15]);
    expect(siblings.map(orderOf)).toEqual(before);
    const own = orderOf(String(id));
    expect(own > orderOf('12') && own < orderOf('13')).toBe(true);
  });

  it('places inserts among siblings whose order keys a peer wrote in another format', async () => {
    const t = await seededProject();
    const { peer, send } = peerOf(t.project);
    const tasks = peer.getMap(TASKS) as Y.Map<Y.Map<unknown>>;
    peer.transact(() => {
      tasks.get('11')!.set('$order', '0');
      tasks.get('12')!.set('$order', '1');
    });
    send();
    const before = t.children(1);
    const { newPhantoms } = t.apply({ tasks: { added: [{ $PhantomId: P('x'), parentId: 1, parentIndex: 2 }] } });
    const after = [...before];
    after.splice(2, 0, newPhantoms.get(P('x'))!);
    expect(t.children(1)).toEqual(after);
  });
});

describe('seeds', () => {
  it('loads a flat seed with parentId into the same tree as a nested one', () => {
    const flat = projectOf({ tasks: { rows: [{ id: 1 }, { id: 3, parentId: 1 }, { id: 2, parentId: 1 }, { id: 4, parentId: 2 }] } });
    expect(flat.children(null)).toEqual([1]);
    expect(flat.children(1)).toEqual([3, 2]);
    expect(flat.children(2)).toEqual([4]);
  });
});
