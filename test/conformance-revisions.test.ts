/**
 * Conformance cases of PROTOCOL.md §14 marked (revisions) or (both), spoken in the revisions
 * framing (`{command, data}`, `project_change` with `revisions`), plus §12.2 (what real revisions
 * clients send), a classic/revisions mix on one project, and Weft's `catch_up` command.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { TestClient, classicLogin, revisionsLogin, type Msg } from './support/client.js';
import { startServer, type TestServer } from './support/server.js';

type RevClient = TestClient & { clientId: string };
type Rec = Record<string, any>;

/** "within T" of §13. */
const T = 500;
const AUTHENTICATION_REQUIRED = 'Authentication required';
const DATASET_KEYS = ['tasksData', 'resourcesData', 'dependenciesData', 'assignmentsData', 'calendarsData', 'versionsData', 'changelogsData', 'project'];
const STORE_KEYS: Record<string, string> = {
  tasks: 'tasksData',
  resources: 'resourcesData',
  dependencies: 'dependenciesData',
  assignments: 'assignmentsData',
  calendars: 'calendarsData',
  versions: 'versionsData',
  changelogs: 'changelogsData',
};

let s: TestServer;
/** Extra servers a test starts with its own config. */
const extraServers: TestServer[] = [];

beforeEach(async () => {
  s = await startServer();
});
afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(extraServers.splice(0).map((x) => x.dispose()));
  await s.dispose();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const clone = <X>(x: X): X => structuredClone(x);

const login = (name = 'admin', server: TestServer = s): Promise<RevClient> => revisionsLogin(server.port, name);

/** Load `project` on `c` and return the `data` of the dataset reply. */
async function load(c: TestClient, project: unknown = 1): Promise<Rec> {
  c.send({ command: 'dataset', data: { project } });
  const reply = await c.nextOf('dataset');
  expect(reply.error).toBeUndefined();
  return reply.data;
}

/** Logged in and subscribed to `project`. */
async function subscriber(name = 'admin', project: unknown = 1, server: TestServer = s): Promise<RevClient> {
  const c = await login(name, server);
  await load(c, project);
  return c;
}

const localIds = new WeakMap<TestClient, number>();
function nextLocal(c: TestClient): string {
  const n = (localIds.get(c) ?? 0) + 1;
  localIds.set(c, n);
  return `local-${n}`;
}

/** One incoming revision of `c`, with the next local id. */
function rev(c: RevClient, changes: Rec, extra: Rec = {}): Rec {
  return { revision: nextLocal(c), clientId: c.clientId, changes, ...extra };
}

/** Send one `project_change` carrying these revisions. */
function sendRevisions(c: RevClient, revisions: Rec[], project: unknown = 1): void {
  c.send({ command: 'project_change', data: { project, client: c.clientId, revisions } });
}

/** Send each change set as one revision in one message; returns the revisions sent. */
function send(c: RevClient, ...changes: Rec[]): Rec[] {
  const revisions = changes.map((ch) => rev(c, ch));
  sendRevisions(c, revisions);
  return revisions;
}

/** A store entry with `$input` holding the same records (what a user-typed change looks like). */
function typed(entry: Rec): Rec {
  const input: Rec = {};
  for (const kind of ['added', 'updated', 'removed']) if (entry[kind]) input[kind] = clone(entry[kind]);
  return { ...entry, $input: input };
}

async function nextChange(c: TestClient, ms = 2000): Promise<Msg> {
  return c.nextOf('project_change', ms);
}

/** Collect revisions from `project_change` messages until `count` have arrived. */
async function collectRevisions(c: TestClient, count: number, ms = 10_000): Promise<Rec[]> {
  const out: Rec[] = [];
  const deadline = Date.now() + ms;
  while (out.length < count) {
    const m = await c.next(Math.max(1, deadline - Date.now()));
    if (m.command === 'project_change') out.push(...m.data.revisions);
  }
  return out;
}

const revNo = (id: string | null | undefined): number => (id ? Number(/^server-(\d+)$/.exec(id)![1]) : 0);

/** Tasks of a dataset, flattened, each with `_parent` = the id of the task it is nested in. */
function flatTasks(tasks: Rec[], parent: unknown = null, out: Rec[] = []): Rec[] {
  for (const t of tasks) {
    out.push({ ...t, _parent: parent });
    if (Array.isArray(t.children)) flatTasks(t.children, t.id, out);
  }
  return out;
}

function taskById(dataset: Rec, id: unknown): Rec | undefined {
  return flatTasks(dataset.tasksData).find((t) => t.id === id);
}

/** Every record id of a dataset, with repetitions, across all stores. */
function allIds(dataset: Rec): unknown[] {
  const ids: unknown[] = flatTasks(dataset.tasksData).map((t) => t.id);
  for (const key of Object.values(STORE_KEYS)) if (key !== 'tasksData') ids.push(...dataset[key].map((r: Rec) => r.id));
  return ids;
}

const childIds = (dataset: Rec, parent: unknown): unknown[] => taskById(dataset, parent)?.children?.map((c: Rec) => c.id) ?? [];

describe('framing and login', () => {
  it('case 1: invalid JSON is answered with exactly one error message and the connection stays usable', async () => {
    const c = await TestClient.connect(s.port);
    c.send('{ command: "login"');
    const err = await c.next();
    expect(Object.keys(err).sort()).toEqual(['command', 'message']);
    expect(err.command).toBe('error');
    expect(typeof err.message).toBe('string');
    await c.expectSilence(T);
    c.send({ command: 'login', data: { login: 'admin', password: 'admin' } });
    const reply = await c.next();
    expect(reply.command).toBe('login');
    expect(reply.data.userName).toBe('admin');
  });

  it('case 2: an enveloped message with an unknown command gets no reply and the connection stays open', async () => {
    const c = await login();
    c.send({ command: 'no_such_command', data: { project: 1 } });
    await c.expectSilence(T);
    expect(c.closed).toBe(false);
    c.send({ command: 'projects', data: {} });
    expect((await c.next()).command).toBe('projects');
  });

  it('case 3: admin with an empty password is refused with {command, error} only, and later commands need authentication', async () => {
    const c = await TestClient.connect(s.port);
    c.send({ command: 'login', data: { login: 'admin', password: '' } });
    const reply = await c.next();
    expect(Object.keys(reply).sort()).toEqual(['command', 'error']);
    expect(reply.command).toBe('login');
    expect(typeof reply.error).toBe('string');
    c.send({ command: 'projects', data: {} });
    expect(await c.next()).toStrictEqual({ command: 'projects', error: AUTHENTICATION_REQUIRED });
  });

  it('case 4: a login that is empty or not a string is refused with {command:"login", error}', async () => {
    const c = await TestClient.connect(s.port);
    for (const bad of ['', true]) {
      c.send({ command: 'login', data: { login: bad, password: 'x' } });
      const reply = await c.next();
      expect(Object.keys(reply).sort()).toEqual(['command', 'error']);
      expect(reply.command).toBe('login');
      expect(typeof reply.error).toBe('string');
    }
  });

  it('case 6: an anonymous login is answered exactly {command:"login", data:{client, userName}} and clients get distinct ids', async () => {
    const a = await TestClient.connect(s.port);
    const b = await TestClient.connect(s.port);
    a.send({ command: 'login', data: { login: 'foo', password: '' } });
    const ra = await a.next();
    b.send({ command: 'login', data: { login: 'foo' } });
    const rb = await b.next();
    for (const r of [ra, rb]) {
      expect(Object.keys(r).sort()).toEqual(['command', 'data']);
      expect(r.command).toBe('login');
      expect(Object.keys(r.data).sort()).toEqual(['client', 'userName']);
      expect(typeof r.data.client).toBe('string');
      expect(r.data.userName).toBe('foo');
    }
    expect(ra.data.client).not.toBe(rb.data.client);
  });

  it('case 7: after a successful login the sender receives exactly the login reply and then users with its own name', async () => {
    const c = await TestClient.connect(s.port);
    c.send({ command: 'login', data: { login: 'alex', password: 'alex' } });
    const got = await c.drain(T);
    expect(got).toHaveLength(2);
    expect(got[0].command).toBe('login');
    expect(got[0].data.userName).toBe('alex');
    expect(got[1].command).toBe('users');
    expect(got[1].data.users).toContain('alex');
  });

  it('case 9: when alex logs in, every other logged-in connection receives join then users', async () => {
    const a = await login('admin');
    const b = await login('foo');
    await a.drain(50);
    await login('alex');
    for (const c of [a, b]) {
      expect(await c.next()).toStrictEqual({ command: 'join', data: { userName: 'alex' } });
      const users = await c.next();
      expect(users.command).toBe('users');
      expect(users.data.users).toContain('alex');
    }
  });

  it('case 10: a connected but not logged-in connection receives nothing while another logs in', async () => {
    const idle = await TestClient.connect(s.port);
    await login('alex');
    await idle.expectSilence(T);
  });

  it('case 11: the users list holds exactly the names of logged-in connections', async () => {
    await TestClient.connect(s.port); // connected, never logged in
    await login('admin');
    const last = await TestClient.connect(s.port);
    last.send({ command: 'login', data: { login: 'foo' } });
    await last.next();
    const users = await last.next();
    expect(users.command).toBe('users');
    expect([...users.data.users].sort()).toEqual(['admin', 'foo']);
  });
});

