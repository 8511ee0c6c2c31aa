import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CorrectionLoops } from '../src/server/correction-loops.js';
import { RESYNC } from '../src/server/room.js';
import { withoutFields } from '../src/protocol/changes.js';
import { classicLogin, revisionsLogin, type Msg } from './support/client.js';
import { startServer, type TestServer } from './support/server.js';

describe('CorrectionLoops', () => {
  it('calls a field that flips between two writers\' values five times within the window a loop, and mutes it', () => {
    const loops = new CorrectionLoops(3000);
    const writes: [string, number][] = [['a', 6], ['b', 7], ['a', 6], ['b', 7]];
    for (const [i, [writer, value]] of writes.entries()) expect(loops.note(writer, [['tasks/1/duration', value]], 1000 + i)).toBe(false);
    expect(loops.note('a', [['tasks/1/duration', 6]], 1010)).toBe(true);
    expect(loops.isMuted('tasks/1/duration', 1020)).toBe(true);
    expect(loops.isMuted('tasks/1/name', 1020)).toBe(false);
    expect(loops.isMuted('tasks/1/duration', 1010 + 3001)).toBe(false);
  });

  it('judges only the last five writes of a field: an older one of another writer is out of it', () => {
    const loops = new CorrectionLoops(3000);
    expect(loops.note('a', [['tasks/1/name', 'x']], 1000)).toBe(false);
    // b types on: five writes, the last back to the value a wrote. Alone among the last five, b is no loop.
    for (const [i, value] of ['xy', 'xyz', 'xyzw', 'xyzwv', 'x'].entries()) expect(loops.note('b', [['tasks/1/name', value]], 1001 + i)).toBe(false);
    expect(loops.isMuted('tasks/1/name', 1010)).toBe(false);
  });

  it('does not call one writer typing the same field over and over a loop', () => {
    const loops = new CorrectionLoops(3000);
    for (let i = 0; i < 20; i++) expect(loops.note('a', [['tasks/1/name', i % 2 ? 'x' : 'xy']], 1000 + i)).toBe(false);
    expect(loops.anyMuted).toBe(false);
  });

  it('does not call several writers each setting a new value a loop', () => {
    const loops = new CorrectionLoops(3000);
    for (let i = 0; i < 20; i++) expect(loops.note(i % 2 ? 'a' : 'b', [['tasks/1/duration', i]], 1000 + i)).toBe(false);
  });

  it('forgets writes older than the window, so a slow back and forth is not a loop', () => {
    const loops = new CorrectionLoops(3000);
    for (let i = 0; i < 10; i++) expect(loops.note(i % 2 ? 'a' : 'b', [['tasks/1/duration', i % 2]], 1000 + i * 1000)).toBe(false);
  });

  it('starts over when cleared', () => {
    const loops = new CorrectionLoops(3000);
    for (let i = 0; i < 5; i++) loops.note(i % 2 ? 'a' : 'b', [['tasks/1/duration', i % 2]], 1000 + i);
    expect(loops.anyMuted).toBe(true);
    loops.clear();
    expect(loops.anyMuted).toBe(false);
    expect(loops.note('a', [['tasks/1/duration', 1]], 1010)).toBe(false);
  });
});

describe('withoutFields', () => {
  it('leaves out the named fields of updated rows and project fields, and rows left with only an id', () => {
    const changes = {
      tasks: { updated: [{ id: 1, duration: 6, name: 'a' }, { id: 2, duration: 7 }, { id: 3 }], added: [{ id: 9, duration: 1 }] },
      project: { calendar: 'x', hoursPerDay: 8 },
    };
    const out = withoutFields(changes, (store, _id, field) => field === 'duration' || (store === 'project' && field === 'calendar'));
    expect(out).toEqual({
      tasks: { updated: [{ id: 1, name: 'a' }, { id: 3 }], added: [{ id: 9, duration: 1 }] },
      project: { hoursPerDay: 8 },
    });
    expect(changes.tasks.updated[0]).toEqual({ id: 1, duration: 6, name: 'a' });
  });

  it('returns the same object when nothing is left out', () => {
    const changes = { tasks: { updated: [{ id: 1, name: 'a' }] } };
    expect(withoutFields(changes, () => false)).toBe(changes);
  });
});

