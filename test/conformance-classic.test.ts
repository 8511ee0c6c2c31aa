/**
 * Conformance cases of PROTOCOL.md §14 marked (classic) or (both), exercised with classic framing
 * (flat messages, `projectChange`), plus bad-input handling.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { join } from 'node:path';
import { SEED_DIR } from '../src/config/defaults.js';
import { TestClient, classicLogin, type Msg } from './support/client.js';
import { startServer, type TestServer } from './support/server.js';

/** "within T" of PROTOCOL.md §13. */
const T = 500;
const SUBSCRIPTION_ERROR = 'Subscription to project is required. Load project first';
const STORE_KEYS = ['assignmentsData', 'calendarsData', 'changelogsData', 'dependenciesData', 'resourcesData', 'tasksData', 'versionsData'];

type Rec = Record<string, any>;

/**
 * One server and the clients of a test. Logging in through `login` consumes the login
 * announcement and users list every already logged-in client gets, so inboxes start clean.
 */
class Harness {
  readonly clients: TestClient[] = [];
  private loggedIn: TestClient[] = [];
  constructor(readonly server: TestServer) {}

  get port(): number {
    return this.server.port;
  }

  async connect(): Promise<TestClient> {
    const c = await TestClient.connect(this.port);
    this.clients.push(c);
    return c;
  }

  async login(name = 'admin'): Promise<TestClient> {
    const c = await classicLogin(this.port, name);
    this.clients.push(c);
    this.loggedIn = this.loggedIn.filter((o) => !o.closed);
    for (const other of this.loggedIn) {
      await other.nextOf('login');
      await other.nextOf('users');
    }
    this.loggedIn.push(c);
    return c;
  }

  /** The closed client is no longer logged in; the others hear of it (logout + users). */
  async forget(c: TestClient): Promise<void> {
    await waitClosed(c);
    this.loggedIn = this.loggedIn.filter((o) => o !== c && !o.closed);
    for (const other of this.loggedIn) {
      await other.nextOf('logout');
      await other.nextOf('users');
    }
  }

  async subscribe(c: TestClient, project: unknown = 1): Promise<Msg> {
    c.send({ command: 'dataset', project });
    const reply = await c.next();
    expect(reply.command, JSON.stringify(reply).slice(0, 300)).toBe('dataset');
    expect(reply.error).toBeUndefined();
    return reply;
  }

  /** The dataset reply a newly logged-in client gets. */
  async freshDataset(project: unknown = 1, user = 'admin'): Promise<Msg> {
    const c = await this.login(user);
    return this.subscribe(c, project);
  }

  async dispose(): Promise<void> {
    await Promise.all(this.clients.map((c) => c.close()));
    await this.server.dispose();
  }
}