describe('authentication and authorization', () => {
  it('case 12: without login, logout/projects/reset/dataset/project_change are answered exactly {command, error:"Authentication required"}', async () => {
    const c = await TestClient.connect(s.port);
    for (const command of ['logout', 'projects', 'reset', 'dataset', 'project_change']) {
      c.send({ command, data: {} });
      expect(await c.next()).toStrictEqual({ command, error: AUTHENTICATION_REQUIRED });
    }
    c.send({ command: 'project_change' });
    expect(await c.next()).toStrictEqual({ command: 'project_change', error: AUTHENTICATION_REQUIRED });
  });

  it('case 13: without login, version is answered {command:"version", data:{version}}', async () => {
    const c = await TestClient.connect(s.port);
    c.send({ command: 'version' });
    const reply = await c.next();
    expect(Object.keys(reply).sort()).toEqual(['command', 'data']);
    expect(reply.command).toBe('version');
    expect(Object.keys(reply.data)).toEqual(['version']);
    expect(typeof reply.data.version).toBe('string');
  });

  it('case 14: projects for admin lists SaaS, Website and Backend in data.projects', async () => {
    const c = await login('admin');
    c.send({ command: 'projects', data: {} });
    const reply = await c.next();
    expect(reply.command).toBe('projects');
    expect(reply.data.projects).toEqual(
      expect.arrayContaining([
        { id: 1, name: 'SaaS' },
        { id: 2, name: 'Website' },
        { id: 3, name: 'Backend' },
      ]),
    );
  });

  it('case 15: projects lists only project 1 for an anonymous user and projects 1 and 2 for alex', async () => {
    const foo = await login('foo');
    foo.send({ command: 'projects', data: {} });
    expect((await foo.nextOf('projects')).data.projects.map((p: Rec) => p.id)).toEqual([1]);
    const alex = await login('alex');
    alex.send({ command: 'projects', data: {} });
    expect((await alex.nextOf('projects')).data.projects.map((p: Rec) => p.id)).toEqual([1, 2]);
  });

  it('case 16: dataset without a project id is answered {command:"dataset", error} naming the project', async () => {
    const c = await login();
    c.send({ command: 'dataset', data: {} });
    const reply = await c.next();
    expect(reply.command).toBe('dataset');
    expect(reply.error).toMatch(/project/i);
  });

  it('case 17: anonymous foo requesting project 3 gets exactly {command:"dataset", error} and is not subscribed', async () => {
    const admin = await subscriber('admin', 3);
    const foo = await login('foo');
    await admin.drain(50);
    foo.send({ command: 'dataset', data: { project: 3 } });
    const reply = await foo.next();
    expect(Object.keys(reply).sort()).toEqual(['command', 'error']);
    expect(reply.command).toBe('dataset');
    expect(typeof reply.error).toBe('string');
    send(admin, { tasks: typed({ updated: [{ id: 11, name: 'x' }] }) });
    await nextChange(admin);
    await foo.expectSilence(T);
  });

  it('case 18: anonymous foo sending project_change for project 3 gets exactly {command, error} and nothing is broadcast', async () => {
    const admin = await subscriber('admin', 3);
    const foo = await login('foo');
    await admin.drain(50);
    sendRevisions(foo, [rev(foo, { tasks: typed({ added: [{ $PhantomId: '_generatedTaskModel_foo3', name: 'intruder', parentId: 1 }] }) })], 3);
    const reply = await foo.next();
    expect(Object.keys(reply).sort()).toEqual(['command', 'error']);
    expect(reply.command).toBe('project_change');
    expect(typeof reply.error).toBe('string');
    await admin.expectSilence(T);
  });

  it('case 19: anonymous foo sending reset for project 3 gets exactly {command:"reset", error}', async () => {
    const foo = await login('foo');
    foo.send({ command: 'reset', data: { project: 3 } });
    const reply = await foo.next();
    expect(Object.keys(reply).sort()).toEqual(['command', 'error']);
    expect(reply.command).toBe('reset');
    expect(typeof reply.error).toBe('string');
  });

  it('case 21: an unsubscribed client sending project_change gets exactly {command, data:{project:1}, error}', async () => {
    const c = await login('alex');
    send(c, { tasks: typed({ updated: [{ id: 11, name: 'x' }] }) });
    const reply = await c.next();
    expect(Object.keys(reply).sort()).toEqual(['command', 'data', 'error']);
    expect(reply.command).toBe('project_change');
    expect(reply.data).toStrictEqual({ project: 1 });
    expect(reply.error).toMatch(/project/i);
  });

  it('case 22: an unsubscribed client sending reset gets the subscription error with data.project and no dataset', async () => {
    const c = await login('alex');
    c.send({ command: 'reset', data: { project: 1 } });
    const reply = await c.next();
    expect(reply.command).toBe('reset');
    expect(reply.data).toStrictEqual({ project: 1 });
    expect(reply.error).toMatch(/project/i);
    await c.expectSilence(T);
  });
});

describe('dataset and subscription', () => {
  it('case 23: the dataset reply carries project 1 and a dataset with exactly the 8 keys in the expected shape', async () => {
    const c = await login();
    c.send({ command: 'dataset', data: { project: 1 } });
    const reply = await c.next();
    expect(Object.keys(reply).sort()).toEqual(['command', 'data']);
    expect(reply.command).toBe('dataset');
    expect(reply.data.project).toBe(1);
    // `revision` is Weft's diagnostic extension (§8.4); nothing else may be there.
    expect(Object.keys(reply.data).filter((k) => k !== 'revision').sort()).toEqual(['dataset', 'project']);
    const d = reply.data.dataset;
    expect(Object.keys(d).sort()).toEqual([...DATASET_KEYS].sort());
    for (const key of Object.values(STORE_KEYS)) {
      expect(Array.isArray(d[key])).toBe(true);
      for (const r of d[key]) expect(r).toHaveProperty('id');
    }
    expect(d.tasksData.length).toBeGreaterThan(0);
    expect(d.calendarsData.length).toBeGreaterThan(0);
    for (const cal of d.calendarsData) {
      expect(typeof cal.id).toBe('string');
      expect(Array.isArray(cal.intervals)).toBe(true);
    }
    expect(d.versionsData.length).toBeGreaterThan(0);
    for (const v of d.versionsData) {
      expect(v).toHaveProperty('id');
      expect(v).toHaveProperty('name');
    }
    expect(typeof d.project.startDate).toBe('string');
    expect(typeof d.project.calendar).toBe('string');
  });

  it('case 25: project keeps its JSON type in replies and broadcasts (1 stays a number, "1" stays a string)', async () => {
    const a = await subscriber('admin');
    const b = await subscriber('alex');
    await a.drain(50);
    send(a, { tasks: typed({ updated: [{ id: 11, name: 'typed' }] }) });
    for (const c of [a, b]) expect((await nextChange(c)).data.project).toBe(1);
    a.send({ command: 'request_version_autosave', data: { project: 1 } });
    expect(await a.next()).toStrictEqual({ command: 'versionAutoSaveOK', data: { project: 1 } });
    a.send({ command: 'load_version_content', data: { project: 1, versionId: 'version-1' } });
    expect((await a.next()).data.project).toBe(1);
    a.send({ command: 'load_version_content', data: { project: '1', versionId: 'version-1' } });
    const stringy = await a.next();
    expect(stringy.data.project).toBe('1');
    a.send({ command: 'dataset', data: { project: '1' } });
    const refused = await a.next();
    expect(refused.command).toBe('dataset');
    expect(refused.error).toBeDefined();
  });

  it('case 26: tasksData is nested: a task with sub-tasks carries them in children', async () => {
    const c = await login();
    const d = (await load(c)).dataset;
    expect(d.tasksData.map((t: Rec) => t.id)).toEqual([1000]);
    expect(childIds(d, 1000)).toEqual(expect.arrayContaining([1, 2, 3, 4]));
    expect(childIds(d, 1)).toEqual([11, 12, 13, 14, 15]);
    expect(flatTasks(d.tasksData).every((t) => t.parentId === undefined || t.parentId === t._parent)).toBe(true);
  });

  it('case 27: no versionsData entry contains content, also for versions added at run time with content', async () => {
    const c = await subscriber();
    send(c, { versions: typed({ added: [{ $PhantomId: '_generatedVersionModel_c27', name: 'Mine', savedAt: '2024-01-01', content: { tasks: [1, 2] } }] }) });
    await nextChange(c);
    const d = (await load(await login('alex'))).dataset;
    expect(d.versionsData.length).toBe(2);
    for (const v of d.versionsData) expect(v).not.toHaveProperty('content');
  });

  it('case 28: after loading project 2 a client gets no change of project 1 and its own change for 1 is refused', async () => {
    const alex = await login('alex');
    const admin = await login('admin');
    await load(alex, 1);
    await load(admin, 1);
    await load(alex, 2);
    send(admin, { tasks: typed({ updated: [{ id: 11, name: 'not for alex' }] }) });
    await nextChange(admin);
    await alex.expectSilence(T);
    send(alex, { tasks: typed({ updated: [{ id: 11, name: 'from alex' }] }) });
    const reply = await alex.next();
    expect(reply.command).toBe('project_change');
    expect(reply.data).toStrictEqual({ project: 1 });
    expect(reply.error).toMatch(/subscri/i);
    await admin.expectSilence(T);
  });
});