describe('classic clients correcting each other on a field', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startServer();
  });
  afterAll(async () => s.dispose());

  it('stop being passed each other\'s values, and every client gets a fresh dataset once the project is quiet', async () => {
    const [a, b, watcher] = [await classicLogin(s.port), await classicLogin(s.port, 'alex'), await classicLogin(s.port, 'ben')];
    const replayer = await revisionsLogin(s.port, 'carl');
    replayer.send({ command: 'dataset', data: { project: 1 } });
    await replayer.nextOf('dataset');
    for (const c of [a, b, watcher]) c.send({ command: 'dataset', project: 1 });
    const ds = await watcher.nextOf('dataset');
    await a.nextOf('dataset');
    await b.nextOf('dataset');
    const leaf = (function find(tasks: Msg[]): Msg {
      for (const t of tasks) if (!t.children?.length) return t;
      return find(tasks[0].children);
    })(ds.dataset.tasksData);

    // Two engines answering each other: 6, 7, 6, 7, ... as fast as the wire goes.
    const flips = 8;
    for (let i = 0; i < flips; i++) {
      const [c, value] = i % 2 ? [b, 7] : [a, 6];
      c.send({ command: 'projectChange', project: 1, changes: { tasks: { updated: [{ id: leaf.id, duration: value }] } } });
      await new Promise((r) => setTimeout(r, 20));
    }
    // While muted, a change of that field and another still tells classic clients the other one.
    a.send({ command: 'projectChange', project: 1, changes: { tasks: { updated: [{ id: leaf.id, duration: 6, name: 'still told' }] } } });
    const seen = await watcher.drain(200);
    const told = seen.filter((m) => m.command === 'projectChange').map((m) => m.changes.tasks?.updated?.find((r: Msg) => r.id === leaf.id)).find((r) => r?.name === 'still told');
    expect(told).toEqual({ id: leaf.id, name: 'still told' });
    const durations = seen.filter((m) => m.command === 'projectChange').map((m) => m.changes.tasks?.updated?.find((r: Msg) => r.id === leaf.id)?.duration);
    // The first writes reach the watcher; once caught flipping, the field is no longer passed on.
    expect(durations.slice(0, 4)).toEqual([6, 7, 6, 7]);
    expect(durations.filter((d) => d !== undefined).length).toBeLessThan(flips);

    // A revisions client rebases on the server's order: it gets every write, and no dataset.
    const replayed = (await replayer.drain(100)).filter((m) => m.command === 'project_change');
    expect(replayed.map((m) => m.data.revisions[0].changes.tasks.updated.find((r: Msg) => r.id === leaf.id)?.duration)).toEqual([...Array.from({ length: flips }, (_, i) => (i % 2 ? 7 : 6)), 6]);

    const pushed = await watcher.nextOf('dataset', 5000);
    const task = (function find(tasks: Msg[]): Msg | undefined {
      for (const t of tasks) {
        if (t.id === leaf.id) return t;
        const inner = t.children && find(t.children);
        if (inner) return inner;
      }
    })(pushed.dataset.tasksData);
    expect(task?.duration).toBe(6);
    expect(pushed.dataset.project).toBeDefined();
    for (const c of [a, b]) expect((await c.nextOf('dataset', 2000)).dataset.tasksData).toEqual(pushed.dataset.tasksData);
    await watcher.drain(100);

    // Once everyone holds the same state, the field is passed on again.
    a.send({ command: 'projectChange', project: 1, changes: { tasks: { updated: [{ id: leaf.id, duration: 3 }] } } });
    const next = await watcher.nextOf('projectChange');
    expect(next.changes.tasks.updated.find((r: Msg) => r.id === leaf.id)?.duration).toBe(3);
    expect((await replayer.drain(100)).filter((m) => m.command === 'dataset')).toEqual([]);
    for (const c of [a, b, watcher, replayer]) await c.close();
  });

  it('are not taken for correcting each other when they edit different fields of one task in turns, moving it too', async () => {
    const [a, b, watcher] = [await classicLogin(s.port), await classicLogin(s.port, 'alex'), await classicLogin(s.port, 'ben')];
    for (const c of [a, b, watcher]) c.send({ command: 'dataset', project: 1 });
    const ds = await watcher.nextOf('dataset');
    await a.nextOf('dataset');
    await b.nextOf('dataset');
    const [first] = ds.dataset.tasksData as Msg[];
    const task = first.children?.[0] ?? first;
    // Each write is new: a name typed on one side, a percentage on the other, and the task moved
    // back and forth among its siblings. Only the id, and the place, repeat.
    const writes = 8;
    for (let i = 0; i < writes; i++) {
      const [c, fields] = i % 2 ? [b, { percentDone: 10 + i }] : [a, { name: `typed ${i}`, parentIndex: (i / 2) % 2 }];
      c.send({ command: 'projectChange', project: 1, changes: { tasks: { updated: [{ id: task.id, ...fields }] } } });
      await new Promise((r) => setTimeout(r, 20));
    }
    const seen = await watcher.drain(RESYNC.quietMs * 3);
    const told = seen.filter((m) => m.command === 'projectChange').map((m) => m.changes.tasks?.updated?.find((r: Msg) => r.id === task.id)).filter(Boolean);
    expect(told.map((r) => r.name ?? r.percentDone)).toEqual(Array.from({ length: writes }, (_, i) => (i % 2 ? 10 + i : `typed ${i}`)));
    expect(seen.filter((m) => m.command === 'dataset')).toEqual([]);
    for (const c of [a, b, watcher]) await c.close();
  });
});