async function waitClosed(c: TestClient, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!c.closed) {
    if (Date.now() > deadline) throw new Error('socket not closed');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Every task of a nested tasksData, with the id of the parent it is listed under (null at the top). */
function flattenTasks(rows: Rec[], parent: unknown = null, out = new Map<unknown, { rec: Rec; parent: unknown }>()) {
  for (const rec of rows) {
    out.set(rec.id, { rec, parent });
    if (Array.isArray(rec.children)) flattenTasks(rec.children, rec.id, out);
  }
  return out;
}

/** Every task occurrence of a nested tasksData (duplicates kept). */
function taskOccurrences(rows: Rec[], out: unknown[] = []): unknown[] {
  for (const rec of rows) {
    out.push(rec.id);
    if (Array.isArray(rec.children)) taskOccurrences(rec.children, out);
  }
  return out;
}

/** Every record id of a classic dataset (all stores; duplicates kept). */
function allIds(dataset: Rec): unknown[] {
  const ids = taskOccurrences(dataset.tasksData);
  for (const key of STORE_KEYS) if (key !== 'tasksData') for (const rec of dataset[key] as Rec[]) ids.push(rec.id);
  return ids;
}

function childIds(dataset: Rec, parent: unknown): unknown[] {
  const node = flattenTasks(dataset.tasksData).get(parent);
  return (node?.rec.children ?? []).map((c: Rec) => c.id);
}

let h: Harness;
beforeEach(async () => {
  h = new Harness(await startServer());
});
afterEach(async () => {
  await h.dispose();
});


/** The §11 command error shape: exactly `command` (the one sent) and a string `error`. */
function expectCommandError(reply: Msg, command: string): void {
  expect(Object.keys(reply).sort()).toEqual(['command', 'error']);
  expect(reply.command).toBe(command);
  expect(typeof reply.error).toBe('string');
}

describe('framing and login', () => {
  it('case 1: invalid JSON yields exactly one error message and the connection stays usable', async () => {
    const c = await h.connect();
    c.send('{ command: "login"');
    const reply = await c.next();
    expect(Object.keys(reply).sort()).toEqual(['command', 'message']);
    expect(reply.command).toBe('error');
    expect(typeof reply.message).toBe('string');
    expect(reply.message).not.toMatch(/\n\s+at /); // no stack trace (§1.4)
    await c.expectSilence(T);
    expect(c.closed).toBe(false);
    c.send({ command: 'login', login: 'foo' });
    expect(await c.next()).toEqual({ command: 'login' });
  });

  it('case 2: an unknown command gets no reply and the connection stays open', async () => {
    const c = await h.login('admin');
    c.send({ command: 'noSuchCommand', project: 1 });
    await c.expectSilence(T);
    expect(c.closed).toBe(false);
    c.send({ command: 'projects' });
    expect((await c.next()).command).toBe('projects');
  });

  it('case 3: admin with an empty password is refused and later commands still need authentication', async () => {
    const c = await h.connect();
    c.send({ command: 'login', login: 'admin', password: '' });
    const reply = await c.next();
    expectCommandError(reply, 'login');
    c.send({ command: 'projects' });
    expect(await c.next()).toEqual({ command: 'projects', error: 'Authentication required' });
  });

  it('case 4: a login that is empty or not a string is refused', async () => {
    const c = await h.connect();
    for (const login of ['', true]) {
      c.send({ command: 'login', login });
      const reply = await c.next();
      expectCommandError(reply, 'login');
    }
    c.send({ command: 'projects' });
    expect(await c.next()).toEqual({ command: 'projects', error: 'Authentication required' });
  });

  it('case 5: an anonymous login is answered exactly {command:"login"}', async () => {
    const c = await h.connect();
    c.send({ command: 'login', login: 'foo' });
    expect(await c.next()).toEqual({ command: 'login' });
  });

  it('case 7: after a successful login the sender gets exactly the login reply and a users list with its name', async () => {
    await h.login('admin');
    const c = await h.connect();
    c.send({ command: 'login', login: 'alex', password: 'alex' });
    const got = await c.drain(T);
    expect(got).toHaveLength(2);
    expect(got[0]).toEqual({ command: 'login' });
    expect(got[1].command).toBe('users');
    expect(got[1].users).toContain('alex');
  });

  it('case 8: other logged-in connections get the login announcement, then the users list', async () => {
    const admin = await h.login('admin');
    const foo = await h.login('foo');
    const alex = await h.connect();
    alex.send({ command: 'login', login: 'alex', password: 'alex' });
    for (const other of [admin, foo]) {
      expect(await other.next()).toEqual({ command: 'login', userName: 'alex' });
      const users = await other.next();
      expect(users.command).toBe('users');
      expect(users.users).toContain('alex');
      await other.expectSilence(T);
    }
  });

  it('case 10: a connection that is not logged in hears nothing while another logs in', async () => {
    const idle = await h.connect();
    await h.login('admin');
    await h.login('alex');
    await idle.expectSilence(T);
  });

  it('case 11: the users list holds exactly the names of logged-in connections', async () => {
    await h.connect(); // connected, never logged in
    const admin = await h.login('admin');
    const alex = await h.connect();
    alex.send({ command: 'login', login: 'alex', password: 'alex' });
    await alex.next();
    const own = await alex.next();
    expect(own.command).toBe('users');
    expect([...own.users].sort()).toEqual(['admin', 'alex']);
    await admin.nextOf('login');
    const seen = await admin.next();
    expect([...seen.users].sort()).toEqual(['admin', 'alex']);
  });
});

describe('authentication and authorization', () => {
  it('case 12: without login every command needing it is answered "Authentication required"', async () => {
    const c = await h.connect();
    for (const command of ['logout', 'projects', 'reset', 'dataset', 'projectChange']) {
      c.send({ command });
      expect(await c.next()).toEqual({ command, error: 'Authentication required' });
    }
    await c.expectSilence(T);
  });

  it('case 14: admin sees all three projects', async () => {
    const c = await h.login('admin');
    c.send({ command: 'projects' });
    const reply = await c.next();
    expect(reply.command).toBe('projects');
    expect(reply.projects).toEqual(
      expect.arrayContaining([
        { id: 1, name: 'SaaS' },
        { id: 2, name: 'Website' },
        { id: 3, name: 'Backend' },
      ]),
    );
  });

  it('case 15: an anonymous user sees only project 1, alex sees projects 1 and 2', async () => {
    const foo = await h.login('foo');
    foo.send({ command: 'projects' });
    expect(await foo.next()).toEqual({ command: 'projects', projects: [{ id: 1, name: 'SaaS' }] });
    const alex = await h.login('alex');
    alex.send({ command: 'projects' });
    const reply = await alex.next();
    expect(reply.projects.map((p: Rec) => p.id)).toEqual([1, 2]);
  });

  it('case 16: dataset without a project id is answered with an error naming the project', async () => {
    const c = await h.login('admin');
    c.send({ command: 'dataset' });
    const reply = await c.next();
    expectCommandError(reply, 'dataset');
    expect(reply.error).toMatch(/project/i);
  });

  it('case 17: an anonymous user cannot load project 3 and is not subscribed to it', async () => {
    const foo = await h.login('foo');
    foo.send({ command: 'dataset', project: 3 });
    const reply = await foo.next();
    expectCommandError(reply, 'dataset');
    // A change to project 3 does not reach foo.
    const admin = await h.login('admin');
    await h.subscribe(admin, 3);
    admin.send({ command: 'projectChange', project: 3, changes: { tasks: { added: [{ $PhantomId: '_generatedT_17', name: 'x' }] } } });
    expect((await admin.next()).command).toBe('projectChange');
    await foo.expectSilence(T);
  });

  it('case 18: an anonymous change to project 3 is refused and nothing is broadcast', async () => {
    const admin = await h.login('admin');
    const before = await h.subscribe(admin, 3);
    const foo = await h.login('foo');
    foo.send({ command: 'projectChange', project: 3, changes: { tasks: { added: [{ $PhantomId: '_generatedT_18', name: 'intruder' }] } } });
    const reply = await foo.next();
    expectCommandError(reply, 'projectChange');
    await admin.expectSilence(T);
    const after = await h.freshDataset(3);
    expect(after.dataset).toEqual(before.dataset);
  });

  it('case 19: an anonymous reset of project 3 is refused', async () => {
    const admin = await h.login('admin');
    await h.subscribe(admin, 3);
    const foo = await h.login('foo');
    foo.send({ command: 'reset', project: 3 });
    const reply = await foo.next();
    expectCommandError(reply, 'reset');
    await admin.expectSilence(T);
  });

  it('case 20: an unsubscribed change to project 1 gets the subscription error with the project echoed', async () => {
    const c = await h.login('admin');
    c.send({ command: 'projectChange', project: 1, changes: { tasks: { updated: [{ id: 11, name: 'x' }] } } });
    const reply = await c.next();
    expect(Object.keys(reply).sort()).toEqual(['command', 'error', 'project']);
    expect(reply.command).toBe('projectChange');
    expect(reply.project).toBe(1);
    expect(reply.error).toMatch(/project/i);
  });

  it('case 22: an unsubscribed reset of project 1 gets the subscription error and no dataset', async () => {
    const c = await h.login('admin');
    c.send({ command: 'reset', project: 1 });
    expect(await c.next()).toEqual({ command: 'reset', project: 1, error: SUBSCRIPTION_ERROR });
    await c.expectSilence(T);
  });
});

describe('dataset and subscription', () => {
  it('case 24: the dataset reply has a top-level projectMeta and the seven store keys plus project, as a reset broadcast has', async () => {
    const c = await h.login('admin');
    c.send({ command: 'dataset', project: 1 });
    const reply = await c.next();
    expect(Object.keys(reply).sort()).toEqual(['command', 'dataset', 'project', 'projectMeta']);
    expect(reply.command).toBe('dataset');
    expect(reply.project).toBe(1);
    expect(typeof reply.projectMeta).toBe('object');
    expect(reply.projectMeta).toMatchObject({ startDate: expect.any(String), calendar: 'general' });
    expect(Object.keys(reply.dataset).sort()).toEqual([...STORE_KEYS, 'project'].sort());
    for (const key of STORE_KEYS) expect(Array.isArray(reply.dataset[key])).toBe(true);
    // Real clients read project fields only from dataset.project (PROTOCOL.md §3.2).
    expect(reply.dataset.project).toEqual(reply.projectMeta);

    c.send({ command: 'reset', project: 1 });
    const pushed = await c.nextOf('dataset');
    expect(Object.keys(pushed.dataset).sort()).toEqual(Object.keys(reply.dataset).sort());
    expect(pushed.dataset.project).toEqual(reply.dataset.project);
  });

  it('case 25: the project id keeps its JSON type in every reply and broadcast (number 1)', async () => {
    const a = await h.login('admin');
    const b = await h.login('alex');
    expect((await h.subscribe(a, 1)).project).toBe(1);
    await h.subscribe(b, 1);
    a.send({ command: 'projectChange', project: 1, changes: { tasks: { added: [{ $PhantomId: '_generatedT_25', name: 'n' }] } } });
    const echo = await a.next();
    expect(echo.project).toBe(1);
    expect((await b.next()).project).toBe(1);
    a.send({ command: 'requestVersionAutoSave', project: 1 });
    expect(await a.next()).toEqual({ command: 'versionAutoSaveOK', project: 1 });
    a.send({ command: 'loadVersionContent', project: 1, versionId: 'version-1' });
    expect((await a.next()).project).toBe(1);
    a.send({ command: 'reset', project: 1 });
    for (const c of [a, b]) {
      expect((await c.next()).project).toBe(1);
      expect((await c.next()).project).toBe(1);
    }
  });

  it('case 25: the project id keeps its JSON type in every reply and broadcast (string "7")', async () => {
    const server = await startServer({
      projects: [{ id: '7', name: 'Seven', seed: join(SEED_DIR, 'saas.json'), ids: 'number' }],
      groups: { admin: ['7'], user: ['7'] },
      anonymous: { enabled: true, projects: [] },
    });
    const s = new Harness(server);
    try {
      const a = await s.login('admin');
      const b = await s.login('alex');
      a.send({ command: 'projects' });
      expect((await a.next()).projects).toEqual([{ id: '7', name: 'Seven' }]);
      expect((await s.subscribe(a, '7')).project).toBe('7');
      await s.subscribe(b, '7');
      a.send({ command: 'projectChange', project: '7', changes: { tasks: { added: [{ $PhantomId: '_generatedT_25s', name: 'n' }] } } });
      expect((await a.next()).project).toBe('7');
      expect((await b.next()).project).toBe('7');
      a.send({ command: 'requestVersionAutoSave', project: '7' });
      expect(await a.next()).toEqual({ command: 'versionAutoSaveOK', project: '7' });
      a.send({ command: 'loadVersionContent', project: '7', versionId: 'version-1' });
      expect((await a.next()).project).toBe('7');
      a.send({ command: 'reset', project: '7' });
      for (const c of [a, b]) {
        expect((await c.next()).project).toBe('7');
        expect((await c.next()).project).toBe('7');
      }
      // 7 (a number) is not project "7".
      b.send({ command: 'dataset', project: 7 });
      expect(await b.nextOf('dataset')).toEqual({ command: 'dataset', error: 'Authorization required' });
    } finally {
      await s.dispose();
    }
  });

  it('case 26: tasksData is nested: a task with sub-tasks lists them in children', async () => {
    const c = await h.login('admin');
    const { dataset } = await h.subscribe(c, 1);
    expect(dataset.tasksData.map((t: Rec) => t.id)).toEqual([1000]);
    expect(childIds(dataset, 1000)).toEqual([1, 2, 3, 4]);
    expect(childIds(dataset, 1)).toEqual([11, 12, 13, 14, 15]);
    expect(childIds(dataset, 33)).toEqual([331, 332, 333, 334]);
  });

  it('case 27: no versionsData entry carries content, also for versions added at run time with content', async () => {
    const c = await h.login('admin');
    const first = await h.subscribe(c, 1);
    expect(first.dataset.versionsData.length).toBeGreaterThan(0);
    for (const v of first.dataset.versionsData) expect(v).not.toHaveProperty('content');
    c.send({ command: 'projectChange', project: 1, changes: { versions: { added: [{ $PhantomId: '_generatedV_27', name: 'Mine', savedAt: '2024-01-01', content: { big: [1, 2, 3] } }] } } });
    const id = (await c.next()).changes.versions.added[0].id;
    const later = await h.freshDataset(1);
    expect(later.dataset.versionsData.map((v: Rec) => v.id)).toContain(id);
    for (const v of later.dataset.versionsData) expect(v).not.toHaveProperty('content');
  });

  it('case 28: after loading project 2 a client gets no project 1 changes and may not change project 1', async () => {
    const x = await h.login('alex');
    await h.subscribe(x, 1);
    await h.subscribe(x, 2);
    const y = await h.login('admin');
    await h.subscribe(y, 1);
    y.send({ command: 'projectChange', project: 1, changes: { tasks: { added: [{ $PhantomId: '_generatedT_28', name: 'n' }], updated: [{ id: 11, name: 'u' }] } } });
    expect((await y.next()).command).toBe('projectChange');
    await x.expectSilence(T);
    x.send({ command: 'projectChange', project: 1, changes: { tasks: { updated: [{ id: 12, name: 'v' }] } } });
    expect(await x.next()).toEqual({ command: 'projectChange', project: 1, error: SUBSCRIPTION_ERROR });
    await y.expectSilence(T);
  });
});

describe('changes: ids and phantoms', () => {
  const everyStore = (tag: string) => ({
    tasks: { added: [{ $PhantomId: `_generatedTaskModel_${tag}`, name: 'New task', parentId: 1000, parentIndex: 0 }] },
    resources: { added: [{ $PhantomId: `_generatedResourceModel_${tag}`, name: 'New resource' }] },
    dependencies: { added: [{ $PhantomId: `_generatedDependencyModel_${tag}`, fromTask: 11, toTask: 13 }] },
    assignments: { added: [{ $PhantomId: `_generatedAssignmentModel_${tag}`, event: 12, resource: 2 }] },
    versions: { added: [{ $PhantomId: `_generatedVersionModel_${tag}`, name: 'v', savedAt: '2024-05-01' }] },
    changelogs: { added: [{ $PhantomId: `_generatedChangeLogTransactionModel_${tag}`, description: 'd', occurredAt: '2024-05-01' }] },
  });

  it('case 29: records added in every store come back to the sender with their phantom id and a server id', async () => {
    const c = await h.login('admin');
    await h.subscribe(c, 1);
    const changes = everyStore('29');
    c.send({ command: 'projectChange', project: 1, changes });
    const echo = await c.next();
    expect(echo.command).toBe('projectChange');
    for (const [store, entry] of Object.entries(changes)) {
      const back = echo.changes[store]?.added;
      expect(back, store).toHaveLength(1);
      expect(back[0].$PhantomId).toBe(entry.added[0].$PhantomId);
      expect(['number', 'string']).toContain(typeof back[0].id);
    }
  });

  it('case 30: server-made ids are new to the project, not phantom-like, and unique across stores', async () => {
    const c = await h.login('admin');
    const before = await h.subscribe(c, 1);
    const existing = new Set(allIds(before.dataset));
    c.send({ command: 'projectChange', project: 1, changes: everyStore('30a') });
    const first = await c.next();
    c.send({ command: 'projectChange', project: 1, changes: everyStore('30b') });
    const second = await c.next();
    const made: unknown[] = [];
    for (const echo of [first, second]) for (const entry of Object.values(echo.changes) as Rec[]) for (const rec of entry.added) made.push(rec.id);
    expect(made).toHaveLength(12);
    expect(new Set(made).size).toBe(12);
    for (const id of made) {
      expect(existing.has(id)).toBe(false);
      if (typeof id === 'string') expect(id.startsWith('_generated')).toBe(false);
    }
    const after = (await h.freshDataset(1)).dataset;
    const ids = allIds(after);
    for (const id of made) expect(ids.filter((x) => x === id), String(id)).toHaveLength(1);
  });

  for (const order of ['dependencies before tasks', 'tasks before dependencies'] as const) {
    it(`case 31: a dependency on a task added in the same change gets the task's real id (${order})`, async () => {
      const a = await h.login('admin');
      const b = await h.login('alex');
      await h.subscribe(a, 1);
      await h.subscribe(b, 1);
      const P = '_generatedTaskModel_31';
      const deps = { added: [{ $PhantomId: '_generatedDependencyModel_31', fromTask: P, toTask: 15 }] };
      const tasks = { added: [{ $PhantomId: P, name: 'T31', parentId: 1, parentIndex: 5 }] };
      const changes = order === 'dependencies before tasks' ? { dependencies: deps, tasks } : { tasks, dependencies: deps };
      a.send({ command: 'projectChange', project: 1, changes });
      const echo = await a.next();
      expect(await b.next()).toEqual(echo);
      const taskId = echo.changes.tasks.added[0].id;
      expect(taskId).not.toBe(P);
      const dep = echo.changes.dependencies.added[0];
      expect(dep.fromTask).toBe(taskId);
      const { dataset } = await h.freshDataset(1);
      const stored = dataset.dependenciesData.find((d: Rec) => d.id === dep.id);
      expect(stored).toMatchObject({ fromTask: taskId, toTask: 15 });
    });
  }

  it('case 32: a task added under a parent added in the same change ends up under the parent real id', async () => {
    const a = await h.login('admin');
    const b = await h.login('alex');
    await h.subscribe(a, 1);
    await h.subscribe(b, 1);
    const Q = '_generatedTaskModel_parent32';
    a.send({
      command: 'projectChange',
      project: 1,
      changes: {
        tasks: {
          added: [
            { $PhantomId: '_generatedTaskModel_child32', $PhantomParentId: Q, parentId: Q, parentIndex: 0, name: 'child' },
            { $PhantomId: Q, parentId: 1000, parentIndex: 4, name: 'parent' },
          ],
        },
      },
    });
    const echo = await a.next();
    expect(await b.next()).toEqual(echo);
    const [child, parent] = echo.changes.tasks.added;
    expect(parent.$PhantomId).toBe(Q);
    expect(child.parentId).toBe(parent.id);
    const { dataset } = await h.freshDataset(1);
    expect(childIds(dataset, parent.id)).toEqual([child.id]);
    expect(childIds(dataset, 1000)).toContain(parent.id);
  });

  it('case 37: updated and removed entries of every store reach the other subscriber unchanged', async () => {
    const a = await h.login('admin');
    const b = await h.login('alex');
    await h.subscribe(a, 1);
    await h.subscribe(b, 1);
    a.send({ command: 'projectChange', project: 1, changes: { changelogs: { added: [{ $PhantomId: '_generatedC_37', description: 'x', occurredAt: '2024-01-01' }, { $PhantomId: '_generatedC_37b', description: 'y', occurredAt: '2024-01-02' }] } } });
    const [log1, log2] = (await a.next()).changes.changelogs.added.map((r: Rec) => r.id);
    await b.next();
    const changes = {
      tasks: { updated: [{ id: 11, name: 'Install nginx', percentDone: 10 }], removed: [{ id: 4036 }] },
      resources: { updated: [{ id: 1, city: 'Madrid' }], removed: [{ id: 2 }] },
      dependencies: { updated: [{ id: 1, lag: 3 }], removed: [{ id: 2 }] },
      assignments: { updated: [{ id: 1, units: 50 }], removed: [{ id: 2 }] },
      calendars: { updated: [{ id: 'general', name: 'General 2' }] },
      versions: { updated: [{ id: 'version-1', name: 'Version one' }] },
      changelogs: { updated: [{ id: log1, description: 'x2' }], removed: [{ id: log2 }] },
    };
    a.send({ command: 'projectChange', project: 1, changes });
    expect(await b.next()).toEqual({ command: 'projectChange', project: 1, changes });
  });

  it('case 38: project field changes are broadcast unchanged and served in later datasets', async () => {
    const a = await h.login('admin');
    const b = await h.login('alex');
    await h.subscribe(a, 1);
    await h.subscribe(b, 1);
    const changes = { project: { startDate: '2019-02-04', hoursPerDay: 8 } };
    a.send({ command: 'projectChange', project: 1, changes });
    expect(await b.next()).toEqual({ command: 'projectChange', project: 1, changes });
    const later = await h.freshDataset(1);
    expect(later.projectMeta).toMatchObject({ startDate: '2019-02-04', hoursPerDay: 8, calendar: 'general' });
  });
});

describe('phantom ids are the client\'s: per store, per user', () => {
  /** The records of every store of a classic dataset, tasks flattened. */
  const records = (dataset: Rec, key: string): Rec[] => (key === 'tasksData' ? [...flattenTasks(dataset.tasksData).values()].map((t) => t.rec) : dataset[key]);

  it('a phantom id used before in another store makes a new record there, told in that store only', async () => {
    const c = await h.login('admin');
    const watcher = await h.login('alex');
    await h.subscribe(c, 1);
    await h.subscribe(watcher, 1);
    c.send({ command: 'projectChange', project: 1, changes: { tasks: { added: [{ $PhantomId: 'newrec1', name: 'A task' }] } } });
    const task = (await c.nextOf('projectChange')).changes.tasks.added[0];
    await watcher.nextOf('projectChange');
    c.send({ command: 'projectChange', project: 1, changes: { resources: { added: [{ $PhantomId: 'newrec1', name: 'A resource' }] } } });
    const echo = await c.nextOf('projectChange');
    expect(echo.changes).toEqual({ resources: { added: [{ $PhantomId: 'newrec1', name: 'A resource', id: expect.anything() }] } });
    const resource = echo.changes.resources.added[0];
    expect(resource.id).not.toEqual(task.id);
    expect(await watcher.nextOf('projectChange')).toEqual(echo);
    await c.expectSilence(T);
    await watcher.expectSilence(T);
    const { dataset } = await h.freshDataset(1);
    expect(records(dataset, 'tasksData').filter((t) => t.id === task.id).map((t) => t.name)).toEqual(['A task']);
    expect(records(dataset, 'resourcesData').filter((r) => r.id === resource.id).map((r) => r.name)).toEqual(['A resource']);
  });

  it('one phantom id for records of several stores in one change: each reference resolves in the store its field names', async () => {
    const c = await h.login('admin');
    await h.subscribe(c, 1);
    c.send({
      command: 'projectChange',
      project: 1,
      changes: {
        tasks: { added: [{ $PhantomId: 'p1', name: 'T' }] },
        resources: { added: [{ $PhantomId: 'p1', name: 'R' }] },
        assignments: { added: [{ $PhantomId: 'p2', event: 'p1', resource: 'p1' }] },
        dependencies: { added: [{ $PhantomId: 'p2', fromTask: 11, toTask: 'p1' }] },
      },
    });
    const { changes } = await c.nextOf('projectChange');
    const [task, resource, assignment, dependency] = ['tasks', 'resources', 'assignments', 'dependencies'].map((s) => changes[s].added[0]);
    expect(new Set([task.id, resource.id, assignment.id, dependency.id]).size).toBe(4);
    expect(assignment).toMatchObject({ event: task.id, resource: resource.id });
    expect(dependency).toMatchObject({ fromTask: 11, toTask: task.id });
  });

  it('another user\'s phantom id is another record, even in the same store', async () => {
    const a = await h.login('admin');
    const b = await h.login('alex');
    await h.subscribe(a, 1);
    await h.subscribe(b, 1);
    // Older clients count phantom ids per page: two users' first new task are both _generatedModel1.
    a.send({ command: 'projectChange', project: 1, changes: { tasks: { added: [{ $PhantomId: '_generatedModel1', name: 'from admin' }] } } });
    const first = (await a.nextOf('projectChange')).changes.tasks.added[0];
    await b.nextOf('projectChange');
    b.send({ command: 'projectChange', project: 1, changes: { tasks: { added: [{ $PhantomId: '_generatedModel1', name: 'from alex' }] } } });
    const second = (await b.nextOf('projectChange')).changes.tasks.added[0];
    expect(second.id).not.toEqual(first.id);
    const names = records((await h.freshDataset(1)).dataset, 'tasksData').filter((t) => t.id === first.id || t.id === second.id).map((t) => t.name);
    expect(names.sort()).toEqual(['from admin', 'from alex']);
  });

  it('the same user sending a page-counted phantom id again over a new connection makes a new record; a UUID one names the record it made', async () => {
    const first = await h.login('admin');
    await h.subscribe(first, 1);
    const uuid = '_generatedTaskModel_8f0f5c2e-3b4d-4e4f-9a7b-2c1d0e9f8a7b';
    first.send({ command: 'projectChange', project: 1, changes: { tasks: { added: [{ $PhantomId: '_generatedModel1', name: 'page 1' }, { $PhantomId: uuid, name: 'sent' }] } } });
    const [counted, unique] = (await first.nextOf('projectChange')).changes.tasks.added;
    await first.close();
    await h.forget(first);

    // The page was reloaded (its counter starts again), and the reply to the other task was lost.
    const again = await h.login('admin');
    await h.subscribe(again, 1);
    again.send({ command: 'projectChange', project: 1, changes: { tasks: { added: [{ $PhantomId: '_generatedModel1', name: 'page 2' }, { $PhantomId: uuid, name: 'sent again' }] } } });
    const [fresh, retried] = (await again.nextOf('projectChange')).changes.tasks.added;
    expect(fresh.id).not.toEqual(counted.id);
    expect(retried.id).toEqual(unique.id);
    const tasks = records((await h.freshDataset(1)).dataset, 'tasksData');
    expect(tasks.filter((t) => [counted.id, fresh.id, unique.id].includes(t.id)).map((t) => t.name).sort()).toEqual(['page 1', 'page 2', 'sent again']);
  });
});

describe('changes: delivery', () => {
  it('case 39: an update-only projectChange reaches the other subscriber and not the sender', async () => {
    const a = await h.login('admin');
    const b = await h.login('alex');
    await h.subscribe(a, 1);
    await h.subscribe(b, 1);
    const changes = { tasks: { updated: [{ id: 12, percentDone: 55 }] } };
    a.send({ command: 'projectChange', project: 1, changes });
    expect(await b.next()).toEqual({ command: 'projectChange', project: 1, changes });
    await a.expectSilence(T);
  });

  it('case 40: a projectChange with an added record reaches the sender and all other subscribers identically', async () => {
    const a = await h.login('admin');
    const b = await h.login('alex');
    const c = await h.login('foo');
    for (const x of [a, b, c]) await h.subscribe(x, 1);
    a.send({ command: 'projectChange', project: 1, changes: { resources: { added: [{ $PhantomId: '_generatedR_40', name: 'Zoe' }] } } });
    const [ma, mb, mc] = await Promise.all([a.next(), b.next(), c.next()]);
    expect(ma.command).toBe('projectChange');
    expect(ma.changes.resources.added[0]).toMatchObject({ $PhantomId: '_generatedR_40', name: 'Zoe' });
    expect(mb).toEqual(ma);
    expect(mc).toEqual(ma);
  });

  it('case 43: logged-in connections not subscribed to the project get no change message', async () => {
    const a = await h.login('admin');
    await h.subscribe(a, 1);
    const none = await h.login('alex');
    const other = await h.login('ben');
    await h.subscribe(other, 2);
    a.send({ command: 'projectChange', project: 1, changes: { tasks: { added: [{ $PhantomId: '_generatedT_43', name: 'n' }], updated: [{ id: 11, name: 'u' }] } } });
    expect((await a.next()).command).toBe('projectChange');
    await Promise.all([none.expectSilence(T), other.expectSilence(T)]);
  });
});

describe('persistence', () => {
  it('case 49: added, moved, updated and removed tasks show as such in a new client dataset', async () => {
    const a = await h.login('admin');
    await h.subscribe(a, 1);
    a.send({
      command: 'projectChange',
      project: 1,
      changes: {
        tasks: {
          added: [{ $PhantomId: '_generatedTaskModel_49', name: 'T49', parentId: 2, parentIndex: 1 }],
          updated: [
            { id: 11, parentId: 3, parentIndex: 0 },
            { id: 21, percentDone: 0 },
          ],
          removed: [{ id: 4036 }],
        },
      },
    });
    const echo = await a.next();
    const T49 = echo.changes.tasks.added[0].id;
    const { dataset } = await h.freshDataset(1);
    const tasks = flattenTasks(dataset.tasksData);
    expect(childIds(dataset, 2)).toContain(T49);
    expect(tasks.get(T49)?.rec.name).toBe('T49');
    expect(childIds(dataset, 3)).toContain(11);
    expect(childIds(dataset, 1)).not.toContain(11);
    expect(taskOccurrences(dataset.tasksData).filter((id) => id === 11)).toHaveLength(1);
    expect(tasks.get(21)?.rec.percentDone).toBe(0);
    expect(taskOccurrences(dataset.tasksData)).not.toContain(4036);
  });

  it('case 50: versions and changelog entries added by a change are served in later datasets', async () => {
    const a = await h.login('admin');
    await h.subscribe(a, 1);
    a.send({
      command: 'projectChange',
      project: 1,
      changes: {
        versions: { added: [{ $PhantomId: '_generatedVersionModel_50', name: 'Release', savedAt: '2024-06-01T10:00:00' }] },
        changelogs: { added: [{ $PhantomId: '_generatedChangeLogTransactionModel_50', description: 'Edited a task', occurredAt: '2024-06-01T09:59:00' }] },
      },
    });
    const echo = await a.next();
    const versionId = echo.changes.versions.added[0].id;
    const logId = echo.changes.changelogs.added[0].id;
    const { dataset } = await h.freshDataset(1);
    expect(dataset.versionsData).toContainEqual(expect.objectContaining({ id: versionId, name: 'Release', savedAt: '2024-06-01T10:00:00' }));
    expect(dataset.changelogsData).toContainEqual(expect.objectContaining({ id: logId, description: 'Edited a task', occurredAt: '2024-06-01T09:59:00' }));
  });
});

describe('versions', () => {
  it('case 51: version content is never broadcast and is returned by loadVersionContent', async () => {
    const a = await h.login('admin');
    const b = await h.login('alex');
    await h.subscribe(a, 1);
    await h.subscribe(b, 1);
    const C = { project: { startDate: '2019-01-14' }, tasks: [{ id: 1, name: 'x', children: [] }], note: 'snapshot' };
    a.send({ command: 'projectChange', project: 1, changes: { versions: { added: [{ $PhantomId: '_generatedVersionModel_51', name: 'With content', savedAt: '2024-01-01', content: C }] } } });
    const [ma, mb] = await Promise.all([a.next(), b.next()]);
    for (const m of [ma, mb]) {
      expect(m.changes.versions.added[0]).not.toHaveProperty('content');
      expect(m.changes.versions.added[0].name).toBe('With content');
    }
    const versionId = ma.changes.versions.added[0].id;
    a.send({ command: 'loadVersionContent', project: 1, versionId });
    expect(await a.next()).toEqual({ command: 'loadVersionContent', project: 1, versionId, content: C });
  });

  it('case 53: loadVersionContent for an unknown version answers without content', async () => {
    const a = await h.login('admin');
    await h.subscribe(a, 1);
    a.send({ command: 'loadVersionContent', project: 1, versionId: 'no-such-version' });
    expect(await a.next()).toEqual({ command: 'loadVersionContent', project: 1, versionId: 'no-such-version' });
  });

  it('case 54: loadVersionContent and requestVersionAutoSave without subscription get the subscription error', async () => {
    const a = await h.login('admin');
    a.send({ command: 'loadVersionContent', project: 1, versionId: 'version-1' });
    expect(await a.next()).toEqual({ command: 'loadVersionContent', project: 1, error: SUBSCRIPTION_ERROR });
    a.send({ command: 'requestVersionAutoSave', project: 1 });
    expect(await a.next()).toEqual({ command: 'requestVersionAutoSave', project: 1, error: SUBSCRIPTION_ERROR });
  });

  it('case 55: of three simultaneous autosave requests exactly one is granted', async () => {
    const clients = [await h.login('admin'), await h.login('alex'), await h.login('ben')];
    for (const c of clients) await h.subscribe(c, 1);
    for (const c of clients) c.send({ command: 'requestVersionAutoSave', project: 1 });
    const got = await Promise.all(clients.map((c) => c.drain(1000)));
    const granted = got.filter((list) => list.length > 0);
    expect(granted).toHaveLength(1);
    expect(granted[0]).toEqual([{ command: 'versionAutoSaveOK', project: 1 }]);
  }, 10_000);

  it('case 56: with a 2-minute autosave interval a request a minute and a bit later is granted again, per project', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const s = new Harness(await startServer({ autoSaveIntervalMins: 2 }));
    try {
      const t0 = Date.now();
      const a = await s.login('admin');
      await s.subscribe(a, 1);
      const b = await s.login('alex');
      await s.subscribe(b, 2);
      a.send({ command: 'requestVersionAutoSave', project: 1 });
      expect(await a.next()).toEqual({ command: 'versionAutoSaveOK', project: 1 });
      b.send({ command: 'requestVersionAutoSave', project: 2 });
      expect(await b.next()).toEqual({ command: 'versionAutoSaveOK', project: 2 });
      vi.setSystemTime(t0 + 30_000);
      a.send({ command: 'requestVersionAutoSave', project: 1 });
      await a.expectSilence(T);
      vi.setSystemTime(t0 + 61_000);
      a.send({ command: 'requestVersionAutoSave', project: 1 });
      expect(await a.next()).toEqual({ command: 'versionAutoSaveOK', project: 1 });
    } finally {
      vi.useRealTimers();
      await s.dispose();
    }
  });
});