describe('changes: ids and phantoms', () => {
  const sixStores = (tag: string): Rec => ({
    tasks: typed({ added: [{ $PhantomId: `_generatedTaskModel_${tag}`, name: 'T', parentId: 1000 }] }),
    resources: typed({ added: [{ $PhantomId: `_generatedResourceModel_${tag}`, name: 'R' }] }),
    dependencies: typed({ added: [{ $PhantomId: `_generatedDependencyModel_${tag}`, fromTask: 11, toTask: 12 }] }),
    assignments: typed({ added: [{ $PhantomId: `_generatedAssignmentModel_${tag}`, event: 11, resource: 1 }] }),
    versions: typed({ added: [{ $PhantomId: `_generatedVersionModel_${tag}`, name: 'V', savedAt: '2024-01-01' }] }),
    changelogs: typed({ added: [{ $PhantomId: `_generatedChangeLogTransactionModel_${tag}`, description: 'D', occurredAt: '2024-01-01' }] }),
  });

  it('case 29: records added in every store come back to the sender with their $PhantomId and a server-made id', async () => {
    const c = await subscriber();
    const changes = sixStores('c29');
    send(c, changes);
    const [r] = (await nextChange(c)).data.revisions;
    for (const store of Object.keys(changes)) {
      const [added] = r.changes[store].added;
      expect(added.$PhantomId).toBe(changes[store].added[0].$PhantomId);
      expect(added.id).toBeDefined();
      expect(added.id).not.toBe(added.$PhantomId);
    }
  });

  it('case 30: server-made ids are new to the project, never _generated..., and unique across all stores', async () => {
    const c = await subscriber();
    const before = new Set(allIds((await load(c)).dataset));
    send(c, sixStores('c30a'), sixStores('c30b'));
    const { revisions } = (await nextChange(c)).data;
    const made: unknown[] = revisions.flatMap((r: Rec) => Object.values(r.changes).flatMap((e: any) => e.added.map((a: Rec) => a.id)));
    expect(made).toHaveLength(12);
    expect(new Set(made).size).toBe(12);
    for (const id of made) {
      expect(before.has(id)).toBe(false);
      expect(String(id).startsWith('_generated')).toBe(false);
    }
    const after = allIds((await load(await login('alex'))).dataset);
    for (const id of made) expect(after.filter((x) => x === id)).toHaveLength(1);
  });

  it('case 31: a dependency listed before the new task it references gets the task real id, broadcast and stored', async () => {
    const c = await subscriber();
    const P = '_generatedTaskModel_c31';
    send(c, {
      dependencies: typed({ added: [{ $PhantomId: '_generatedDependencyModel_c31', fromTask: P, toTask: 15 }] }),
      tasks: typed({ added: [{ $PhantomId: P, name: 'dep source', parentId: 1 }] }),
    });
    const { changes } = (await nextChange(c)).data.revisions[0];
    const taskId = changes.tasks.added[0].id;
    expect(changes.dependencies.added[0].fromTask).toBe(taskId);
    expect(changes.dependencies.$input.added[0].fromTask).toBe(taskId);
    const d = (await load(await login('alex'))).dataset;
    const dep = d.dependenciesData.find((x: Rec) => x.id === changes.dependencies.added[0].id);
    expect(dep.fromTask).toBe(taskId);
  });

  it('case 32: a task added under a new parent ($PhantomParentId) ends up as a child of the parent real id', async () => {
    const c = await subscriber();
    const Q = '_generatedTaskModel_c32parent';
    send(c, {
      tasks: typed({
        added: [
          { $PhantomId: '_generatedTaskModel_c32child', $PhantomParentId: Q, parentId: Q, name: 'child' },
          { $PhantomId: Q, name: 'parent', parentId: 1000 },
        ],
      }),
    });
    const { changes } = (await nextChange(c)).data.revisions[0];
    const [child, parent] = changes.tasks.added;
    expect(child.parentId).toBe(parent.id);
    expect(changes.tasks.$input.added[0].parentId).toBe(parent.id);
    const d = (await load(await login('alex'))).dataset;
    expect(childIds(d, parent.id)).toEqual([child.id]);
    expect(childIds(d, 1000)).toContain(parent.id);
  });

  it('case 33: a phantom mapped by an earlier revision is resolved in updated and $input.updated of later revisions', async () => {
    const c = await subscriber();
    const P = '_generatedTaskModel_c33';
    send(c, { tasks: typed({ added: [{ $PhantomId: P, name: 'target', parentId: 1 }] }) });
    const X = (await nextChange(c)).data.revisions[0].changes.tasks.added[0].id;
    send(c, { dependencies: typed({ updated: [{ id: 1, toTask: P }] }) });
    const { changes } = (await nextChange(c)).data.revisions[0];
    expect(changes.dependencies.updated).toEqual([{ id: 1, toTask: X }]);
    expect(changes.dependencies.$input.updated).toEqual([{ id: 1, toTask: X }]);
    const d = (await load(await login('alex'))).dataset;
    expect(d.dependenciesData.find((x: Rec) => x.id === 1).toTask).toBe(X);
  });

  it('case 34: an added task gets its id on both the added and the $input.added record, both keeping $PhantomId', async () => {
    const c = await subscriber();
    const P = '_generatedTaskModel_c34';
    send(c, { tasks: typed({ added: [{ $PhantomId: P, name: 'n', parentId: 1 }] }) });
    const { tasks } = (await nextChange(c)).data.revisions[0].changes;
    expect(tasks.added[0].$PhantomId).toBe(P);
    expect(tasks.$input.added[0].$PhantomId).toBe(P);
    expect(tasks.added[0].id).toBeDefined();
    expect(tasks.$input.added[0].id).toBe(tasks.added[0].id);
  });

  it('case 35: a re-sent phantom becomes an update of its record (in updated and $input.updated), in a later or the same message', async () => {
    const c = await subscriber();
    const P = '_generatedTaskModel_c35';
    send(c, { tasks: typed({ added: [{ $PhantomId: P, name: 'a1', parentId: 1 }] }) });
    const X = (await nextChange(c)).data.revisions[0].changes.tasks.added[0].id;
    send(c, { tasks: typed({ added: [{ $PhantomId: P, name: 'a2' }] }) });
    const { tasks } = (await nextChange(c)).data.revisions[0].changes;
    expect((tasks.added ?? []).some((r: Rec) => r.$PhantomId === P)).toBe(false);
    expect(tasks.updated).toStrictEqual([{ id: X, name: 'a2' }]);
    expect((tasks.$input.added ?? []).some((r: Rec) => r.$PhantomId === P)).toBe(false);
    expect(tasks.$input.updated).toStrictEqual([{ id: X, name: 'a2' }]);

    // Both revisions in one message.
    const Q = '_generatedTaskModel_c35same';
    send(c, { tasks: typed({ added: [{ $PhantomId: Q, name: 'b1', parentId: 1 }] }) }, { tasks: typed({ added: [{ $PhantomId: Q, name: 'b2' }] }) });
    const [first, second] = (await nextChange(c)).data.revisions;
    const Y = first.changes.tasks.added[0].id;
    expect(second.changes.tasks.updated).toStrictEqual([{ id: Y, name: 'b2' }]);
    expect(second.changes.tasks.$input.updated).toStrictEqual([{ id: Y, name: 'b2' }]);

    const all = flatTasks((await load(await login('alex'))).dataset.tasksData);
    expect(all.filter((t) => t.id === X).map((t) => t.name)).toEqual(['a2']);
    expect(all.filter((t) => t.id === Y).map((t) => t.name)).toEqual(['b2']);
  });

  it('case 36: a new record listed before a re-sent one in added is still broadcast with a fresh id and stored', async () => {
    const c = await subscriber();
    const A = '_generatedTaskModel_c36A';
    const B = '_generatedTaskModel_c36B';
    send(c, { tasks: typed({ added: [{ $PhantomId: A, name: 'A', parentId: 1 }] }) });
    const idA = (await nextChange(c)).data.revisions[0].changes.tasks.added[0].id;
    send(c, { tasks: typed({ added: [{ $PhantomId: B, name: 'B', parentId: 1 }, { $PhantomId: A, name: 'A2' }] }) });
    const { tasks } = (await nextChange(c)).data.revisions[0].changes;
    expect(tasks.added).toHaveLength(1);
    expect(tasks.added[0].$PhantomId).toBe(B);
    const idB = tasks.added[0].id;
    expect(idB).toBeDefined();
    expect(idB).not.toBe(idA);
    expect(tasks.$input.added.map((r: Rec) => r.$PhantomId)).toEqual([B]);
    expect(tasks.updated).toStrictEqual([{ id: idA, name: 'A2' }]);
    const d = (await load(await login('alex'))).dataset;
    expect(taskById(d, idB)?.name).toBe('B');
    expect(taskById(d, idA)?.name).toBe('A2');
  });

  it('case 37: updated and removed entries are delivered unchanged for every store', async () => {
    const c = await subscriber();
    const other = await subscriber('alex');
    await c.drain(50);
    send(c, {
      calendars: typed({ added: [{ $PhantomId: '_generatedCalendarModel_c37', name: 'Night', intervals: [] }] }),
      changelogs: typed({ added: [{ $PhantomId: '_generatedChangeLogTransactionModel_c37', description: 'd', occurredAt: '2024-01-01' }] }),
    });
    const added = (await nextChange(c)).data.revisions[0].changes;
    await nextChange(other);
    const calendarId = added.calendars.added[0].id;
    const changelogId = added.changelogs.added[0].id;
    const changes = {
      tasks: typed({ updated: [{ id: 12, name: 'renamed', percentDone: 5 }], removed: [{ id: 4036 }] }),
      resources: typed({ updated: [{ id: 1, city: 'Paris' }], removed: [{ id: 2 }] }),
      dependencies: typed({ updated: [{ id: 1, lag: 5 }], removed: [{ id: 2 }] }),
      assignments: typed({ updated: [{ id: 1, units: 50 }], removed: [{ id: 2 }] }),
      calendars: typed({ updated: [{ id: 'general', name: 'Standard' }], removed: [{ id: calendarId }] }),
      versions: typed({ updated: [{ id: 'version-1', name: 'First' }] }),
      changelogs: typed({ removed: [{ id: changelogId }] }),
    };
    send(c, clone(changes));
    for (const x of [c, other]) expect((await nextChange(x)).data.revisions[0].changes).toStrictEqual(changes);
    const d = (await load(await login('ben'))).dataset;
    expect(taskById(d, 12)?.name).toBe('renamed');
    expect(taskById(d, 4036)).toBeUndefined();
    expect(d.resourcesData.find((r: Rec) => r.id === 1).city).toBe('Paris');
    expect(d.resourcesData.some((r: Rec) => r.id === 2)).toBe(false);
    expect(d.dependenciesData.find((r: Rec) => r.id === 1).lag).toBe(5);
    expect(d.assignmentsData.find((r: Rec) => r.id === 1).units).toBe(50);
    expect(d.calendarsData.map((r: Rec) => [r.id, r.name])).toEqual([['general', 'Standard']]);
    expect(d.versionsData.find((r: Rec) => r.id === 'version-1').name).toBe('First');
    expect(d.changelogsData).toEqual([]);
  });

  it('case 38: project field changes are broadcast unchanged and a later dataset shows them in project', async () => {
    const c = await subscriber();
    const project = { startDate: '2019-02-04', hoursPerDay: 8, $input: { startDate: '2019-02-04' } };
    send(c, { project: clone(project) });
    expect((await nextChange(c)).data.revisions[0].changes).toStrictEqual({ project });
    const d = (await load(await login('alex'))).dataset;
    expect(d.project).toMatchObject({ startDate: '2019-02-04', hoursPerDay: 8, calendar: 'general' });
    expect(d.project).not.toHaveProperty('$input');
  });
});

