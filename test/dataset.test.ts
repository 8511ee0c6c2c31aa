import { readFile } from 'node:fs/promises';
import { afterEach, describe, expect, it, vi } from 'vitest';
import * as Y from 'yjs';
import { datasetJson, storesPieces } from '../src/document/dataset.js';
import { parseSeed, parseSeedPaced, readSeedFile, seedParts } from '../src/document/seed.js';
import { ProjectDocument } from '../src/document/project-document.js';
import { Pacer } from '../src/document/pacer.js';
import { ROOT, TreeIndex } from '../src/document/tree.js';
import { TASKS, storeMap } from '../src/document/layout.js';
import { idTree, projectOf, seededProject, seedPath, walkTasks, type SeedName, type ServedTask } from './support/document.js';

type Rec = Record<string, any>;

afterEach(() => {
  vi.restoreAllMocks();
});

/** The id tree of seed rows, nested through `children` or flat with `parentId`, in row order. */
function seedTree(rows: Rec[]): unknown[] {
  const flat: { id: unknown; parent: unknown }[] = [];
  const walk = (list: Rec[], parent: unknown) => {
    for (const row of list) {
      flat.push({ id: row.id, parent: parent !== undefined ? parent : (row.parentId ?? null) });
      if (Array.isArray(row.children)) walk(row.children, row.id);
    }
  };
  walk(rows, undefined);
  const build = (parent: unknown): unknown[] =>
    flat
      .filter((r) => r.parent === parent)
      .map((r) => {
        const children = build(r.id);
        return children.length ? [r.id, children] : r.id;
      });
  return build(null);
}

async function tasksOf(t: { project: { dataset(): Promise<Record<string, unknown>> } }): Promise<ServedTask[]> {
  return (await t.project.dataset()).tasksData as ServedTask[];
}