describe('reset and logout', () => {
  it('case 58: a reset sends every subscriber the dataset then reset, and non-subscribers nothing', async () => {
    const a = await h.login('admin');
    const b = await h.login('alex');
    const outside = await h.login('ben');
    await h.subscribe(a, 1);
    await h.subscribe(b, 1);
    a.send({ command: 'reset', project: 1 });
    for (const c of [a, b]) {
      const ds = await c.next();
      expect(Object.keys(ds).sort()).toEqual(['command', 'dataset', 'project']);
      expect(ds.command).toBe('dataset');
      expect(ds.project).toBe(1);
      expect(Object.keys(ds.dataset).sort()).toEqual([...STORE_KEYS, 'project'].sort());
      expect(ds.dataset.project).toMatchObject({ startDate: expect.any(String), calendar: 'general' });
      expect(await c.next()).toEqual({ command: 'reset', userName: 'admin', project: 1 });
    }
    await Promise.all([a.expectSilence(T), b.expectSilence(T), outside.expectSilence(T)]);
  });

  it('case 59: after a reset records added before it are gone', async () => {
    const a = await h.login('admin');
    await h.subscribe(a, 1);
    a.send({ command: 'projectChange', project: 1, changes: { tasks: { added: [{ $PhantomId: '_generatedT_59', name: 'gone', parentId: 1000 }] }, resources: { added: [{ $PhantomId: '_generatedR_59', name: 'gone too' }] } } });
    const echo = await a.next();
    const taskId = echo.changes.tasks.added[0].id;
    const resourceId = echo.changes.resources.added[0].id;
    const before = (await h.freshDataset(1)).dataset;
    expect(taskOccurrences(before.tasksData)).toContain(taskId);
    a.send({ command: 'reset', project: 1 });
    const reset = await a.nextOf('dataset');
    expect(taskOccurrences(reset.dataset.tasksData)).not.toContain(taskId);
    const { dataset } = await h.freshDataset(1);
    expect(taskOccurrences(dataset.tasksData)).not.toContain(taskId);
    expect(dataset.resourcesData.map((r: Rec) => r.id)).not.toContain(resourceId);
  });

  it('case 60: a server-initiated reset reaches each subscriber as dataset + reset by Server, and nobody else', async () => {
    const s = new Harness(await startServer({ inactivityResetSeconds: 2 }));
    try {
      const p3 = await s.login('admin');
      await s.subscribe(p3, 3);
      const p2 = await s.login('alex');
      await s.subscribe(p2, 2);
      const p1 = await s.login('foo');
      await s.subscribe(p1, 1);
      const unsubscribed = await s.login('ben');
      const anonymous = await s.connect();
      const subscribers: [TestClient, number][] = [
        [p3, 3],
        [p2, 2],
        [p1, 1],
      ];
      await Promise.all(
        subscribers.map(async ([c, project]) => {
          const ds = await c.next(5000);
          expect(Object.keys(ds).sort()).toEqual(['command', 'dataset', 'project']);
          expect(ds.command).toBe('dataset');
          expect(ds.project).toBe(project);
          expect(Array.isArray(ds.dataset.tasksData)).toBe(true);
          expect(await c.next(T)).toEqual({ command: 'reset', userName: 'Server' });
          await c.expectSilence(300);
        }),
      );
      expect(await unsubscribed.drain(1)).toEqual([]);
      expect(await anonymous.drain(1)).toEqual([]);
    } finally {
      await s.dispose();
    }
  }, 15_000);

  it('case 61: logout answers the sender once and closes it; others get logout with the name, then users', async () => {
    const other = await h.login('admin');
    const bar = await h.login('bar');
    bar.send({ command: 'logout' });
    expect(await bar.next()).toEqual({ command: 'logout' });
    await waitClosed(bar);
    expect([bar.closeCode, bar.closeReason]).toEqual([1000, 'logged out']);
    expect(await bar.drain(1)).toEqual([]);
    expect(await other.next()).toEqual({ command: 'logout', userName: 'bar' });
    const users = await other.next();
    expect(users.command).toBe('users');
    expect(users.users).not.toContain('bar');
    expect(users.users).toContain('admin');
  });

  it('case 62: closing the socket of a logged-in user sends every other logged-in client its logout', async () => {
    const one = await h.login('admin');
    const two = await h.login('alex');
    const bar = await h.login('bar');
    await bar.close();
    for (const c of [one, two]) {
      expect(await c.next()).toEqual({ command: 'logout', userName: 'bar' });
      const users = await c.next();
      expect(users.command).toBe('users');
      expect(users.users).not.toContain('bar');
      await c.expectSilence(T);
    }
  });

  it('case 63: closing a socket that never logged in sends nothing to anyone', async () => {
    const one = await h.login('admin');
    const idle = await h.connect();
    const stranger = await h.connect();
    stranger.send({ command: 'projects' });
    await stranger.next();
    await stranger.close();
    await Promise.all([one.expectSilence(T), idle.expectSilence(T)]);
  });
});