describe('changes: delivery', () => {
  it('case 41: a project_change with only updated entries reaches the sender and the other subscriber, identical', async () => {
    const a = await subscriber('admin');
    const b = await subscriber('alex');
    await a.drain(50);
    send(a, { tasks: typed({ updated: [{ id: 11, percentDone: 60 }] }) });
    const ma = await a.next();
    const mb = await b.next();
    expect(ma.command).toBe('project_change');
    expect(mb).toStrictEqual(ma);
  });

  it('case 42: with three subscribers each receives the sender project_change as its next message, in the documented shape', async () => {
    const a = await login('admin');
    const b = await login('alex');
    const c = await login('ben');
    for (const x of [a, b, c]) await load(x);
    const changes = { tasks: typed({ updated: [{ id: 13, name: 'three' }] }) };
    sendRevisions(a, [{ revision: 'local-1', clientId: a.clientId, changes: clone(changes) }]);
    const first = await a.next();
    expect(first.command).toBe('project_change');
    const n = first.data.revisions[0].revision;
    expect(n).toMatch(/^server-\d+$/);
    const expected = { command: 'project_change', data: { project: 1, revisions: [{ revision: n, localRevision: 'local-1', client: a.clientId, changes }] } };
    expect(first).toStrictEqual(expected);
    expect(await b.next()).toStrictEqual(expected);
    expect(await c.next()).toStrictEqual(expected);
  });

  it('case 43: a logged-in connection that has not loaded the project, or loaded another, receives no change', async () => {
    const a = await login('admin');
    const none = await login('ben');
    const other = await login('alex');
    await load(a);
    await load(other, 2);
    await none.drain(50);
    send(a, { tasks: typed({ updated: [{ id: 11, name: 'x' }], added: [{ $PhantomId: '_generatedTaskModel_c43', name: 'y', parentId: 1 }] }) });
    await nextChange(a);
    await Promise.all([none.expectSilence(T), other.expectSilence(T)]);
  });

  it('case 44: revisions of project 1 are numbered server-1, server-2, ... in array order, continuing across messages', async () => {
    const c = await subscriber();
    send(c, { tasks: typed({ updated: [{ id: 11, name: 'r1' }] }) });
    expect((await nextChange(c)).data.revisions.map((r: Rec) => r.revision)).toEqual(['server-1']);
    send(c, { tasks: typed({ updated: [{ id: 11, name: 'r2' }] }) }, { tasks: typed({ updated: [{ id: 11, name: 'r3' }] }) });
    const two = (await nextChange(c)).data.revisions;
    expect(two.map((r: Rec) => r.revision)).toEqual(['server-2', 'server-3']);
    expect(two.map((r: Rec) => r.changes.tasks.updated[0].name)).toEqual(['r2', 'r3']);
    send(c, { tasks: typed({ updated: [{ id: 11, name: 'r4' }] }) });
    expect((await nextChange(c)).data.revisions.map((r: Rec) => r.revision)).toEqual(['server-4']);
  });

  it('case 45: conflictResolutionFor is copied to the outgoing revision, and absent when the incoming one has none', async () => {
    const c = await subscriber();
    sendRevisions(c, [
      rev(c, { tasks: typed({ updated: [{ id: 11, name: 'c1' }] }) }, { conflictResolutionFor: 'server-3' }),
      rev(c, { tasks: typed({ updated: [{ id: 11, name: 'c2' }] }) }),
    ]);
    const [withIt, without] = (await nextChange(c)).data.revisions;
    expect(withIt.conflictResolutionFor).toBe('server-3');
    expect(without).not.toHaveProperty('conflictResolutionFor');
  });

  it('case 46: the outgoing client is the sender connection id even when the revision claims another clientId', async () => {
    const a = await subscriber('admin');
    const b = await subscriber('alex');
    await a.drain(50);
    a.send({ command: 'project_change', data: { project: 1, client: b.clientId, revisions: [{ revision: 'local-1', clientId: b.clientId, changes: { tasks: typed({ updated: [{ id: 11, name: 'spoof' }] }) } }] } });
    for (const x of [a, b]) expect((await nextChange(x)).data.revisions[0].client).toBe(a.clientId);
  });

  it('case 47: two clients sending 50 revisions each concurrently: all subscribers see one gap-free increasing sequence', async () => {
    const a = await login('admin');
    const b = await login('alex');
    const watcher = await login('ben');
    await load(a);
    await load(b);
    const start = revNo((await load(watcher)).revision);
    const N = 50;
    const collecting = [a, b, watcher].map((x) => collectRevisions(x, 2 * N));
    for (let i = 0; i < N; i++) {
      // No awaiting between sends: both clients' frames race into the project's queue.
      send(a, { tasks: typed({ updated: [{ id: 11, name: `a-${i}` }] }) });
      send(b, { tasks: typed({ updated: [{ id: 12, name: `b-${i}` }] }) });
    }
    const seen = await Promise.all(collecting);
    const ids = seen[0].map((r) => r.revision);
    expect(ids).toEqual(Array.from({ length: 2 * N }, (_, i) => `server-${start + i + 1}`));
    for (const list of seen) {
      expect(list.map((r) => r.revision)).toEqual(ids);
      expect(list.map((r) => [r.client, r.localRevision])).toEqual(seen[0].map((r) => [r.client, r.localRevision]));
    }
    // Each client's revisions keep the order it sent them in.
    for (const x of [a, b]) {
      const own = seen[0].filter((r) => r.client === x.clientId).map((r) => r.localRevision);
      expect(own).toEqual(Array.from({ length: N }, (_, i) => `local-${i + 1}`));
    }
    await Promise.all([a, b, watcher].map((x) => x.expectSilence(100)));
    const d = (await load(watcher)).dataset;
    expect(taskById(d, 11)?.name).toBe(`a-${N - 1}`);
    expect(taskById(d, 12)?.name).toBe(`b-${N - 1}`);
  });

  it('case 48: a client loading the dataset while another sends revisions gets each revision exactly once (in the dataset or after it)', async () => {
    const sender = await login('admin');
    const loaders = [await login('alex'), await login('ben')];
    await load(sender);
    const N = 300;
    const echoes = collectRevisions(sender, N, 20_000);
    const loadAt = [80, 180];
    const replies: Promise<Rec>[] = [];
    for (let i = 0; i < N; i++) {
      const P = `_generatedTaskModel_c48_${i}`;
      send(sender, { tasks: typed({ added: [{ $PhantomId: P, name: `load-${i}`, parentId: 2 }] }) });
      const k = loadAt.indexOf(i);
      if (k !== -1) {
        const loader = loaders[k];
        loader.send({ command: 'dataset', data: { project: 1 } });
        replies.push(loader.nextOf('dataset', 10_000).then((m) => m.data));
      }
      if (i % 5 === 4) await sleep(1);
    }
    const all = await echoes;
    const nameOf = new Map<number, string>(all.map((r) => [revNo(r.revision), r.changes.tasks.added[0].name]));
    const first = revNo(all[0].revision);
    const last = revNo(all[all.length - 1].revision);
    expect(last - first).toBe(N - 1);
    const loaded = await Promise.all(replies);
    for (let k = 0; k < loaders.length; k++) {
      const dataset = loaded[k];
      const at = revNo(dataset.revision);
      // The dataset was taken while revisions were still coming in.
      expect(at).toBeGreaterThanOrEqual(first);
      expect(at).toBeLessThan(last);
      const inDataset = new Set(flatTasks(dataset.dataset.tasksData).map((t) => t.name).filter((n) => String(n).startsWith('load-')));
      const after = await collectRevisions(loaders[k], last - at, 10_000);
      expect(after.map((r) => revNo(r.revision))).toEqual(Array.from({ length: last - at }, (_, i) => at + i + 1));
      for (let n = first; n <= last; n++) expect(inDataset.has(nameOf.get(n)!), `server-${n} in dataset at server-${at}`).toBe(n <= at);
      expect(inDataset.size).toBe(at - first + 1);
      await loaders[k].expectSilence(100);
    }
  }, 30_000);
});