describe('served tasks', () => {
  it.each(['saas', 'website', 'backend'] as SeedName[])('serves the %s seed tasks nested in their sibling order', async (name) => {
    const raw = JSON.parse(await readFile(seedPath(name), 'utf8'));
    const t = await seededProject(name);
    expect(idTree(await tasksOf(t))).toEqual(seedTree(raw.tasks.rows));
  });

  it('serves a flat seed\'s tasks in its order, a parent named by its number or its text, written at once or in parts', async () => {
    const rows = [{ id: 3 }, { id: 1, parentId: null }, { id: 2 }, { id: 5 }, { id: 9, parentId: 5 }, { id: 6, parentId: '5' }, { id: 8, parentId: 5 }, { id: 7, parentId: '5' }, { id: 4 }];
    const tree = [3, 1, 2, [5, [9, 6, 8, 7]], 4];
    expect(idTree(await tasksOf(projectOf({ tasks: { rows } })))).toEqual(tree);
    const t = await seededProject();
    for (const _ of t.project.replaceInParts(parseSeed({ tasks: { rows } }), 2)) void _;
    expect(idTree(await tasksOf(t))).toEqual(tree);
  });

  it('serves tasks in the order changes gave them', async () => {
    const t = await seededProject();
    const { newPhantoms } = t.apply({
      tasks: {
        added: [{ $PhantomId: '_generatedTaskModel_x', name: 'x', parentId: 1, parentIndex: 0 }],
        updated: [{ id: 25, parentId: 1, parentIndex: 3 }],
      },
    });
    const x = newPhantoms.get('_generatedTaskModel_x');
    const served = (await tasksOf(t))[0].children!;
    expect(idTree(served.filter((s) => s.id === 1))).toEqual([[1, [x, 11, 12, 25, 13, 14, 15]]]);
    expect(idTree(served.filter((s) => s.id === 2))).toEqual([[2, [21, 22, 23, 24]]]);
  });

  it('serves no parentId or $order on tasks, and children only on parents', async () => {
    const t = await seededProject();
    t.apply({ tasks: { added: [{ $PhantomId: '_generatedTaskModel_x', name: 'x', parentId: 1, parentIndex: 0 }], updated: [{ id: 25, parentId: 1 }] } });
    const all = [...walkTasks(await tasksOf(t))];
    expect(all.length).toBe(t.count('tasks'));
    for (const task of all) {
      expect(task).not.toHaveProperty('parentId');
      expect(task).not.toHaveProperty('$order');
      if ('children' in task) expect(task.children!.length).toBeGreaterThan(0);
    }
    expect(all.find((task) => task.id === 11)).not.toHaveProperty('children');
  });

  it('keeps the other fields of a task as stored', async () => {
    const raw = JSON.parse(await readFile(seedPath('saas'), 'utf8'));
    const t = await seededProject();
    const { children: _children, ...root } = raw.tasks.rows[0];
    const { children: _served, ...servedRoot } = (await tasksOf(t))[0];
    expect(servedRoot).toEqual(root);
  });

  it('serves tasks whose parent is missing at the top level, after the tasks at the root', async () => {
    const t = projectOf({
      tasks: {
        rows: [
          { id: 1, name: 'root' },
          { id: 2, parentId: 1 },
          { id: 3, parentId: 99 },
          { id: 4, parentId: 3 },
          { id: 5, parentId: 98 },
        ],
      },
    });
    expect(idTree(await tasksOf(t))).toEqual([[1, [2]], 5, [3, [4]]]);
  });

  it('serves the tasks of missing parents in the order of those parents\' ids, whatever order they were added in', async () => {
    const orphans = [
      { id: 3, parentId: 99 },
      { id: 4, parentId: 97 },
      { id: 5, parentId: 98 },
      { id: 6, parentId: 97 },
    ];
    for (const rows of [orphans, [...orphans].reverse()]) {
      const t = projectOf({ tasks: { rows: [{ id: 1, name: 'root' }, ...rows] } });
      const served = idTree(await tasksOf(t));
      expect(served.slice(0, 1)).toEqual([1]);
      // 97's two tasks, then 98's, then 99's.
      expect(served.slice(1, 3).sort()).toEqual([4, 6]);
      expect(served.slice(3)).toEqual([5, 3]);
      // The root is no missing parent, however empty.
      expect(t.project.tree.missingParents().sort()).toEqual(['97', '98', '99']);
    }
  });

  it('serves a chain of tasks nested 20,000 levels deep, each holding the next as its only child', async () => {
    const depth = 20_000;
    const rows = Array.from({ length: depth }, (_, i) => (i === 0 ? { id: 1, name: 'task 1' } : { id: i + 1, name: `task ${i + 1}`, parentId: i }));
    const t = projectOf({ tasks: { rows } });
    let level = await tasksOf(t);
    for (let id = 1; id <= depth; id++) {
      expect(level).toHaveLength(1);
      const [task] = level;
      if (task.id !== id || task.name !== `task ${id}`) expect({ id: task.id, name: task.name }).toEqual({ id, name: `task ${id}` });
      level = task.children ?? [];
    }
    expect(level).toHaveLength(0);
  });

  it('serves a task with no fields but its id and children', async () => {
    const t = projectOf({ tasks: { rows: [{ id: 1, children: [{ id: 2 }] }] } });
    expect(await tasksOf(t)).toEqual([{ id: 1, children: [{ id: 2 }] }]);
  });
});

