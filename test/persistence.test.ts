/**
 * Persistence: what the server accepted is there again after a restart, compaction, unloading and
 * a reset — with the id counter, the phantom map, the revision log and version content — and
 * storage problems are reported, not hidden. (The real executable killed with SIGKILL: executable.test.ts.)
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { join } from 'node:path';
import * as Y from 'yjs';
import { Storage } from '../src/persistence/storage.js';
import { UpdateLog } from '../src/persistence/update-log.js';
import { revisionsLogin, type Msg } from './support/client.js';
import { recordingLog, startServer, tempDir, type TestServer } from './support/server.js';
import { added, changeSeenBy, datasetOf, loadClassic, meta, newTask, taskIndex } from './support/persistence.js';

describe('persistence across a restart', () => {
  let s: TestServer;
  afterEach(async () => s?.dispose());

  it('brings back every project with its added, moved, updated and removed records, project fields, versions, revisions, id counter and phantom map', async () => {
    s = await startServer();
    const { client: a, ds: before1 } = await loadClassic(s.port, 1);
    const { client: watcher } = await loadClassic(s.port, 1, 'alex');
    const tasks1 = taskIndex(before1.dataset.tasksData);
    expect(tasks1.get(11)!.parentId).toBe(1);
    expect(tasks1.has(13)).toBe(true);

    // Project 1 (classic): one change of each kind.
    const addedTask = (await added(a, 1, newTask('_generatedT1', 'Persisted task', 1, 0))).tasks.added[0];
    const taskId = addedTask.id;
    expect(typeof taskId).toBe('number');
    await watcher.nextOf('projectChange');
    await changeSeenBy(a, watcher, 1, { tasks: { updated: [{ id: 11, parentId: 2, parentIndex: 0 }] } });
    await changeSeenBy(a, watcher, 1, { tasks: { updated: [{ id: 12, name: 'Configure the firewall', percentDone: 42 }] } });
    await changeSeenBy(a, watcher, 1, { tasks: { removed: [{ id: 13 }] } });
    await changeSeenBy(a, watcher, 1, { project: { startDate: '2019-02-04' } });
    const content = { project: { startDate: '2019-01-14' }, tasks: [{ id: 1, name: 'Snapshot of a task' }], note: 'ünïcödé ✓' };
    const version = (
      await added(a, 1, { versions: { added: [{ $PhantomId: '_generatedV1', name: 'Before restart', savedAt: '2024-05-01T10:00:00.000Z', isAutosave: false, content }] } })
    ).versions.added[0];
    expect(version.content).toBeUndefined();
    await watcher.nextOf('projectChange');
    // The highest id so far belongs to a record that is gone: only the stored counter remembers it.
    const doomed = (await added(a, 1, newTask('_generatedT2', 'Short-lived', 1, 0))).tasks.added[0].id;
    await watcher.nextOf('projectChange');
    await changeSeenBy(a, watcher, 1, { tasks: { removed: [{ id: doomed }] } });
    const handedOut = [taskId, version.id, doomed];

    // Project 2 (revisions).
    const r = await revisionsLogin(s.port, 'ben');
    r.send({ command: 'dataset', data: { project: 2 } });
    await r.nextOf('dataset', 5000);
    r.send({
      command: 'project_change',
      data: {
        project: 2,
        revisions: [
          { revision: 'local-1', clientId: r.clientId, changes: { tasks: { added: [{ $PhantomId: '_generatedW1', name: 'Website task', parentId: null, parentIndex: 0 }] } } },
          { revision: 'local-2', clientId: r.clientId, changes: { tasks: { updated: [{ id: 12, name: 'Create the markup' }] }, project: { hoursPerDay: 8 } } },
        ],
      },
    });
    const echo2 = await r.nextOf('project_change', 5000);
    expect(echo2.data.revisions).toHaveLength(2);
    const websiteTaskId = echo2.data.revisions[0].changes.tasks.added[0].id;
    const lastRevision2 = echo2.data.revisions[1].revision;

    const full1 = (await datasetOf(s.port, 1)).dataset;
    await Promise.all([a.close(), watcher.close(), r.close()]);

    s = await s.restart();

    // Project 1 as it was.
    const { client: b, ds: after1 } = await loadClassic(s.port, 1);
    expect(after1.dataset).toEqual(full1);
    const tasks = taskIndex(after1.dataset.tasksData);
    expect(tasks.get(taskId)).toMatchObject({ parentId: 1, index: 0, task: { name: 'Persisted task', duration: 2 } });
    expect(tasks.get(11)).toMatchObject({ parentId: 2, index: 0 });
    expect(tasks.get(12)!.task).toMatchObject({ name: 'Configure the firewall', percentDone: 42 });
    expect(tasks.has(13)).toBe(false);
    expect(tasks.has(doomed)).toBe(false);
    expect(after1.projectMeta.startDate).toBe('2019-02-04');
    expect(after1.dataset.versionsData.find((v: Msg) => v.id === version.id)).toMatchObject({ name: 'Before restart', isAutosave: false });
    expect(after1.dataset.versionsData.find((v: Msg) => v.id === version.id).content).toBeUndefined();

    b.send({ command: 'loadVersionContent', project: 1, versionId: version.id });
    const loaded = await b.nextOf('loadVersionContent');
    expect(loaded).toEqual({ command: 'loadVersionContent', project: 1, versionId: version.id, content });

    // The phantom map: a phantom mapped before the restart is still known.
    const dependency = (await added(b, 1, { dependencies: { added: [{ $PhantomId: '_generatedD1', fromTask: '_generatedT1', toTask: 12, lag: 0 }] } })).dependencies.added[0];
    expect(dependency.fromTask).toBe(taskId);
    expect(dependency.toTask).toBe(12);
    // The id counter: never an id handed out before.
    const fresh = (await added(b, 1, newTask('_generatedT3', 'After restart', null, 0))).tasks.added[0].id;
    for (const id of [...handedOut, dependency.id]) expect(fresh).toBeGreaterThan(id);
    const reloaded = (await datasetOf(s.port, 1)).dataset;
    expect(reloaded.dependenciesData.find((d: Msg) => d.id === dependency.id)).toMatchObject({ fromTask: taskId, toTask: 12 });
    await b.close();

    // Project 2 as it was, with its revision numbering and log.
    const r2 = await revisionsLogin(s.port, 'ben');
    r2.send({ command: 'dataset', data: { project: 2 } });
    const after2 = await r2.nextOf('dataset', 5000);
    expect(after2.data.revision).toBe(lastRevision2);
    const tasks2 = taskIndex(after2.data.dataset.tasksData);
    expect(tasks2.get(websiteTaskId)).toMatchObject({ parentId: null, index: 0, task: { name: 'Website task' } });
    expect(tasks2.get(12)!.task.name).toBe('Create the markup');
    expect(after2.data.dataset.project.hoursPerDay).toBe(8);
    const n = Number(lastRevision2.slice('server-'.length));
    r2.send({ command: 'catch_up', data: { project: 2, since: `server-${n - 2}` } });
    const caught = await r2.nextOf('catch_up');
    expect(caught.data.revisions.map((x: Msg) => x.revision)).toEqual([`server-${n - 1}`, lastRevision2]);
    expect(caught.data.revisions[0].changes.tasks.added[0].id).toBe(websiteTaskId);
    r2.send({ command: 'project_change', data: { project: 2, revisions: [{ revision: 'local-3', clientId: r2.clientId, changes: { tasks: { updated: [{ id: 13, name: 'SSL' }] } } }] } });
    expect((await r2.nextOf('project_change')).data.revisions[0].revision).toBe(`server-${n + 1}`);
    await r2.close();
  });
});

// ---- compaction, unloading, reset, errors ---------------------------------------------------

describe('compaction', () => {
  let s: TestServer;
  afterEach(async () => {
    vi.restoreAllMocks();
    await s?.dispose();
  });

  it('folds the log once enough changes were logged and the project is quiet, saying so before and after in debug lines naming the project', async () => {
    const { lines, log } = recordingLog();
    s = await startServer({ logLevel: 'debug' as const, storage: { compactAfterUpdates: 1, quietMs: 50, quietMaxMs: 200 } }, undefined, log);
    const { client } = await loadClassic(s.port, 1);
    await added(client, 1, newTask('_generatedQuiet', 'Quiet', 2, 0));
    const folds = () => lines.filter(({ msg }) => /folding the log|log folded/.test(msg));
    for (let i = 0; i < 200 && folds().length < 2; i++) await new Promise((r) => setTimeout(r, 25));
    // The crash test of `npm run reliability` reads these lines to tell what a kill interrupted.
    expect(folds().slice(0, 2)).toEqual([
      { msg: 'project 1: folding the log', fields: { level: 'debug', project: 1 } },
      { msg: 'project 1: log folded', fields: { level: 'debug', project: 1 } },
    ]);
    expect((await s.server.storage.project(1).load())!.updates).toEqual([]);
  });

  it('folds once exactly compactAfterUpdates changes are in the log, not before', async () => {
    s = await startServer({ storage: { compactAfterUpdates: 3, quietMs: 50, quietMaxMs: 200 } });
    const server = s;
    const { client } = await loadClassic(s.port, 1);
    const logged = async () => (await server.server.storage.project(1).load())!.updates.length;
    // Past quietMaxMs, a fold that was asked for has run.
    const settled = async () => (await new Promise((r) => setTimeout(r, 400)), logged());
    // What loading left in the log (the open itself may log an update).
    const start = await settled();
    expect(start).toBeLessThan(2);
    for (let i = start; i < 2; i++) await added(client, 1, newTask(`_generatedFold${i}`, `Fold ${i}`, 2, 0));
    expect(await settled()).toBe(2);
    await added(client, 1, newTask('_generatedFold3', 'Fold 3', 2, 0));
    let left = await settled();
    for (let i = 0; i < 50 && left > 0; i++) left = await settled();
    expect(left).toBe(0);
  });

  it('logs a fold that failed as an error naming the project, and keeps the changes in the log', async () => {
    const { lines, log } = recordingLog();
    s = await startServer({ storage: { compactAfterUpdates: 1, quietMs: 50, quietMaxMs: 200 } }, undefined, log);
    vi.spyOn(UpdateLog.prototype, 'fold').mockRejectedValue(new Error('no space left (injected)'));
    const { client } = await loadClassic(s.port, 1);
    await added(client, 1, newTask('_generatedUnfolded', 'Unfolded', 2, 0));
    const failed = () => lines.filter(({ msg }) => /compaction failed/.test(msg));
    for (let i = 0; i < 200 && failed().length === 0; i++) await new Promise((r) => setTimeout(r, 25));
    expect(failed()[0]).toEqual({ msg: 'project 1: compaction failed: no space left (injected)', fields: { level: 'error', project: 1 } });
    expect((await s.server.storage.project(1).load())!.updates.length).toBeGreaterThan(0);
  });

  it('folds the update log into a snapshot after compactAfterUpdates updates and still serves every change after a restart', async () => {
    const overrides = { logLevel: 'debug' as const, storage: { compactAfterUpdates: 5, unloadAfterSeconds: 60, sync: false } };
    // The server's lines about folding, shown when the fold is not seen.
    const foldLines: string[] = [];
    s = await startServer(overrides, undefined, (line) => /fold|compaction/.test(line) && foldLines.push(line));
    const { client: a } = await loadClassic(s.port, 1);
    const { client: watcher } = await loadClassic(s.port, 1, 'alex');
    const ids: number[] = [];
    for (let i = 0; i < 12; i++) {
      if (i % 2 === 0) {
        ids.push((await added(a, 1, newTask(`_generatedC${i}`, `Compacted ${i}`, 2, i))).tasks.added[0].id);
        await watcher.nextOf('projectChange');
      } else {
        await changeSeenBy(a, watcher, 1, { tasks: { updated: [{ id: 21, name: `Contact designers ${i}` }] } });
      }
    }
    const before = (await datasetOf(s.port, 1)).dataset;

    // While running: a snapshot, and only the updates since it. Folding runs beside the
    // project's queue (and clears the folded updates after writing the snapshot). Its merges run in
    // a worker at the lowest CPU priority, which other test files running at once can starve for
    // many seconds on a busy machine: wait up to a minute, still bounded.
    const logKeys = async () => (await s.server.storage.project(1).sizeOf('u')).keys;
    let live = (await s.server.storage.project(1).load())!;
    // load() reads the chunks, then the snapshot's seq: a fold between the two reads looks like a
    // seq without its chunk, so a read counts once both are there.
    for (let i = 0; i < 1200 && (live.lastChunk === null || live.snapshotSeq < 10 || (await logKeys()) !== live.updates.length); i++) {
      await new Promise((r) => setTimeout(r, 50));
      live = (await s.server.storage.project(1).load())!;
    }
    expect(live.lastChunk, foldLines.join('\n')).not.toBeNull();
    expect(live.snapshotSeq).toBeGreaterThanOrEqual(10);
    expect(live.updates.length).toBeLessThan(5);
    expect((await s.server.storage.project(1).sizeOf('u')).keys).toBe(live.updates.length);

    await Promise.all([a.close(), watcher.close()]);
    await s.stop();
    const storage = await Storage.open(join(s.dataDir, 'db'));
    try {
      const stored = (await storage.project(1).load())!;
      expect(stored.lastChunk).not.toBeNull();
      expect(stored.updates.length).toBeLessThan(5);
      expect((await storage.project(1).sizeOf('u')).keys).toBe(stored.updates.length);
      expect(stored.meta.nextRevision).toBe(13);
    } finally {
      await storage.close();
    }

    s = await startServer(overrides, s.dataDir);
    const after = (await datasetOf(s.port, 1)).dataset;
    expect(after).toEqual(before);
    const tasks = taskIndex(after.tasksData);
    ids.forEach((id, k) => expect(tasks.get(id)).toMatchObject({ parentId: 2, task: { name: `Compacted ${k * 2}` } }));
    expect(tasks.get(21)!.task.name).toBe('Contact designers 11');
  }, 120_000);
});

describe('the update log in storage', () => {
  it('ignores updates at or below the snapshot sequence that an interrupted fold left behind, and the next fold clears them', async () => {
    const dir = await tempDir();
    const storage = await Storage.open(join(dir, 'db'));
    try {
      const project = storage.project(7);
      const doc = new Y.Doc();
      const updates: Uint8Array[] = [];
      doc.on('updateV2', (u: Uint8Array) => updates.push(u));
      for (let i = 1; i <= 4; i++) doc.getMap('project').set('step', i);
      for (let i = 0; i < 4; i++) await project.commit({ seq: i + 1, update: updates[i], meta: meta() });
      await project.compact([{ index: 0, bytes: Y.mergeUpdatesV2(updates.slice(0, 2)) }], 2);
      expect((await project.sizeOf('u')).keys).toBe(2);

      // As if the process died between the snapshot batch and the clear of the folded updates.
      await project.commit({ seq: 1, update: updates[0] });
      await project.commit({ seq: 2, update: new Uint8Array([1, 2, 3]) });
      const stored = (await project.load())!;
      expect(stored.snapshotSeq).toBe(2);
      expect(stored.updates.map((u) => [...u])).toEqual([[...updates[2]], [...updates[3]]]);
      const back = new Y.Doc();
      for await (const part of project.chunks()) Y.applyUpdateV2(back, part);
      for (const part of stored.updates) Y.applyUpdateV2(back, part);
      expect(back.getMap('project').get('step')).toBe(4);

      await project.compact([{ index: 0, bytes: Y.mergeUpdatesV2(updates) }], 4);
      expect((await project.sizeOf('u')).keys).toBe(0);
    } finally {
      await storage.close();
    }
  });

  it('streams the snapshot chunks in index order and then the logged updates, and after a restart the next fold extends the last chunk', async () => {
    const dir = await tempDir();
    let storage = await Storage.open(join(dir, 'db'));
    try {
      const doc = new Y.Doc();
      const updates: Uint8Array[] = [];
      doc.on('updateV2', (u: Uint8Array) => updates.push(u));
      for (let i = 0; i < 14; i++) doc.getMap('tasks').set(String(i), i);
      const project = storage.project(7);
      for (let i = 0; i < 14; i++) await project.commit({ seq: i + 1, update: updates[i], meta: meta() });
      // Twelve chunks of one update each (indexes past 9 sort as strings only when padded).
      await project.compact(updates.slice(0, 12).map((bytes, index) => ({ index, bytes })), 12);

      let stored = (await project.load())!;
      expect(stored.lastChunk?.index).toBe(11);
      expect([...stored.lastChunk!.bytes]).toEqual([...updates[11]]);
      const log = new UpdateLog(project);
      log.reset(stored);
      const read: number[][] = [];
      for await (const part of log.read()) read.push([...part]);
      expect(read).toEqual(updates.map((u) => [...u]));

      await storage.close();
      storage = await Storage.open(join(dir, 'db'));
      const reopened = storage.project(7);
      stored = (await reopened.load())!;
      const again = new UpdateLog(reopened);
      again.reset(stored);
      await again.fold();
      const chunks: Uint8Array[] = [];
      for await (const chunk of reopened.chunks()) chunks.push(chunk);
      expect(chunks).toHaveLength(12);
      const back = new Y.Doc();
      for await (const part of again.read()) Y.applyUpdateV2(back, part);
      expect(back.getMap('tasks').toJSON()).toEqual(doc.getMap('tasks').toJSON());
      expect((await reopened.load())!.lastChunk?.index).toBe(11);
    } finally {
      await storage.close();
    }
  });
});

describe('unloading', () => {
  let s: TestServer;
  afterEach(async () => s?.dispose());

  it('unloads a project nobody is subscribed to and loads it again with all its changes', async () => {
    s = await startServer({ storage: { compactAfterUpdates: 500, unloadAfterSeconds: 0, sync: false } });
    const { client: a } = await loadClassic(s.port, 1);
    const { client: watcher } = await loadClassic(s.port, 1, 'alex');
    const { client: other } = await loadClassic(s.port, 2);
    const id = (await added(a, 1, newTask('_generatedU1', 'Before unload', 3, 0))).tasks.added[0].id;
    await watcher.nextOf('projectChange');
    await changeSeenBy(a, watcher, 1, { tasks: { updated: [{ id: 31, name: 'Hire more QA staff' }], removed: [{ id: 33 }] } });
    await changeSeenBy(a, watcher, 1, { project: { startDate: '2019-03-04' } });
    const before = (await datasetOf(s.port, 1)).dataset;
    expect(s.server.projects.loaded()).toContain(1);
    await Promise.all([a.close(), watcher.close()]);

    const deadline = Date.now() + 5000;
    while (s.server.projects.loaded().includes(1) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(s.server.projects.loaded()).not.toContain(1);
    // A project someone is subscribed to stays.
    expect(s.server.projects.loaded()).toContain(2);
    // Once done, an unload leaves nothing behind (a server unloading many projects over time would grow).
    const closing = (s.server.projects as unknown as { closing: Map<unknown, unknown> }).closing;
    while (closing.size > 0 && Date.now() < deadline + 5000) await new Promise((r) => setTimeout(r, 50));
    expect(closing.size).toBe(0);

    const { client: b, ds } = await loadClassic(s.port, 1);
    expect(ds.dataset).toEqual(before);
    const tasks = taskIndex(ds.dataset.tasksData);
    expect(tasks.get(id)).toMatchObject({ parentId: 3, index: 0, task: { name: 'Before unload' } });
    expect(tasks.get(31)!.task.name).toBe('Hire more QA staff');
    expect(tasks.has(33)).toBe(false);
    expect(tasks.has(331)).toBe(false);
    expect(ds.projectMeta.startDate).toBe('2019-03-04');
    // The phantom map and the counter came back with it.
    const dependency = (await added(b, 1, { dependencies: { added: [{ $PhantomId: '_generatedUD', fromTask: '_generatedU1', toTask: 31 }] } })).dependencies.added[0];
    expect(dependency.fromTask).toBe(id);
    expect(dependency.id).toBeGreaterThan(id);
    await Promise.all([b.close(), other.close()]);
  }, 15_000);
});

describe('reset', () => {
  let s: TestServer;
  afterEach(async () => s?.dispose());

  it('brings back the seed, forgets what was added, never hands out an old id again and keeps that over a restart', async () => {
    s = await startServer();
    const { client: a, ds: seed } = await loadClassic(s.port, 1);
    const { client: watcher } = await loadClassic(s.port, 1, 'alex');
    const handedOut: unknown[] = [];
    const first = (await added(a, 1, newTask('_generatedR1', 'Gone after reset', 1, 0))).tasks.added[0].id;
    await watcher.nextOf('projectChange');
    handedOut.push(first);
    const more = await added(a, 1, {
      tasks: { added: [{ $PhantomId: '_generatedR2', name: 'Also gone', parentId: 2, parentIndex: 0 }] },
      resources: { added: [{ $PhantomId: '_generatedR3', name: 'Temp' }] },
      versions: { added: [{ $PhantomId: '_generatedR4', name: 'Gone version', content: { x: 1 } }] },
    });
    await watcher.nextOf('projectChange');
    handedOut.push(more.tasks.added[0].id, more.resources.added[0].id, more.versions.added[0].id);
    await changeSeenBy(a, watcher, 1, { tasks: { updated: [{ id: 11, name: 'Renamed before reset' }], removed: [{ id: 12 }] } });
    expect(new Set(handedOut).size).toBe(4);

    a.send({ command: 'reset', project: 1 });
    const pushed = await watcher.nextOf('dataset', 5000);
    expect(await watcher.nextOf('reset')).toMatchObject({ command: 'reset', project: 1 });
    expect(pushed.dataset).toEqual(seed.dataset);
    expect(pushed.dataset.project).toEqual(seed.projectMeta);
    await a.nextOf('reset');

    const afterReset = await datasetOf(s.port, 1);
    expect(afterReset.dataset).toEqual(seed.dataset);
    expect(afterReset.projectMeta).toEqual(seed.projectMeta);
    a.send({ command: 'loadVersionContent', project: 1, versionId: more.versions.added[0].id });
    expect(await a.nextOf('loadVersionContent')).toEqual({ command: 'loadVersionContent', project: 1, versionId: more.versions.added[0].id });
    a.send({ command: 'loadVersionContent', project: 1, versionId: 'version-1' });
    expect((await a.nextOf('loadVersionContent')).content).toBeTruthy();

    // Same phantom id as before the reset: the old mapping is forgotten, so this is a new record.
    const fresh = (await added(a, 1, newTask('_generatedR1', 'After reset', 1, 0))).tasks.added[0].id;
    await watcher.nextOf('projectChange');
    expect(handedOut).not.toContain(fresh);
    for (const id of handedOut) expect(fresh).toBeGreaterThan(id as number);
    const withFresh = (await datasetOf(s.port, 1)).dataset;
    const tasks = taskIndex(withFresh.tasksData);
    expect(tasks.get(fresh)).toMatchObject({ parentId: 1, index: 0, task: { name: 'After reset' } });
    expect(tasks.size).toBe(taskIndex(seed.dataset.tasksData).size + 1);
    await Promise.all([a.close(), watcher.close()]);

    s = await s.restart();
    const { client: b, ds } = await loadClassic(s.port, 1);
    expect(ds.dataset).toEqual(withFresh);
    expect(ds.projectMeta).toEqual(seed.projectMeta);
    // The counter and the new phantom epoch survived the restart.
    const dependency = (await added(b, 1, { dependencies: { added: [{ $PhantomId: '_generatedRD', fromTask: '_generatedR1', toTask: 11 }] } })).dependencies.added[0];
    expect(dependency.fromTask).toBe(fresh);
    const later = (await added(b, 1, newTask('_generatedR5', 'Later', 1, 0))).tasks.added[0].id;
    expect([...handedOut, fresh, dependency.id]).not.toContain(later);
    expect(later).toBeGreaterThan(dependency.id);
    expect(dependency.id).toBeGreaterThan(fresh);
    await b.close();
  });
});

describe('storage errors', () => {
  let s: TestServer;
  afterEach(async () => s?.dispose());

  it('rejects a second server on a data directory that is already open, naming the directory', async () => {
    s = await startServer();
    const dataDir = join(s.dataDir, 'db');
    const error = await startServer({}, s.dataDir).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toContain(`cannot open data directory ${dataDir}`);
    // The first server still works.
    const { client, ds } = await loadClassic(s.port, 1);
    expect(ds.dataset.tasksData.length).toBeGreaterThan(0);
    await client.close();
  });
});