describe('persistence', () => {
  it('case 49: add, move, update and remove of tasks show in a later dataset', async () => {
    const c = await subscriber();
    const P = '_generatedTaskModel_c49';
    send(c, {
      tasks: typed({
        added: [{ $PhantomId: P, name: 'T', parentId: 1, orderedParentIndex: 1 }],
        updated: [{ id: 21, parentId: 3 }, { id: 22, percentDone: 0 }],
        removed: [{ id: 23 }],
      }),
    });
    const T1 = (await nextChange(c)).data.revisions[0].changes.tasks.added[0].id;
    const d = (await load(await login('alex'))).dataset;
    expect(childIds(d, 1)).toContain(T1);
    expect(childIds(d, 3)).toContain(21);
    expect(childIds(d, 2)).not.toContain(21);
    expect(taskById(d, 22)?.percentDone).toBe(0);
    expect(taskById(d, 23)).toBeUndefined();
    expect(flatTasks(d.tasksData).filter((t) => t.id === 21)).toHaveLength(1);
  });

  it('case 50: a version and a changelog entry added via a change appear in later datasets with their server ids', async () => {
    const c = await subscriber();
    send(c, {
      versions: typed({ added: [{ $PhantomId: '_generatedVersionModel_c50', name: 'Release', savedAt: '2024-03-01T10:00:00' }] }),
      changelogs: typed({ added: [{ $PhantomId: '_generatedChangeLogTransactionModel_c50', description: 'Edited', occurredAt: '2024-03-01T09:00:00' }] }),
    });
    const { changes } = (await nextChange(c)).data.revisions[0];
    const d = (await load(await login('alex'))).dataset;
    expect(d.versionsData).toContainEqual(expect.objectContaining({ id: changes.versions.added[0].id, name: 'Release', savedAt: '2024-03-01T10:00:00' }));
    expect(d.changelogsData).toContainEqual(expect.objectContaining({ id: changes.changelogs.added[0].id, description: 'Edited', occurredAt: '2024-03-01T09:00:00' }));
  });
});