describe('bad input', () => {
  /** After bad input: the connection still answers, and a new client sees the dataset unchanged. */
  async function stillWorks(s: Harness, c: TestClient, before: Msg): Promise<void> {
    expect(c.closed).toBe(false);
    c.send({ command: 'projects' });
    expect((await c.next()).command).toBe('projects');
    const after = await s.freshDataset(1);
    expect(after.dataset).toEqual(before.dataset);
    expect(after.projectMeta).toEqual(before.projectMeta);
  }

  function expectValidationError(reply: Msg, command: string): void {
    expect(reply.command).toBe(command);
    expect(typeof reply.error).toBe('string');
    expect(reply).not.toHaveProperty('message');
    for (const key of Object.keys(reply)) expect(['command', 'error', 'project']).toContain(key);
  }

  it('invalid JSON from a subscriber is answered with an error and changes nothing', async () => {
    const c = await h.login('admin');
    const before = await h.subscribe(c, 1);
    c.send('{"command":"projectChange","project":1,"changes":{"tasks":{"updated":[{"id":11,"name":"x"}]}}');
    const reply = await c.next();
    expect(reply.command).toBe('error');
    expect(typeof reply.message).toBe('string');
    await stillWorks(h, c, before);
  });

  it('a project that is an object is refused', async () => {
    const c = await h.login('admin');
    const before = await h.subscribe(c, 1);
    c.send({ command: 'projectChange', project: { id: 1 }, changes: { tasks: { added: [{ $PhantomId: '_generatedT_bad1', name: 'x' }] } } });
    expectValidationError(await c.next(), 'projectChange');
    await stillWorks(h, c, before);
  });

  it('changes that is an array is refused', async () => {
    const c = await h.login('admin');
    const before = await h.subscribe(c, 1);
    c.send({ command: 'projectChange', project: 1, changes: [{ tasks: { added: [{ $PhantomId: '_generatedT_bad2', name: 'x' }] } }] });
    expectValidationError(await c.next(), 'projectChange');
    await stillWorks(h, c, before);
  });

  it('changes.tasks.added that is not an array is refused', async () => {
    const c = await h.login('admin');
    const before = await h.subscribe(c, 1);
    c.send({ command: 'projectChange', project: 1, changes: { tasks: { added: { $PhantomId: '_generatedT_bad3', name: 'x' } } } });
    expectValidationError(await c.next(), 'projectChange');
    await stillWorks(h, c, before);
  });

  it('an unknown command is ignored without a reply (PROTOCOL.md §1.5) and changes nothing', async () => {
    const c = await h.login('admin');
    const before = await h.subscribe(c, 1);
    c.send({ command: 'dropEverything', project: 1, changes: { tasks: { removed: [{ id: 1000 }] } } });
    await c.expectSilence(T);
    await stillWorks(h, c, before);
  });

  it('an oversized message is answered with an error and changes nothing', async () => {
    const s = new Harness(await startServer({ limits: { maxMessageBytes: 1000, maxFrameBytes: 1_000_000, maxBufferedBytes: 64_000_000 } }));
    try {
      const c = await s.login('admin');
      const before = await s.subscribe(c, 1);
      c.send({ command: 'projectChange', project: 1, changes: { tasks: { updated: [{ id: 11, name: 'x'.repeat(5000) }] } } });
      const reply = await c.next();
      expect(Object.keys(reply).sort()).toEqual(['command', 'message']);
      expect(reply.command).toBe('error');
      expect(typeof reply.message).toBe('string');
      await stillWorks(s, c, before);
    } finally {
      await s.dispose();
    }
  });

  it('an unknown store with added records is relayed and breaks nothing', async () => {
    const a = await h.login('admin');
    const b = await h.login('alex');
    const before = await h.subscribe(a, 1);
    await h.subscribe(b, 1);
    a.send({ command: 'projectChange', project: 1, changes: { timeRangesX: { added: [{ $PhantomId: '_generatedTimeRange_1', name: 'Milestone', startDate: '2019-02-01' }] } } });
    const echo = await a.next();
    expect(await b.next()).toEqual(echo);
    const added = echo.changes.timeRangesX.added[0];
    expect(added).toMatchObject({ $PhantomId: '_generatedTimeRange_1', name: 'Milestone', startDate: '2019-02-01' });
    expect(added.id).toBeDefined();
    // Later changes and datasets still work and the known stores are untouched.
    a.send({ command: 'projectChange', project: 1, changes: { tasks: { updated: [{ id: 11, name: 'after' }] } } });
    expect((await b.next()).changes).toEqual({ tasks: { updated: [{ id: 11, name: 'after' }] } });
    const after = await h.freshDataset(1);
    expect(Object.keys(after.dataset).sort()).toEqual([...STORE_KEYS, 'project'].sort());
    expect(flattenTasks(after.dataset.tasksData).get(11)?.rec.name).toBe('after');
    expect(after.dataset.resourcesData).toEqual(before.dataset.resourcesData);
  });
});
