/**
 * Restore on the document itself: whatever happened since a version, writing the version back
 * into the live document gives exactly the version's dataset, in one transaction whose change set
 * tells Bryntum clients everything that differs.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import './support/seed.js';
import { restoreState } from '../src/document/restore.js';
import { applyDiff, diffDatasets } from '../src/history/diff.js';
import { seededProject, walkTasks, type ServedTask } from './support/document.js';

type Rec = Record<string, any>;

const DATASET_KEYS: Record<string, string> = { resources: 'resourcesData', dependencies: 'dependenciesData', assignments: 'assignmentsData', calendars: 'calendarsData' };
const PLACE = new Set(['parentId', 'parentIndex', 'orderedParentIndex', '$PhantomId']);
const TOP = '';

const without = (rec: Rec, fields: Set<string>) => Object.fromEntries(Object.entries(rec).filter(([k]) => !fields.has(k)));

/** What a Bryntum client does with a change set: the dataset it ends up showing. */
function applyChangeSet(dataset: Rec, changes: Rec): Rec {
  const out = structuredClone(dataset);
  for (const [store, entry] of Object.entries(changes) as [string, Rec][]) {
    if (store === 'project') Object.assign(out.project, entry);
    else if (store === 'tasks') out.tasksData = applyToTree(out.tasksData, entry);
    else {
      let records: Rec[] = out[DATASET_KEYS[store]];
      const gone = new Set((entry.removed ?? []).map((r: Rec) => r.id));
      records = records.filter((r) => !gone.has(r.id));
      for (const u of entry.updated ?? []) Object.assign(records.find((r) => r.id === u.id)!, u);
      records.push(...(entry.added ?? []).map((r: Rec) => without(r, PLACE)));
      out[DATASET_KEYS[store]] = records;
    }
  }
  return out;
}

function applyToTree(tasks: Rec[], entry: Rec): Rec[] {
  const nodes = new Map<string, Rec>();
  const kids = new Map<string, string[]>();
  const parentOf = new Map<string, string>();
  const walk = (list: Rec[], parent: string) => {
    kids.set(parent, list.map((t) => String(t.id)));
    for (const { children, ...fields } of list) {
      nodes.set(String(fields.id), fields);
      parentOf.set(String(fields.id), parent);
      walk(children ?? [], String(fields.id));
    }
  };
  walk(tasks, TOP);
  const detach = (key: string) => kids.set(parentOf.get(key)!, (kids.get(parentOf.get(key)!) ?? []).filter((k) => k !== key));
  for (const { id } of entry.removed ?? []) if (nodes.has(String(id))) detach(String(id));
  const placed: { key: string; parent: string; index: number }[] = [];
  for (const rec of entry.added ?? []) {
    nodes.set(String(rec.id), without(rec, PLACE));
    placed.push({ key: String(rec.id), parent: rec.parentId == null ? TOP : String(rec.parentId), index: rec.parentIndex });
  }
  for (const rec of entry.updated ?? []) {
    const key = String(rec.id);
    Object.assign(nodes.get(key)!, without(rec, PLACE));
    if (!('parentIndex' in rec)) continue;
    detach(key);
    placed.push({ key, parent: 'parentId' in rec ? (rec.parentId == null ? TOP : String(rec.parentId)) : parentOf.get(key)!, index: rec.parentIndex });
  }
  for (const { key, parent, index } of placed.sort((a, b) => a.index - b.index)) {
    const list = kids.get(parent) ?? [];
    list.splice(index, 0, key);
    kids.set(parent, list);
    parentOf.set(key, parent);
  }
  const build = (parent: string): Rec[] =>
    (kids.get(parent) ?? []).map((key) => {
      const children = build(key);
      return children.length ? { ...nodes.get(key), children } : { ...nodes.get(key) };
    });
  return build(TOP);
}

/**
 * Flat stores carry no order for clients: compare them sorted by id. A dependency's `active: true`
 * is what a client shows for one without the field (a dependency switched off for closing a loop
 * is switched on again so).
 */
function normalized(dataset: Rec): Rec {
  const out: Rec = {};
  for (const [key, v] of Object.entries(dataset)) out[key] = Array.isArray(v) && key !== 'tasksData' ? [...v].sort((a, b) => String(a.id).localeCompare(String(b.id))) : v;
  out.dependenciesData = out.dependenciesData.map(({ active, ...rest }: Rec) => (active === true ? rest : { active, ...rest }));
  return out;
}