describe('versions', () => {
  const content = { tasks: [{ id: 1, name: 'snap' }], nested: { a: [1, 2, { b: null }] } };

  it('case 51: a version added with content is broadcast without it and load-content returns it deep-equal', async () => {
    const a = await subscriber('admin');
    const b = await subscriber('alex');
    await a.drain(50);
    send(a, { versions: typed({ added: [{ $PhantomId: '_generatedVersionModel_c51', name: 'With content', savedAt: '2024-01-01', content: clone(content) }] }) });
    let id: unknown;
    for (const x of [a, b]) {
      const { versions } = (await nextChange(x)).data.revisions[0].changes;
      expect(versions.added[0]).not.toHaveProperty('content');
      expect(versions.$input.added[0]).not.toHaveProperty('content');
      id = versions.added[0].id;
    }
    b.send({ command: 'load_version_content', data: { project: 1, versionId: id } });
    expect((await b.next()).data.content).toStrictEqual(content);
  });

  it('case 52: load_version_content and loadVersionContent are answered enveloped under the request command name', async () => {
    const c = await subscriber();
    send(c, { versions: typed({ added: [{ $PhantomId: '_generatedVersionModel_c52', name: 'V', savedAt: '2024-01-01', content: clone(content) }] }) });
    const id = (await nextChange(c)).data.revisions[0].changes.versions.added[0].id;
    for (const command of ['load_version_content', 'loadVersionContent']) {
      c.send({ command, data: { project: 1, versionId: id } });
      expect(await c.next()).toStrictEqual({ command, data: { project: 1, versionId: id, content } });
    }
  });

  it('case 53: load-content for an unknown version answers the same shape without content', async () => {
    const c = await subscriber();
    c.send({ command: 'load_version_content', data: { project: 1, versionId: 'versions-nope' } });
    expect(await c.next()).toStrictEqual({ command: 'load_version_content', data: { project: 1, versionId: 'versions-nope' } });
  });

  it('case 54: load-content and the autosave request without a subscription get the subscription error', async () => {
    const c = await login('alex');
    for (const [command, extra] of [
      ['load_version_content', { versionId: 'version-1' }],
      ['request_version_autosave', {}],
    ] as const) {
      c.send({ command, data: { project: 1, ...extra } });
      const reply = await c.next();
      expect(Object.keys(reply).sort()).toEqual(['command', 'data', 'error']);
      expect(reply.command).toBe(command);
      expect(reply.data).toStrictEqual({ project: 1 });
      expect(reply.error).toBe('Subscription to project is required. Load project first');
    }
  });

  it('case 55: of three simultaneous autosave requests exactly one is granted, the others get nothing within 1 s', async () => {
    const clients = [await login('admin'), await login('alex'), await login('ben')];
    for (const x of clients) await load(x);
    for (const x of clients) x.send({ command: 'request_version_autosave', data: { project: 1 } });
    const got = await Promise.all(clients.map((x) => x.drain(1000)));
    const oks = got.flat();
    expect(oks).toStrictEqual([{ command: 'versionAutoSaveOK', data: { project: 1 } }]);
  });

  it('case 56: with autoSaveIntervalMins 2 a request a minute and a bit after the grant is granted again; projects are independent', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2024-06-01T10:00:00Z'));
    const srv = await startServer({ autoSaveIntervalMins: 2 });
    extraServers.push(srv);
    const a = await login('admin', srv);
    const b = await login('alex', srv);
    await load(a, 1);
    await load(b, 2);
    const ask = (x: TestClient, project: number) => x.send({ command: 'request_version_autosave', data: { project } });
    ask(a, 1);
    expect(await a.next()).toStrictEqual({ command: 'versionAutoSaveOK', data: { project: 1 } });
    ask(b, 2);
    expect(await b.next()).toStrictEqual({ command: 'versionAutoSaveOK', data: { project: 2 } });
    vi.setSystemTime(new Date('2024-06-01T10:00:59Z'));
    ask(a, 1);
    await a.expectSilence(T);
    vi.setSystemTime(new Date('2024-06-01T10:01:01Z'));
    ask(a, 1);
    expect(await a.next()).toStrictEqual({ command: 'versionAutoSaveOK', data: { project: 1 } });
  });

  it('case 57: requestVersionAutoSave (camel case, enveloped) is handled like request_version_autosave', async () => {
    const c = await subscriber();
    c.send({ command: 'requestVersionAutoSave', data: { project: 1 } });
    expect(await c.next()).toStrictEqual({ command: 'versionAutoSaveOK', data: { project: 1 } });
    c.send({ command: 'request_version_autosave', data: { project: 1 } });
    await c.expectSilence(T);
  });
});

describe('reset and logout', () => {
  it('case 58: reset by a subscriber sends every subscriber exactly dataset then reset; non-subscribers get neither', async () => {
    const a = await login('admin');
    const b = await login('alex');
    const outsider = await login('ben');
    await load(a);
    await load(b);
    a.send({ command: 'reset', data: { project: 1 } });
    for (const x of [a, b]) {
      const ds = await x.next();
      expect(ds.command).toBe('dataset');
      expect(Object.keys(ds).sort()).toEqual(['command', 'data']);
      expect(Object.keys(ds.data).sort()).toEqual(['dataset', 'project']);
      expect(ds.data.project).toBe(1);
      expect(Object.keys(ds.data.dataset).sort()).toEqual([...DATASET_KEYS].sort());
      expect(await x.next()).toStrictEqual({ command: 'reset', data: { userName: 'admin', project: 1 } });
    }
    await Promise.all([a.expectSilence(T), b.expectSilence(T), outsider.expectSilence(T)]);
  });

  it('case 59: records added before a reset are gone from the dataset after it', async () => {
    const c = await subscriber();
    send(c, { tasks: typed({ added: [{ $PhantomId: '_generatedTaskModel_c59', name: 'doomed', parentId: 1 }], updated: [{ id: 11, name: 'changed' }] }) });
    const id = (await nextChange(c)).data.revisions[0].changes.tasks.added[0].id;
    c.send({ command: 'reset', data: { project: 1 } });
    const fromReset = (await c.nextOf('dataset')).data.dataset;
    await c.nextOf('reset');
    const d = (await load(await login('alex'))).dataset;
    for (const x of [fromReset, d]) {
      expect(taskById(x, id)).toBeUndefined();
      expect(taskById(x, 11)?.name).toBe('Install Apache');
    }
  });

  it('case 60: a server-initiated reset sends each subscriber its dataset then reset by Server; others get nothing', async () => {
    const srv = await startServer({ inactivityResetSeconds: 2 });
    extraServers.push(srv);
    const unauthenticated = await TestClient.connect(srv.port);
    const subs: [RevClient, number][] = [
      [await login('admin', srv), 3],
      [await login('alex', srv), 2],
      [await login('ben', srv), 1],
    ];
    const loggedIn = await login('foo', srv);
    for (const [c, p] of subs) await load(c, p);
    for (const [c, p] of subs) {
      const ds = await c.next(5000);
      expect(ds.command).toBe('dataset');
      expect(Object.keys(ds.data).sort()).toEqual(['dataset', 'project']);
      expect(ds.data.project).toBe(p);
      expect(await c.next()).toStrictEqual({ command: 'reset', data: { userName: 'Server' } });
    }
    await Promise.all([...subs.map(([c]) => c.expectSilence(T)), loggedIn.expectSilence(T), unauthenticated.expectSilence(T)]);
  }, 15_000);

  it('case 61: logout answers the sender exactly {command:"logout", data:{}} and closes it; others get logout then users', async () => {
    const other = await login('admin');
    const bar = await login('bar');
    await other.drain(50);
    bar.send({ command: 'logout', data: {} });
    const got = await bar.drain(T);
    expect(got).toStrictEqual([{ command: 'logout', data: {} }]);
    expect(bar.closed).toBe(true);
    expect(await other.next()).toStrictEqual({ command: 'logout', data: { userName: 'bar' } });
    const users = await other.next();
    expect(users.command).toBe('users');
    expect(users.data.users).not.toContain('bar');
    await other.expectSilence(T);
  });

  it('case 62: closing the socket of logged-in bar sends every other logged-in client logout then users', async () => {
    const a = await login('admin');
    const b = await login('alex');
    const bar = await login('bar');
    await Promise.all([a.drain(50), b.drain(50)]);
    await bar.close();
    for (const x of [a, b]) {
      expect(await x.next()).toStrictEqual({ command: 'logout', data: { userName: 'bar' } });
      const users = await x.next();
      expect(users.command).toBe('users');
      expect(users.data.users).not.toContain('bar');
      await x.expectSilence(T);
    }
  });

  it('case 63: closing a socket that never logged in sends nothing to anyone', async () => {
    const a = await subscriber('admin');
    const idle = await TestClient.connect(s.port);
    idle.send({ command: 'version' });
    await idle.next();
    await idle.close();
    await a.expectSilence(T);
  });
});