describe('the dataset object', () => {
  it('has the seven store keys and project fields, and versions without content', async () => {
    const seed = await readSeedFile(seedPath('saas'));
    expect(seed.versionContents.has('version-1')).toBe(true);
    const t = await seededProject();
    const dataset = await t.project.dataset();
    expect(Object.keys(dataset)).toEqual(['tasksData', 'resourcesData', 'dependenciesData', 'assignmentsData', 'calendarsData', 'versionsData', 'changelogsData', 'project']);
    expect(dataset.versionsData).toEqual([{ id: 'version-1', name: 'Version 1', savedAt: '2019-03-20', isAutosave: false }]);
    expect(dataset.project).toEqual({ calendar: 'general', startDate: '2019-01-14', hoursPerDay: 24, daysPerWeek: 5, daysPerMonth: 20 });
    expect((dataset.resourcesData as Rec[]).length).toBe(10);
    expect(dataset).not.toHaveProperty('timeRangesData');
  });

  it('serves versions added with content without their content', async () => {
    const t = await seededProject();
    t.apply({ versions: { added: [{ $PhantomId: '_generatedVersionModel_1', name: 'v2', content: { big: true } }] } });
    const versions = (await t.project.dataset()).versionsData as Rec[];
    expect(versions).toHaveLength(2);
    for (const v of versions) expect(v).not.toHaveProperty('content');
  });

  it('lets timers run while it serializes a large project by default, and none when told to run straight through', async () => {
    const rows = Array.from({ length: 30_000 }, (_, i) => ({ id: i + 1, name: `task ${i}`, note: 'n'.repeat(40) }));
    const ticksDuring = async (work: () => Promise<unknown>) => {
      let ticks = 0;
      const timer = setInterval(() => ticks++, 1);
      try {
        await work();
      } finally {
        clearInterval(timer);
      }
      return ticks;
    };
    const paced = projectOf({ tasks: { rows } }).project;
    expect(await ticksDuring(() => paced.datasetTexts())).toBeGreaterThan(0);
    const straight = projectOf({ tasks: { rows } }).project;
    expect(await ticksDuring(() => straight.datasetTexts(false))).toBe(0);
  });

  it('gives the same JSON text whether or not serialization yields to the event loop', async () => {
    const rows = Array.from({ length: 4500 }, (_, i) => ({ id: i + 1, name: `t${i}`, ...(i % 3 ? { parentId: i - (i % 3) + 1 } : {}) }));
    const data = { tasks: { rows }, resources: { rows: rows.map((r) => ({ id: `r${r.id}`, name: r.name })) }, project: { a: 1 } };
    const yielding = await projectOf(data).project.datasetTexts(true);
    const direct = await projectOf(data).project.datasetTexts(false);
    expect(datasetJson(yielding)).toBe(datasetJson(direct));
    const parsed = JSON.parse(datasetJson(yielding));
    expect(parsed.tasksData).toHaveLength(1500);
    expect(parsed.resourcesData).toHaveLength(4500);
    // The classic reply's 7 stores, under the names every Bryntum version reads unless told otherwise.
    expect(Object.keys(JSON.parse(storesPieces(direct).join('')))).toEqual(['tasksData', 'resourcesData', 'dependenciesData', 'assignmentsData', 'calendarsData', 'versionsData', 'changelogsData']);
  });
});

