/**
 * Server-side versions in a running server: taken on request, automatically and before resets
 * and restores; shown to Bryntum clients in datasets and as server revisions; their content
 * loaded with both spellings of the load-content command; restored live as one change; kept
 * over a restart; thinned by retention.
 */
import { afterEach, describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { WebsocketProvider } from 'y-websocket';
import WebSocket from 'ws';
import type { ConfigInput } from '../src/config/schema.js';
import { readField } from '../src/document/layout.js';
import { HistoryService } from '../src/history/service.js';
import { VersionStore } from '../src/history/versions.js';
import type { ProjectRoom } from '../src/server/room.js';
import { classicLogin, revisionsLogin, type Msg, type TestClient } from './support/client.js';
import { recordingLog, startServer, type LoggedLine, type TestServer } from './support/server.js';

type RevClient = TestClient & { clientId: string };
type Rec = Record<string, any>;

let s: TestServer;
const providers: WebsocketProvider[] = [];
const clients: TestClient[] = [];

afterEach(async () => {
  for (const p of providers.splice(0)) p.destroy();
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await s?.dispose();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The running server's log lines, with their fields. */
let logged: LoggedLine[] = [];
async function start(overrides: Partial<ConfigInput> = {}): Promise<TestServer> {
  logged = [];
  s = await startServer(overrides, undefined, recordingLog(logged).log);
  return s;
}

const room = async (): Promise<ProjectRoom> => (await s.server.projects.open(1)) as ProjectRoom;
const service = () => new HistoryService(s.server.storage, s.server.projects);
/** A version's (or the current) dataset. */
const datasetAt = async (ref: string): Promise<Rec> => (await service().show('1', ref)).dataset as Rec;
const liveDataset = async (): Promise<Rec> => (await room()).dataset() as Promise<Rec>;

async function revisionsSubscriber(name: string, project = 1): Promise<{ client: RevClient; dataset: Rec }> {
  const client = await revisionsLogin(s.port, name);
  clients.push(client);
  client.send({ command: 'dataset', data: { project } });
  const reply = await client.nextOf('dataset', 5000);
  return { client, dataset: reply.data.dataset };
}

async function classicSubscriber(name: string, project = 1): Promise<{ client: TestClient; reply: Msg }> {
  const client = await classicLogin(s.port, name);
  clients.push(client);
  client.send({ command: 'dataset', project });
  return { client, reply: await client.nextOf('dataset', 5000) };
}

let local = 0;
/** Send one revision and wait for its echo (it is stored then). */
async function change(sender: RevClient, changes: Rec, project = 1): Promise<Rec> {
  const revision = `local-${++local}`;
  sender.send({ command: 'project_change', data: { project, revisions: [{ revision, clientId: sender.clientId, changes }] } });
  for (;;) {
    const msg = await sender.nextOf('project_change', 5000);
    const mine = msg.data.revisions.find((r: Rec) => r.localRevision === revision);
    if (mine) return mine;
  }
}

async function peer(name = 'admin', project = 1): Promise<Y.Doc> {
  const doc = new Y.Doc();
  const provider = new WebsocketProvider(`ws://127.0.0.1:${s.port}/yjs`, String(project), doc, {
    WebSocketPolyfill: WebSocket as never,
    params: { login: name, password: name },
  });
  providers.push(provider);
  await new Promise<void>((resolve) => provider.once('sync', () => resolve()));
  return doc;
}

async function until(check: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(20);
  }
}

/** Ids of a nested task list, depth first. */
function taskIds(tasks: Rec[]): unknown[] {
  return tasks.flatMap((t) => [t.id, ...taskIds(t.children ?? [])]);
}

const versionRecordOf = (v: { n: number; label: string; time: string; reason: string }) => ({ id: `weft-${v.n}`, name: v.label, savedAt: v.time, isAutosave: v.reason === 'auto' });

describe('versions on request', () => {
  it('keep the state, appear in datasets of both generations, are announced as a server revision, and load as content', async () => {
    await start();
    const { client: r } = await revisionsSubscriber('alex');
    const { client: c } = await classicSubscriber('admin');
    await change(r, { tasks: { updated: [{ id: 11, name: 'Install nginx' }] } });
    await c.nextOf('projectChange');

    const version = await (await room()).createVersion('Milestone');
    expect(version).toMatchObject({ n: 1, label: 'Milestone', reason: 'manual', changes: 1, authors: ['alex'], lastRevision: 'server-1' });
    const record = versionRecordOf(version);

    const announced = await r.nextOf('project_change');
    expect(announced.data.revisions).toEqual([
      { revision: 'server-2', client: 'weft-server', changes: { versions: { added: [record], $input: { added: [record] } } } },
    ]);
    expect(await c.nextOf('projectChange')).toEqual({ command: 'projectChange', project: 1, changes: { versions: { added: [record] } } });

    const fresh = await revisionsSubscriber('ben');
    expect(fresh.dataset.versionsData).toEqual([{ id: 'version-1', name: 'Version 1', savedAt: '2019-03-20', isAutosave: false }, record]);
    const classic = await classicSubscriber('alex');
    expect(classic.reply.dataset.versionsData).toContainEqual(record);

    // Later changes do not touch the version.
    await change(r, { tasks: { updated: [{ id: 11, name: 'Install caddy' }] } });
    const shown = await service().show('1', '1');
    expect(shown.version).toEqual(version);
    const names = (ds: Rec) => ds.tasksData[0].children[0].children.find((t: Rec) => t.id === 11).name;
    expect(names(shown.dataset)).toBe('Install nginx');

    for (const command of ['loadVersionContent', 'load_version_content']) {
      r.send({ command, data: { project: 1, versionId: 'weft-1' } });
      const reply = await r.nextOf(command);
      expect(reply).toEqual({ command, data: { project: 1, versionId: 'weft-1', content: shown.dataset } });
    }
    c.send({ command: 'loadVersionContent', project: 1, versionId: 'weft-1' });
    expect(await c.nextOf('loadVersionContent')).toEqual({ command: 'loadVersionContent', project: 1, versionId: 'weft-1', content: shown.dataset });
    r.send({ command: 'loadVersionContent', data: { project: 1, versionId: 'weft-99' } });
    expect(await r.nextOf('loadVersionContent')).toEqual({ command: 'loadVersionContent', data: { project: 1, versionId: 'weft-99' } });
    // Bryntum's own version content still comes from LevelDB.
    r.send({ command: 'loadVersionContent', data: { project: 1, versionId: 'version-1' } });
    expect((await r.nextOf('loadVersionContent')).data.content).toBe('{}');
  });
});

describe('server versions seen by clients', () => {
  it('cannot be renamed or deleted by a client', async () => {
    await start();
    const { client: r } = await revisionsSubscriber('alex');
    const version = await (await room()).createVersion('Fixed');
    await r.nextOf('project_change');
    const renamed = await change(r, { versions: { updated: [{ id: 'weft-1', name: 'Mine now' }] } });
    expect(renamed.client).toBe(r.clientId);
    await change(r, { versions: { removed: [{ id: 'weft-1' }] } });
    expect(await service().list('1')).toEqual([version]);
    const { dataset } = await revisionsSubscriber('ben');
    expect(dataset.versionsData).toContainEqual(versionRecordOf(version));
  });
});

describe('automatic versions', () => {
  it('are taken after N changes, counting the authors of Bryntum clients of both generations and of Yjs peers', async () => {
    await start({ history: { autoEveryChanges: 3, autoEveryMinutes: 0 } });
    const { client: r } = await revisionsSubscriber('ben');
    const { client: c } = await classicSubscriber('alex');
    const doc = await peer('admin');

    await change(r, { tasks: { updated: [{ id: 11, name: 'by ben' }] } });
    c.send({ command: 'projectChange', project: 1, changes: { tasks: { updated: [{ id: 12, name: 'by alex' }] } } });
    await r.nextOf('project_change');
    expect(await service().list('1')).toEqual([]);
    (doc.getMap('tasks').get('13') as Y.Map<unknown>).set('name', 'by the peer');

    expect((await r.nextOf('project_change')).data.revisions[0].changes.tasks.updated).toEqual([{ id: 13, name: 'by the peer' }]);
    const announced = await r.nextOf('project_change');
    const [revision] = announced.data.revisions;
    expect(revision.changes).toEqual({ versions: { added: [{ id: 'weft-1', name: 'Autosave 1', savedAt: expect.any(String), isAutosave: true }], $input: expect.any(Object) } });
    const [version] = await service().list('1');
    expect(version).toMatchObject({ n: 1, reason: 'auto', changes: 3, authors: ['ben', 'alex', 'admin'], label: 'Autosave 1' });
    // Around the work, debug lines a crash test reads to tell what a kill interrupted.
    for (let i = 0; i < 100 && !logged.some(({ msg }) => msg.endsWith('automatic version taken')); i++) await sleep(20);
    expect(logged.filter(({ msg }) => msg.includes('automatic version'))).toEqual([
      { msg: 'project 1: taking an automatic version', fields: { level: 'debug', project: 1 } },
      { msg: 'project 1: automatic version taken', fields: { level: 'debug', project: 1 } },
    ]);
    // The version holds every change it counted.
    const dataset = await datasetAt('1');
    const setup = dataset.tasksData[0].children[0].children;
    expect(setup.filter((t: Rec) => [11, 12, 13].includes(t.id)).map((t: Rec) => t.name)).toEqual(['by ben', 'by alex', 'by the peer']);

    // Counting starts again from zero.
    await change(r, { tasks: { updated: [{ id: 11, name: 'again' }] } });
    await change(r, { tasks: { updated: [{ id: 11, name: 'and again' }] } });
    expect(await service().list('1')).toHaveLength(1);
    // The third takes the next one: one automatic version does not end the next.
    await change(r, { tasks: { updated: [{ id: 11, name: 'third' }] } });
    const next = await r.nextOf('project_change', 5000);
    expect(next.data.revisions[0].changes.versions.added[0]).toMatchObject({ id: 'weft-2', name: 'Autosave 2', isAutosave: true });
    expect(await service().list('1')).toMatchObject([{ n: 1 }, { n: 2, reason: 'auto', changes: 3 }]);
  });

  it('do not count the announcement of a version as a change after it, also across a restart', async () => {
    await start({ history: { autoEveryChanges: 2, autoEveryMinutes: 0 } });
    await service().create('1', 'By hand');
    s = await s.restart();
    const { client: r } = await revisionsSubscriber('ben');
    await change(r, { tasks: { updated: [{ id: 11, name: 'one change' }] } });
    await sleep(1500);
    expect((await service().list('1')).map((v) => v.reason)).toEqual(['manual']);
    await change(r, { tasks: { updated: [{ id: 11, name: 'two changes' }] } });
    expect((await r.nextOf('project_change', 5000)).data.revisions[0].changes.versions.added[0]).toMatchObject({ isAutosave: true });
    expect((await service().list('1')).map((v) => v.reason)).toEqual(['manual', 'auto']);
  });

  it('are taken M minutes after the first change not in a version, and not without changes', async () => {
    await start({ history: { autoEveryChanges: 0, autoEveryMinutes: 0.005 } });
    const { client: r } = await revisionsSubscriber('ben');
    await sleep(600);
    expect(await service().list('1')).toEqual([]);
    await change(r, { project: { startDate: '2019-02-04' } });
    const announced = await r.nextOf('project_change', 3000);
    expect(announced.data.revisions[0].changes.versions.added[0]).toMatchObject({ id: 'weft-1', isAutosave: true });
    expect(await service().list('1')).toMatchObject([{ n: 1, reason: 'auto', changes: 1, authors: ['ben'] }]);
    await sleep(600);
    expect(await service().list('1')).toHaveLength(1);
  });
});

describe('reset', () => {
  it('keeps the state before it as a version; subscribers still get exactly dataset then reset', async () => {
    await start();
    const { client: r } = await revisionsSubscriber('alex');
    const { client: watcher, dataset: seed } = await revisionsSubscriber('ben');
    await change(r, { tasks: { updated: [{ id: 11, name: 'Before the reset' }] } });
    await watcher.nextOf('project_change');
    const before = await liveDataset();

    r.send({ command: 'reset', data: { project: 1 } });
    const pushed = await watcher.next(5000);
    expect(pushed.command).toBe('dataset');
    expect(pushed.data.dataset).toEqual(seed);
    expect((await watcher.next()).command).toBe('reset');

    const [version] = await service().list('1');
    expect(version).toMatchObject({ n: 1, reason: 'before-reset', label: 'Before reset by alex', authors: ['alex'], changes: 1 });
    expect(await datasetAt('1')).toEqual(before);

    // Restoring it brings the change back as one revision.
    await (await room()).restore(1, 'admin');
    const restored = await watcher.nextOf('project_change');
    expect(restored.data.revisions).toHaveLength(1);
    expect(restored.data.revisions[0].changes.tasks.updated).toEqual([{ id: 11, name: 'Before the reset' }]);
  });
});

describe('restore', () => {
  it('reaches connected clients of both generations and Yjs peers live as one change; a new client loads the version', { timeout: 20_000 }, async () => {
    await start();
    const { client: sender } = await revisionsSubscriber('ben');
    const { client: r } = await revisionsSubscriber('alex');
    const { client: c } = await classicSubscriber('admin');
    const doc = await peer('admin');
    const v1 = await (await room()).createVersion('Good state');
    await r.nextOf('project_change');
    await c.nextOf('projectChange');
    const target = await datasetAt('1');

    // Rename, add, remove a subtree (its dependencies and assignments go with it), move, project field, new resource.
    await change(sender, { tasks: { updated: [{ id: 2, name: 'Renamed' }] } });
    const addedTask = (await change(sender, { tasks: { added: [{ $PhantomId: '_generatedT1', name: 'Extra', parentId: 2, parentIndex: 0 }] } })).changes.tasks.added[0].id;
    await change(sender, { tasks: { removed: [{ id: 1 }] } });
    await change(sender, { tasks: { updated: [{ id: 21, parentId: null, parentIndex: 0 }] } });
    await change(sender, { project: { startDate: '2019-02-04' } });
    const addedResource = (await change(sender, { resources: { added: [{ $PhantomId: '_generatedR1', name: 'Zoe' }] } })).changes.resources.added[0].id;
    const live = await liveDataset();
    expect(taskIds(live.tasksData)).not.toContain(1);
    await r.drain(300);
    await c.drain(0);

    const result = await (await room()).restore(v1.n, 'admin');
    expect(result.restored).toEqual(v1);
    expect(result.before).toMatchObject({ n: 2, reason: 'before-restore', label: 'Before restore of version 1', authors: ['ben'], changes: 6 });
    // Nothing is lost: the state the restore replaced is that version.
    expect(await datasetAt('2')).toEqual(live);

    const msg = await r.nextOf('project_change');
    expect(msg.data.revisions).toHaveLength(1);
    const [revision] = msg.data.revisions;
    expect(revision).toMatchObject({ revision: result.revision, client: 'weft-server' });
    const changes = revision.changes;
    const addedTasks = changes.tasks.added.map((t: Rec) => t.id);
    expect(new Set(addedTasks)).toEqual(new Set([1, 11, 12, 13, 14, 15]));
    expect(addedTasks[0]).toBe(1);
    expect(changes.tasks.added[0]).toMatchObject({ id: 1, name: 'Setup web server', parentId: 1000, parentIndex: 0 });
    expect(changes.tasks.removed).toEqual([{ id: addedTask }]);
    expect(changes.tasks.updated).toEqual(expect.arrayContaining([expect.objectContaining({ id: 2, name: 'Website Design' }), expect.objectContaining({ id: 21, parentId: 2 })]));
    // The dependencies and assignments the removal took with it come back.
    const missing = (store: string) => new Set(target[store].map((x: Rec) => x.id).filter((id: unknown) => !live[store].some((x: Rec) => x.id === id)));
    expect(missing('dependenciesData')).toEqual(new Set([1, 2, 3, 4, 5]));
    expect(new Set(changes.dependencies.added.map((d: Rec) => d.id))).toEqual(missing('dependenciesData'));
    expect(new Set(changes.assignments.added.map((a: Rec) => a.id))).toEqual(missing('assignmentsData'));
    expect(changes.resources.removed).toEqual([{ id: addedResource }]);
    expect(changes.project).toMatchObject({ startDate: '2019-01-14' });
    for (const entry of Object.values(changes) as Rec[]) expect(entry.$input).toBeDefined();

    // Classic clients get the same change without $input.
    const classic = await c.nextOf('projectChange');
    expect(classic.changes.tasks.added.map((t: Rec) => t.id)).toEqual(addedTasks);
    expect(classic.changes.tasks.$input).toBeUndefined();

    // Yjs peers receive it as an update.
    const tasks = doc.getMap('tasks') as Y.Map<Y.Map<unknown>>;
    await until(() => tasks.has('1') && readField(tasks.get('2')!, 'name') === 'Website Design' && !tasks.has(String(addedTask)));

    // A client loading now sees the version (plus the server versions list).
    const fresh = await revisionsSubscriber('alex');
    const { versionsData, ...stores } = fresh.dataset;
    const { versionsData: targetVersions, ...targetStores } = target;
    expect(stores).toEqual(targetStores);
    expect(versionsData).toEqual([...targetVersions, versionRecordOf(v1)]);

    // The restore counts as a change by its author.
    expect((await (await room()).createVersion()).authors).toEqual(['admin']);
  });

  it('of an unknown version fails and changes nothing', async () => {
    await start();
    await expect((await room()).restore(7, 'admin')).rejects.toThrow('no version 7');
    expect(await service().list('1')).toEqual([]);
  });

  it('of the current state takes the safety version and sends nothing', async () => {
    await start();
    const { client: r } = await revisionsSubscriber('alex');
    await (await room()).createVersion();
    await r.nextOf('project_change');
    const result = await (await room()).restore(1, 'admin');
    expect(result.revision).toBeNull();
    expect(result.before.n).toBe(2);
    await r.expectSilence(300);
  });
});

describe('after a restart', () => {
  it('versions, their content and the counts since the newest one are still there', async () => {
    await start();
    const { client: r } = await revisionsSubscriber('alex');
    await change(r, { tasks: { updated: [{ id: 11, name: 'v1 name' }] } });
    const v1 = await (await room()).createVersion('Kept');
    const content = await datasetAt('1');
    const { client: b } = await revisionsSubscriber('ben');
    await change(b, { tasks: { updated: [{ id: 11, name: 'later' }] } });
    await change(b, { tasks: { updated: [{ id: 12, name: 'later' }] } });
    await Promise.all(clients.splice(0).map((x) => x.close()));

    s = await s.restart();
    expect(await service().list('1')).toEqual([v1]);
    const { client, dataset } = await revisionsSubscriber('alex');
    expect(dataset.versionsData).toContainEqual(versionRecordOf(v1));
    client.send({ command: 'loadVersionContent', data: { project: 1, versionId: 'weft-1' } });
    expect((await client.nextOf('loadVersionContent')).data.content).toEqual(content);
    expect(await (await room()).createVersion()).toMatchObject({ n: 2, changes: 2, authors: ['ben'] });
  });
});

describe('stored states', () => {
  it('keep the snapshot chunks and the updates not folded yet as parts, and read back as the project was', async () => {
    await start();
    const { client: r } = await revisionsSubscriber('alex');
    await change(r, { tasks: { updated: [{ id: 11, name: 'first' }] } });
    await change(r, { tasks: { updated: [{ id: 12, name: 'second' }] } });
    const before = await liveDataset();
    const version = await (await room()).createVersion('parts');
    // The seed's chunk(s) and at least the two changes above.
    expect(version.parts).toBeGreaterThanOrEqual(3);
    await change(r, { tasks: { updated: [{ id: 11, name: 'after' }] } });
    expect(await datasetAt(String(version.n))).toEqual(before);
  });

  it('of versions stored as one state (no parts count) still read back', async () => {
    await start();
    const live = await liveDataset();
    const store = new VersionStore(s.server.storage.project(1));
    // The layout versions had before they were stored in parts: one merged state at vs:<n>.
    const parts = await store.state(await (await room()).createVersion('merged'));
    const storage = s.server.storage.project(1);
    await storage.write([
      { key: storage.keys.version(9), value: { n: 9, time: new Date(0).toISOString(), label: 'old', reason: 'manual', authors: [], changes: 0, lastRevision: null, bytes: 1 } },
      { key: storage.keys.versionState(9), value: Y.mergeUpdatesV2(parts!) },
    ]);
    const [old] = (await store.list()).filter((v) => v.n === 9);
    expect(old.parts).toBeUndefined();
    expect(await store.state(old)).toHaveLength(1);
    expect(await datasetAt('9')).toEqual(live);
  });
});

describe('retention', () => {
  it('drops old versions after each new one, tells clients, and frees their keys', async () => {
    await start({ history: { keepLast: 2, keepDaily: 0 } });
    const { client: r } = await revisionsSubscriber('alex');
    const rm = await room();
    await rm.createVersion('one');
    await rm.createVersion('two');
    await r.drain(200);
    const first = (await service().list('1'))[0];
    await rm.createVersion('three');
    const msg = await r.nextOf('project_change');
    expect(msg.data.revisions[0].changes.versions).toMatchObject({ added: [{ id: 'weft-3' }], removed: [{ id: 'weft-1' }] });
    expect((await service().list('1')).map((v) => v.n)).toEqual([2, 3]);
    const storage = s.server.storage.project(1);
    for (let part = 0; part < (first.parts ?? 1); part++) expect(await storage.getBytes(storage.keys.versionState(1, part))).toBeUndefined();
    expect(await storage.getBytes(storage.keys.versionState(2))).toBeDefined();
    const { dataset } = await revisionsSubscriber('ben');
    expect(dataset.versionsData.map((v: Rec) => v.id)).toEqual(['version-1', 'weft-2', 'weft-3']);
  });
});