describe('what real revisions clients send (§12.2)', () => {
  it('correction revisions without $input and with the client project id are persisted and relayed; project.id is never stored', async () => {
    const a = await subscriber('admin');
    const b = await subscriber('alex');
    await a.drain(50);
    const changes = {
      tasks: { updated: [{ id: 11, startDate: '2019-01-15', endDate: '2019-01-18' }] },
      project: { id: '_generatedProjectModel_xyz', startDate: '2019-01-15' },
    };
    send(a, clone(changes));
    for (const x of [a, b]) {
      const r = (await nextChange(x)).data.revisions[0];
      expect(r.client).toBe(a.clientId);
      expect(r.changes.tasks.updated).toStrictEqual(changes.tasks.updated);
      expect(r.changes.project.startDate).toBe('2019-01-15');
    }
    const d = (await load(await login('ben'))).dataset;
    expect(taskById(d, 11)).toMatchObject({ startDate: '2019-01-15', endDate: '2019-01-18' });
    expect(d.project.startDate).toBe('2019-01-15');
    expect(d.project).not.toHaveProperty('id');
    expect(allIds(d)).not.toContain('_generatedProjectModel_xyz');
  });

  it('a correction revision does not move a task to another parent; everyone is told where it is', async () => {
    const a = await subscriber('admin');
    const b = await subscriber('alex');
    await a.drain(50);
    const parentBefore = flatTasks((await load(await login('ben'))).dataset.tasksData).find((t) => t.id === 21)!._parent;
    expect(parentBefore).not.toBe(3);
    // A client whose rebase left it with a stale parent restates that parent in a correction.
    send(a, { tasks: { updated: [{ id: 21, parentId: 3, startDate: '2019-01-15' }] }, project: { id: '_generatedProjectModel_xyz' } });
    for (const x of [a, b]) {
      const [own, fix] = await collectRevisions(x, 2);
      expect(own.client).toBe(a.clientId);
      expect(own.changes.tasks.updated).toEqual([{ id: 21, startDate: '2019-01-15' }]);
      expect(fix.client).toBe('weft-server');
      expect(fix.changes.tasks.$input.updated).toEqual([expect.objectContaining({ id: 21, parentId: parentBefore })]);
    }
    const d = (await load(await login('ben'))).dataset;
    expect(childIds(d, parentBefore)).toContain(21);
    expect(childIds(d, 3)).not.toContain(21);
    expect(taskById(d, 21)?.startDate).toBe('2019-01-15');
  });

  it('a correction revision switches no dependency off and renames nothing; the sender is told the stored values', async () => {
    const a = await subscriber('admin');
    const b = await subscriber('alex');
    await a.drain(50);
    const before = (await load(await login('ben'))).dataset;
    const dependency = before.dependenciesData[0];
    const name = taskById(before, 11)!.name;
    send(a, {
      tasks: { updated: [{ id: 11, name: 'stale', endDate: '2019-01-30' }] },
      dependencies: { updated: [{ id: dependency.id, active: false }] },
      project: { id: '_generatedProjectModel_xyz' },
    });
    for (const x of [a, b]) {
      const [own, fix] = await collectRevisions(x, 2);
      expect(own.changes.tasks.updated).toEqual([{ id: 11, endDate: '2019-01-30' }]);
      expect(own.changes.dependencies.updated).toEqual([{ id: dependency.id }]);
      expect(fix.client).toBe('weft-server');
      expect(fix.changes.tasks.$input.updated).toEqual([{ id: 11, name }]);
      // The seed's dependencies hold no `active`: Bryntum's default is restated.
      expect(dependency).not.toHaveProperty('active');
      expect(fix.changes.dependencies.$input.updated).toEqual([{ id: dependency.id, active: true }]);
    }
    const after = (await load(await login('ben'))).dataset;
    expect(taskById(after, 11)).toMatchObject({ name, endDate: '2019-01-30' });
    expect(after.dependenciesData.find((d: Rec) => d.id === dependency.id)).not.toHaveProperty('active');
  });

  it('a revision with $input moves the task, also when the project id is the client\'s own', async () => {
    const a = await subscriber('admin');
    await a.drain(50);
    send(a, { tasks: typed({ updated: [{ id: 21, parentId: 3 }] }), project: { id: '_generatedProjectModel_xyz' } });
    await nextChange(a);
    expect(childIds((await load(await login('ben'))).dataset, 3)).toContain(21);
  });

  it('a record removed by its phantom id has removed and $input.removed rewritten to the real id', async () => {
    const a = await subscriber('admin');
    const b = await subscriber('alex');
    await a.drain(50);
    const P = '_generatedTaskModel_gone';
    send(a, { tasks: typed({ added: [{ $PhantomId: P, name: 'short-lived', parentId: 1 }] }) });
    const X = (await nextChange(a)).data.revisions[0].changes.tasks.added[0].id;
    await nextChange(b);
    send(a, { tasks: typed({ removed: [{ id: P }] }) });
    for (const x of [a, b]) {
      const { tasks } = (await nextChange(x)).data.revisions[0].changes;
      expect(tasks.removed).toStrictEqual([{ id: X }]);
      expect(tasks.$input.removed).toStrictEqual([{ id: X }]);
    }
    expect(taskById((await load(await login('ben'))).dataset, X)).toBeUndefined();
  });

  it('a phantom re-sent with no $input.added counterpart, or with one that does not contain it, becomes an update', async () => {
    const c = await subscriber();
    const P = '_generatedTaskModel_resent';
    send(c, { tasks: typed({ added: [{ $PhantomId: P, name: 'first', parentId: 1 }] }) });
    const X = (await nextChange(c)).data.revisions[0].changes.tasks.added[0].id;

    send(c, { tasks: { added: [{ $PhantomId: P, name: 'second' }], $input: {} } });
    const r1 = await c.next();
    expect(r1.command).toBe('project_change');
    const t1 = r1.data.revisions[0].changes.tasks;
    expect(t1.updated).toStrictEqual([{ id: X, name: 'second' }]);
    expect((t1.added ?? []).length).toBe(0);

    const Q = '_generatedTaskModel_fresh';
    send(c, { tasks: { added: [{ $PhantomId: P, name: 'third' }, { $PhantomId: Q, name: 'fresh', parentId: 1 }], $input: { added: [{ $PhantomId: Q, name: 'fresh', parentId: 1 }] } } });
    const r2 = await c.next();
    expect(r2.command).toBe('project_change');
    const t2 = r2.data.revisions[0].changes.tasks;
    expect(t2.updated).toStrictEqual([{ id: X, name: 'third' }]);
    expect(t2.added).toHaveLength(1);
    expect(t2.added[0].$PhantomId).toBe(Q);
    expect(t2.$input.added).toStrictEqual([{ $PhantomId: Q, name: 'fresh', parentId: 1, id: t2.added[0].id }]);

    send(c, { tasks: { added: [{ $PhantomId: P, name: 'fourth' }] } });
    const t3 = (await c.next()).data.revisions[0].changes.tasks;
    expect(t3.updated).toStrictEqual([{ id: X, name: 'fourth' }]);

    const all = flatTasks((await load(await login('alex'))).dataset.tasksData);
    expect(all.filter((t) => t.id === X).map((t) => t.name)).toEqual(['fourth']);
    expect(all.filter((t) => t.name === 'fresh')).toHaveLength(1);
  });

  it('localRevision is echoed unchanged, whatever its type and whichever field carried it', async () => {
    const c = await subscriber();
    const changes = () => ({ tasks: typed({ updated: [{ id: 11, percentDone: 1 }] }) });
    sendRevisions(c, [
      { revision: 'local-17', clientId: c.clientId, changes: changes() },
      { revision: 42, clientId: c.clientId, changes: changes() },
      { localRevisionId: 'local-lr', clientId: c.clientId, changes: changes() },
      { revisionId: 'local-rid', clientId: c.clientId, changes: changes() },
    ]);
    expect((await nextChange(c)).data.revisions.map((r: Rec) => r.localRevision)).toStrictEqual(['local-17', 42, 'local-lr', 'local-rid']);
  });

  it('a refused revision leaves the earlier revisions of its batch broadcast, consumes no number, and the sender gets an error and a fresh dataset', async () => {
    const a = await subscriber('admin');
    const b = await subscriber('alex');
    await a.drain(50);
    // A value nested far deeper than any project holds: valid JSON the server cannot process.
    const depth = 20_000;
    const deep = '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
    const ok = JSON.stringify(rev(a, { tasks: typed({ updated: [{ id: 11, name: 'kept' }] }) }));
    const bad = `{"revision":"local-bad","clientId":${JSON.stringify(a.clientId)},"changes":{"tasks":{"updated":[{"id":12,"deep":${deep}}],"$input":{"updated":[{"id":12,"deep":${deep}}]}}}}`;
    const after = JSON.stringify(rev(a, { tasks: typed({ updated: [{ id: 13, name: 'never' }] }) }));
    a.send(`{"command":"project_change","data":{"project":1,"revisions":[${ok},${bad},${after}]}}`);

    const broadcast = await a.next();
    expect(broadcast.command).toBe('project_change');
    expect(broadcast.data.revisions).toHaveLength(1);
    expect(broadcast.data.revisions[0].changes.tasks.updated).toStrictEqual([{ id: 11, name: 'kept' }]);
    const n = revNo(broadcast.data.revisions[0].revision);
    expect(await b.next()).toStrictEqual(broadcast);
    const error = await a.next();
    expect(error.command).toBe('error');
    expect(typeof error.message).toBe('string');
    const fresh = await a.next();
    expect(fresh.command).toBe('dataset');
    expect(taskById(fresh.data.dataset, 11)?.name).toBe('kept');
    expect(taskById(fresh.data.dataset, 13)?.name).not.toBe('never');
    await b.expectSilence(T);

    send(a, { tasks: typed({ updated: [{ id: 14, name: 'next' }] }) });
    for (const x of [a, b]) expect((await nextChange(x)).data.revisions[0].revision).toBe(`server-${n + 1}`);
  });
});