describe('the dataset cache', () => {
  it('serves a changed task after the change', async () => {
    const t = await seededProject();
    const before = [...walkTasks(await tasksOf(t))].find((task) => task.id === 12)!;
    expect(before.name).toBe('Configure firewall');
    t.apply({ tasks: { updated: [{ id: 12, name: 'renamed' }] } });
    expect([...walkTasks(await tasksOf(t))].find((task) => task.id === 12)!.name).toBe('renamed');
  });

  it('serves changed project fields and removed records after the change', async () => {
    const t = await seededProject();
    await t.project.dataset();
    t.apply({ project: { hoursPerDay: 8 }, resources: { removed: [{ id: 1 }] } });
    const dataset = await t.project.dataset();
    expect((dataset.project as Rec).hoursPerDay).toBe(8);
    expect((dataset.resourcesData as Rec[]).map((r) => r.id)).not.toContain(1);
  });

  it('serves what a Yjs update changed', async () => {
    const t = await seededProject();
    await t.project.dataset();
    const peer = new Y.Doc();
    Y.applyUpdateV2(peer, t.project.encodeState());
    (peer.getMap('resources') as Y.Map<Y.Map<unknown>>).get('2')!.set('name', 'Lee (peer)');
    (peer.getMap('tasks') as Y.Map<Y.Map<unknown>>).get('13')!.set('parentId', 2);
    t.project.applyUpdate(Y.encodeStateAsUpdateV2(peer, Y.encodeStateVector(t.project.doc)), 'peer', true);
    const dataset = await t.project.dataset();
    expect((dataset.resourcesData as Rec[]).find((r) => r.id === 2)!.name).toBe('Lee (peer)');
    const top = (dataset.tasksData as ServedTask[])[0].children!;
    const ids = (id: number) => top.find((s) => s.id === id)!.children!.map((c) => c.id);
    expect(ids(2)).toEqual(expect.arrayContaining([21, 22, 23, 24, 25, 13]));
    expect(ids(1)).toEqual([11, 12, 14, 15]);
  });

  it('serializes only the changed store again and reuses the text of the others', async () => {
    const t = await seededProject();
    const first = await t.project.datasetTexts(false);
    t.apply({ tasks: { updated: [{ id: 12, name: 'renamed' }] } });

    const stringify = vi.spyOn(JSON, 'stringify');
    const second = await t.project.datasetTexts(false);
    const serialized = stringify.mock.calls.map((c) => c[0]).filter((v): v is Rec => typeof v === 'object' && v !== null);
    stringify.mockRestore();

    expect(serialized.length).toBe(t.count('tasks'));
    expect(serialized.some((r) => r.id === 12 && r.name === 'renamed')).toBe(true);
    for (const r of serialized) {
      // Task rows only: no resource, dependency, assignment, calendar, version or project fields.
      for (const field of ['city', 'fromTask', 'resource', 'intervals', 'savedAt', 'hoursPerDay']) expect(r).not.toHaveProperty(field);
    }
    for (const store of ['resources', 'dependencies', 'assignments', 'calendars', 'versions', 'changelogs']) expect(second.stores.get(store)).toBe(first.stores.get(store));
    expect(second.project).toBe(first.project);
    expect(second.stores.get('tasks')).not.toBe(first.stores.get('tasks'));
  });

  it('serializes nothing again when nothing changed', async () => {
    const t = await seededProject();
    await t.project.datasetTexts(false);
    t.apply({ tasks: { updated: [{ id: 12, name: 'Configure firewall' }] } });
    const stringify = vi.spyOn(JSON, 'stringify');
    await t.project.datasetTexts(false);
    expect(stringify).not.toHaveBeenCalled();
  });

  it('replaces the project in parts of a few records, each its own transaction, ending with exactly the new seed', async () => {
    const t = await seededProject();
    await t.project.dataset();
    const updates: Uint8Array[] = [];
    t.project.onUpdate((u) => updates.push(u));
    let pauses = 0;
    for (const _ of t.project.replaceInParts(await readSeedFile(seedPath('website')), 10)) pauses++;
    const raw = JSON.parse(await readFile(seedPath('website'), 'utf8'));
    expect(idTree(await tasksOf(t))).toEqual(seedTree(raw.tasks.rows));
    expect(pauses).toBeGreaterThan(5);
    expect(updates.length).toBe(pauses + 1);
  });

  it('serves the new content after the project is replaced', async () => {
    const t = await seededProject();
    await t.project.dataset();
    t.project.replaceWith(await readSeedFile(seedPath('website')));
    const raw = JSON.parse(await readFile(seedPath('website'), 'utf8'));
    expect(idTree(await tasksOf(t))).toEqual(seedTree(raw.tasks.rows));
  });
});