/** One random edit of the kinds clients make, aimed at records by index into what exists then. */
const edit = fc.oneof(
  fc.record({ kind: fc.constant('rename' as const), at: fc.nat(), name: fc.string({ maxLength: 6 }) }),
  fc.record({ kind: fc.constant('add' as const), at: fc.nat(), index: fc.nat({ max: 5 }) }),
  fc.record({ kind: fc.constant('remove' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('move' as const), at: fc.nat(), to: fc.nat(), index: fc.nat({ max: 5 }) }),
  fc.record({ kind: fc.constant('project' as const), hoursPerDay: fc.integer({ min: 1, max: 24 }) }),
  fc.record({ kind: fc.constant('resource' as const), name: fc.string({ maxLength: 4 }) }),
);

describe('restoreState', () => {
  // One project for all runs: each run starts where the previous one left it, a longer random walk.
  it('brings back exactly the version, after any edits, as one change', async () => {
    const project = await seededProject('saas');
    let phantom = 0;
    const apply = async (edits: Rec[]) => {
      for (const e of edits) {
        const tasks = [...walkTasks((await project.project.dataset()).tasksData as ServedTask[])];
        const task = tasks.length ? tasks[e.at % tasks.length] : undefined;
        switch (e.kind) {
          case 'rename':
            if (task) project.apply({ tasks: { updated: [{ id: task.id, name: e.name }] } });
            break;
          case 'add':
            project.apply({ tasks: { added: [{ $PhantomId: `_generatedT${++phantom}`, name: 'new', parentId: task?.id ?? null, parentIndex: e.index }] } });
            break;
          case 'remove':
            if (task) project.apply({ tasks: { removed: [{ id: task.id }] } });
            break;
          case 'move':
            if (task) project.apply({ tasks: { updated: [{ id: task.id, parentId: tasks[e.to % tasks.length].id, parentIndex: e.index }] } });
            break;
          case 'project':
            project.apply({ project: { hoursPerDay: e.hoursPerDay } });
            break;
          case 'resource':
            project.apply({ resources: { added: [{ $PhantomId: `_generatedR${++phantom}`, name: e.name }] } });
            break;
        }
      }
    };
    await fc.assert(
      fc.asyncProperty(fc.array(edit, { maxLength: 8 }), fc.array(edit, { minLength: 1, maxLength: 8 }), async (before, after) => {
        await apply(before);
        const state = project.project.encodeState();
        const version = await project.project.dataset();
        await apply(after);
        const live = await project.project.dataset();

        let transactions = 0;
        const count = () => transactions++;
        project.project.doc.on('afterTransaction', count);
        const changes = restoreState(project.project, state);
        project.project.doc.off('afterTransaction', count);

        expect(await project.project.dataset()).toEqual(version);
        expect(transactions).toBe(1);
        // A client showing the live dataset shows the version once it applied the change.
        expect(normalized(changes ? applyChangeSet(live, changes) : live)).toEqual(normalized(version));
        // Whatever differed, clients are told.
        const diff = diffDatasets(live, version);
        if (Object.keys(diff.stores).length || Object.keys(diff.project).length) expect(changes).not.toBeNull();
        expect(applyDiff(live, diff).tasksData).toEqual(version.tasksData);
      }),
      { numRuns: 60 },
    );
  });

  it('sends added tasks parents first and leaves the Bryntum versions and changelogs stores alone', async () => {
    const project = await seededProject('saas');
    const state = project.project.encodeState();
    project.apply({ tasks: { removed: [{ id: 1 }] } });
    project.apply({ versions: { added: [{ $PhantomId: '_generatedV1', name: 'Kept', savedAt: '2024-01-01' }] } });
    const versionsBefore = (await project.project.dataset()).versionsData;
    const changes = restoreState(project.project, state) as Rec;
    const added = changes.tasks.added.map((t: Rec) => t.id);
    expect(added[0]).toBe(1);
    expect(new Set(added)).toEqual(new Set([1, 11, 12, 13, 14, 15]));
    expect(changes.versions).toBeUndefined();
    expect((await project.project.dataset()).versionsData).toEqual(versionsBefore);
  });

  it('sends a parent created after its child before that child, and a grandchild after both', async () => {
    const project = await seededProject('saas');
    // A new task, then an older one moved under it, then a newer one under that: stored in that
    // order, the child comes before its parent.
    const parent = project.apply({ tasks: { added: [{ $PhantomId: '_generatedP1', name: 'new parent', parentId: 1 }] } }).newPhantoms.get('_generatedP1')!;
    project.apply({ tasks: { updated: [{ id: 12, parentId: parent, parentIndex: 0 }] } });
    const grandchild = project.apply({ tasks: { added: [{ $PhantomId: '_generatedP2', name: 'grandchild', parentId: 12 }] } }).newPhantoms.get('_generatedP2')!;
    const state = project.project.encodeState();
    project.apply({ tasks: { removed: [{ id: parent }] } });
    const changes = restoreState(project.project, state) as Rec;
    expect(changes.tasks.added.map((t: Rec) => t.id)).toEqual([parent, 12, grandchild]);
  });
});