describe('classic and revisions clients on one project', () => {
  it('each receives the other changes in its own framing; the revisions client gets classic changes with $input', async () => {
    const classic = await classicLogin(s.port, 'alex');
    const r = await login('admin');
    classic.send({ command: 'dataset', project: 1 });
    expect((await classic.nextOf('dataset')).project).toBe(1);
    await load(r);
    await classic.drain(50);

    send(r, { tasks: typed({ updated: [{ id: 11, name: 'from revisions' }] }) });
    expect((await nextChange(r)).data.revisions[0].client).toBe(r.clientId);
    expect(await classic.next()).toStrictEqual({ command: 'projectChange', project: 1, changes: { tasks: { updated: [{ id: 11, name: 'from revisions' }] } } });

    classic.send({ command: 'projectChange', project: 1, changes: { tasks: { updated: [{ id: 12, percentDone: 10 }] } } });
    const got = await r.next();
    expect(got.command).toBe('project_change');
    expect(got.data.project).toBe(1);
    const [rv] = got.data.revisions;
    expect(rv.revision).toMatch(/^server-\d+$/);
    expect(rv.client).not.toBe(r.clientId);
    expect(rv.changes.tasks.updated).toStrictEqual([{ id: 12, percentDone: 10 }]);
    expect(rv.changes.tasks.$input).toStrictEqual({ updated: [{ id: 12, percentDone: 10 }] });
    await classic.expectSilence(T);

    const P = '_generatedTaskModel_classic';
    classic.send({ command: 'projectChange', project: 1, changes: { tasks: { added: [{ $PhantomId: P, name: 'classic task', parentId: 1 }] } } });
    const echo = await classic.next();
    expect(echo.command).toBe('projectChange');
    const id = echo.changes.tasks.added[0].id;
    expect(echo.changes.tasks).not.toHaveProperty('$input');
    const added = (await r.next()).data.revisions[0].changes.tasks;
    expect(added.added[0]).toMatchObject({ id, $PhantomId: P, name: 'classic task' });
    expect(added.$input.added[0]).toMatchObject({ id, name: 'classic task' });
  });
});

describe('catch-up (Weft extension)', () => {
  const catchUp = (c: TestClient, since: string, project: unknown = 1) => c.send({ command: 'catch_up', data: { project, since } });

  it('a client back from a disconnect gets every revision after the one it saw, and is subscribed afterwards', async () => {
    const a = await subscriber('admin');
    const b = await subscriber('alex');
    await a.drain(50);
    send(a, { tasks: typed({ updated: [{ id: 11, name: 'seen' }] }) });
    await nextChange(a);
    const seen = (await nextChange(b)).data.revisions[0].revision;
    await b.close();
    await a.nextOf('users');
    const missed: Rec[] = [];
    for (let i = 0; i < 3; i++) {
      send(a, { tasks: typed({ updated: [{ id: 11, name: `missed-${i}` }] }) });
      missed.push(...(await nextChange(a)).data.revisions);
    }
    const back = await login('alex');
    catchUp(back, seen);
    const reply = await back.next();
    expect(reply).toStrictEqual({ command: 'catch_up', data: { project: 1, revision: missed[2].revision, revisions: missed } });

    send(a, { tasks: typed({ updated: [{ id: 11, name: 'live' }] }) });
    const live = (await nextChange(a)).data.revisions[0];
    expect((await nextChange(back)).data.revisions).toStrictEqual([live]);

    const current = await login('ben');
    catchUp(current, live.revision);
    expect(await current.next()).toStrictEqual({ command: 'catch_up', data: { project: 1, revision: live.revision, revisions: [] } });
  });

  it('a since from before a reset is answered with reload: true', async () => {
    const a = await subscriber('admin');
    send(a, { tasks: typed({ added: [{ $PhantomId: '_generatedTaskModel_cu', name: 'pre-reset', parentId: 1 }] }) });
    const seen = (await nextChange(a)).data.revisions[0].revision;
    a.send({ command: 'reset', data: { project: 1 } });
    await a.nextOf('reset');
    const b = await login('alex');
    catchUp(b, 'server-0');
    const old = await b.next();
    expect(old.command).toBe('catch_up');
    expect(old.data.reload).toBe(true);
    expect(old.data.revisions).toBeUndefined();
    // Even the last revision before the reset is not enough: the reset is not in the log.
    catchUp(b, seen);
    const last = await b.next();
    expect(last.command).toBe('catch_up');
    expect(last.data.reload).toBe(true);
    // A client that loaded the project after the reset can catch up from its dataset's revision.
    const after = (await load(b)).revision;
    expect(after).not.toBe(seen);
    const c = await login('ben');
    catchUp(c, after);
    expect(await c.next()).toStrictEqual({ command: 'catch_up', data: { project: 1, revision: after, revisions: [] } });
    send(a, { tasks: typed({ updated: [{ id: 11, name: 'post-reset' }] }) });
    const next = (await nextChange(a)).data.revisions[0];
    expect(revNo(next.revision)).toBeGreaterThan(revNo(after));
    expect((await nextChange(c)).data.revisions).toStrictEqual([next]);
  });

  it('after a restart revision numbering continues, catch-up reaches back, and the phantom map survives', async () => {
    const a = await subscriber('admin');
    const P = '_generatedTaskModel_restart';
    send(a, { tasks: typed({ added: [{ $PhantomId: P, name: 'before restart', parentId: 1 }] }) });
    const first = (await nextChange(a)).data.revisions[0];
    const X = first.changes.tasks.added[0].id;
    send(a, { tasks: typed({ updated: [{ id: 11, name: 'second' }] }) });
    const second = (await nextChange(a)).data.revisions[0];

    s = await s.restart();
    const b = await login('alex');
    catchUp(b, first.revision);
    expect(await b.next()).toStrictEqual({ command: 'catch_up', data: { project: 1, revision: second.revision, revisions: [second] } });

    const a2 = await login('admin');
    const ds = await load(a2);
    expect(ds.revision).toBe(second.revision);
    send(a2, { tasks: typed({ added: [{ $PhantomId: P, name: 'after restart' }] }) });
    const third = (await nextChange(a2)).data.revisions[0];
    expect(third.revision).toBe(`server-${revNo(second.revision) + 1}`);
    expect((third.changes.tasks.added ?? []).length).toBe(0);
    expect(third.changes.tasks.updated).toStrictEqual([{ id: X, name: 'after restart' }]);
    expect((await nextChange(b)).data.revisions).toStrictEqual([third]);
    const all = flatTasks((await load(await login('ben'))).dataset.tasksData);
    expect(all.filter((t) => t.id === X).map((t) => t.name)).toEqual(['after restart']);
  });
});