describe('seed files', () => {
  /** `count` tasks, ten to a parent, nested through `children`; a dependency and an assignment each. */
  function bigSeed(count: number): Rec {
    const tasks: Rec[] = [];
    const byId = new Map<number, Rec>();
    for (let id = 1; id <= count; id++) {
      const task: Rec = { id, name: `Task ${id}`, duration: 1 };
      byId.set(id, task);
      const parent = byId.get(Math.floor((id - 1) / 10));
      if (parent) (parent.children ??= []).push(task);
      else tasks.push(task);
    }
    const dependencies = { rows: Array.from({ length: count - 1 }, (_, i) => ({ id: i + 1, fromTask: i + 1, toTask: i + 2 })) };
    const assignments = { rows: Array.from({ length: count }, (_, i) => ({ id: i + 1, event: i + 1, resource: 1 })) };
    return { project: { name: 'big' }, tasks: { rows: tasks }, resources: { rows: [{ id: 1, name: 'R' }] }, dependencies, assignments };
  }

  it('takes a large seed apart in steps, letting timers run meanwhile, into what reading it at once gives', async () => {
    const data = bigSeed(60_000);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    try {
      const paced = await parseSeedPaced(data, 'big');
      expect(ticks).toBeGreaterThan(0);
      expect(paced).toEqual(parseSeed(data, 'big'));
    } finally {
      clearInterval(timer);
    }
  });

  it('takes apart task trees nested deeper than a recursive walk could go', () => {
    const depth = 50_000;
    const root: Rec = { id: 1 };
    let node = root;
    for (let id = 2; id <= depth; id++) {
      const child = { id };
      node.children = [child];
      node = child;
    }
    const tasks = parseSeed({ tasks: { rows: [root] } }).stores.get('tasks')!;
    expect(tasks).toHaveLength(depth);
    expect(tasks.every((t, i) => t.parentId === (i === 0 ? null : i))).toBe(true);
  });

  it('leaves out rows that are not records, at any depth of the task tree and in other stores', () => {
    const seed = parseSeed({
      tasks: { rows: [null, 5, 'ab', [1], { id: 1, children: [null, { id: 2 }, 'x', [3]] }] },
      resources: { rows: [null, { id: 1, name: 'R' }, 7, 'cd', []] },
    });
    expect(seed.stores.get('tasks')).toEqual([
      { id: 1, parentId: null },
      { id: 2, parentId: 1 },
    ]);
    expect(seed.stores.get('resources')).toEqual([{ id: 1, name: 'R' }]);
  });

  it('cuts a seed into parts as they are asked for, each at most a batch, every row once and in order', () => {
    const seed = parseSeed(bigSeed(5_000));
    const parts = seedParts(seed, 1_000);
    const first = parts.next();
    expect(first.done).toBe(false);
    expect(first.value!.project).toEqual({ name: 'big' });
    expect([...first.value!.stores.keys()]).toEqual([...seed.stores.keys()]);
    const all = [first.value!, ...parts];
    expect(all.every((p) => [...p.stores.values()].reduce((n, rows) => n + rows.length, 0) <= 1_000)).toBe(true);
    for (const [name, rows] of seed.stores) {
      const cut = all.flatMap((p) => p.stores.get(name) ?? []);
      expect(cut.map((r) => r.id)).toEqual(rows.map((r) => r.id));
    }
    const keys = all.flatMap((p) => p.stores.get('tasks') ?? []).filter((t) => t.parentId === 1).map((t) => t.$order as string);
    expect(keys).toHaveLength(10);
    expect([...keys].sort()).toEqual(keys);
  });
});

describe('the task tree index', () => {
  it('lists the tasks below one of a cycle (left by a merge, before repair) once each, and never the task itself', () => {
    const doc = new Y.Doc();
    const tasks = storeMap(doc, TASKS);
    const task = (id: number, parentId: number | null) => {
      const m = new Y.Map<unknown>();
      m.set('id', id);
      m.set('parentId', parentId);
      tasks.set(String(id), m as never);
    };
    // 1 -> 2 -> 3 -> 1, and 4 under 2.
    doc.transact(() => {
      task(1, 3);
      task(2, 1);
      task(3, 2);
      task(4, 2);
    });
    const tree = new TreeIndex(tasks);
    expect(tree.descendants('1').sort()).toEqual(['2', '3', '4']);
    expect(tree.descendants('4')).toEqual([]);
  });
});

describe('loading a project', () => {
  it('indexes the task tree in steps, letting timers run meanwhile, into the index built at once', async () => {
    const project = new ProjectDocument();
    for await (const _ of project.importSeed(parseSeed({ tasks: { rows: Array.from({ length: 50 }, (_, p) => ({ id: p + 1, children: Array.from({ length: 100 }, (_, c) => ({ id: 1000 + p * 100 + c })) })) } }))) void _;
    const tasks = storeMap(project.doc, TASKS);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    try {
      // A budget of 0 ms pauses at every step.
      const built = await TreeIndex.build(tasks, new Pacer(0));
      expect(ticks).toBeGreaterThan(0);
      const whole = new TreeIndex(tasks);
      for (const parent of [ROOT, ...whole.childrenOf(ROOT)]) expect(built.childrenOf(parent)).toEqual(whole.childrenOf(parent));
      expect(built.childrenOf(ROOT)).toHaveLength(50);
    } finally {
      clearInterval(timer);
    }
  });

  it('loads a stored state with its task tree indexed', async () => {
    const source = projectOf({ tasks: { rows: [{ id: 1, children: [{ id: 2 }, { id: 3 }] }, { id: 4 }] } });
    const loaded = await ProjectDocument.load([source.project.encodeState()]);
    expect(loaded.tree.childrenOf(ROOT).length).toBe(2);
    expect(loaded.tree.childrenOf(loaded.tree.childrenOf(ROOT)[0]).length).toBe(2);
  });
});
