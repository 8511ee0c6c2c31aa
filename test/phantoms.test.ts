/**
 * Phantom ids as the project remembers them (src/document/phantoms.ts): per user, per store, for a
 * while; and what a change resolves through them.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { NewPhantoms, PhantomMap } from '../src/document/phantoms.js';
import { ProjectStorage } from '../src/persistence/storage.js';
import { seededProject } from './support/document.js';
import { classicLogin, type TestClient } from './support/client.js';
import { recordingLog, startServer, type LoggedLine, type TestServer } from './support/server.js';

const DAY = 24 * 3600 * 1000;

describe('the phantom map', () => {
  it('names a record only in its store and only for its user', () => {
    const map = new PhantomMap(DAY);
    const now = Date.now();
    map.set({ user: 'ann', store: 'tasks', phantom: 'p', id: 7, connection: 'c1', at: now });
    expect(map.of('ann', 'c1', now).get('tasks', 'p')).toEqual({ id: 7, resent: true });
    expect(map.of('ann', 'c1', now).get('resources', 'p')).toBeUndefined();
    expect(map.of('ben', 'c1', now).get('tasks', 'p')).toBeUndefined();
    expect([...map.of('ann', 'c2', now).storesOf('p')]).toEqual(['tasks']);
  });

  it('takes a page-counted phantom id as sent again only over the connection that sent it, any other over any connection of the user', () => {
    const map = new PhantomMap(DAY);
    const now = Date.now();
    map.set({ user: 'ann', store: 'tasks', phantom: '_generatedModel1', id: 7, connection: 'c1', at: now });
    map.set({ user: 'ann', store: 'tasks', phantom: '_generatedTaskModel_0d6c2f5e-aaaa-4bbb-8ccc-0123456789ab', id: 8, connection: 'c1', at: now });
    expect(map.of('ann', 'c2', now).get('tasks', '_generatedModel1')).toEqual({ id: 7, resent: false });
    expect(map.of('ann', 'c2', now).get('tasks', '_generatedTaskModel_0d6c2f5e-aaaa-4bbb-8ccc-0123456789ab')).toEqual({ id: 8, resent: true });
  });

  it('keeps nothing of a phantom or a user once prune took all their mappings', () => {
    const map = new PhantomMap(DAY);
    const now = Date.now();
    map.set({ user: 'ann', store: 'tasks', phantom: 'p', id: 1, connection: 'c', at: now - 2 * DAY });
    map.set({ user: 'ann', store: 'resources', phantom: 'p', id: 2, connection: 'c', at: now - 2 * DAY });
    map.set({ user: 'ben', store: 'tasks', phantom: 'q', id: 3, connection: 'c', at: now - 2 * DAY });
    expect(map.prune(now)).toHaveLength(3);
    // Held per user: a server whose users come and go would otherwise grow without end.
    expect((map as unknown as { users: Map<string, unknown> }).users.size).toBe(0);
  });

  it('forgets mappings older than its retention, and prune hands them over for storage', () => {
    const map = new PhantomMap(DAY);
    const now = Date.now();
    map.set({ user: 'ann', store: 'tasks', phantom: 'old', id: 1, connection: 'c', at: now - 2 * DAY });
    map.set({ user: 'ann', store: 'tasks', phantom: 'new', id: 2, connection: 'c', at: now });
    expect(map.of('ann', 'c', now).get('tasks', 'old')).toBeUndefined();
    expect(map.prune(now).map((p) => p.phantom)).toEqual(['old']);
    expect(map.size).toBe(1);
    expect(map.of('ann', 'c', now).get('tasks', 'new')?.id).toBe(2);
  });

  it('keeps a mapping exactly as long as its retention, in lookups and in pruning, and drops emptied users', () => {
    const map = new PhantomMap(1000);
    map.set({ user: 'ann', store: 'tasks', phantom: 'p', id: 1, connection: 'c', at: 5000 });
    map.set({ user: 'ann', store: 'resources', phantom: 'p', id: 2, connection: 'c', at: 5500 });
    map.set({ user: 'ben', store: 'tasks', phantom: 'q', id: 3, connection: 'd', at: 5000 });
    expect(map.of('ann', 'c', 6000).get('tasks', 'p')?.id).toBe(1);
    expect(map.of('ann', 'c', 6001).get('tasks', 'p')).toBeUndefined();
    expect(map.prune(6000)).toEqual([]);
    expect(map.prune(6001).map((r) => [r.user, r.store, r.id])).toEqual([
      ['ann', 'tasks', 1],
      ['ben', 'tasks', 3],
    ]);
    expect(map.size).toBe(1);
    expect(map.records()).toEqual([{ user: 'ann', store: 'resources', phantom: 'p', id: 2, connection: 'c', at: 5500 }]);
    expect([...map.of('ann', 'c', 6001).storesOf('p')]).toEqual(['resources']);
    expect(map.of('ben', 'd', 6001).get('tasks', 'q')).toBeUndefined();
    expect([...map.of('ben', 'd', 6001).storesOf('q')]).toEqual([]);
  });

  it('keeps a user name or phantom id like __proto__ as plain data', () => {
    const map = new PhantomMap(DAY);
    map.set({ user: '__proto__', store: 'tasks', phantom: 'constructor', id: 3, connection: 'c', at: Date.now() });
    expect(map.of('__proto__', 'c').get('tasks', 'constructor')?.id).toBe(3);
    expect(map.of('toString', 'c').get('tasks', 'constructor')).toBeUndefined();
    expect(({} as Record<string, unknown>).constructor).toBe(Object);
  });
});

describe('the phantom ids of one change', () => {
  it('name a record per store; without a store, the first store that has the phantom id', () => {
    const news = new NewPhantoms();
    news.set('resources', 'p', 7);
    news.set('tasks', 'p', 8);
    news.set('tasks', 'q', 9);
    expect([news.get('p', 'tasks'), news.get('p', 'resources'), news.get('p', 'dependencies'), news.get('p'), news.get('x'), news.get('x', 'tasks')]).toEqual([8, 7, undefined, 7, undefined, undefined]);
    expect(news.size).toBe(3);
    expect([...news.entries()]).toEqual([
      { store: 'resources', phantom: 'p', id: 7 },
      { store: 'tasks', phantom: 'p', id: 8 },
      { store: 'tasks', phantom: 'q', id: 9 },
    ]);
  });
});

describe('a change resolving phantom ids', () => {
  it('puts a phantom id named in a field that tells no store (a nested value) to the record of any store that has it', async () => {
    const t = await seededProject('saas', 'number');
    const applied = t.apply({ resources: { added: [{ $PhantomId: 'r', name: 'R' }] }, tasks: { updated: [{ id: 11, note: { owner: 'r' } }] } });
    const id = applied.newPhantoms.get('r', 'resources');
    expect(t.record('tasks', 11)!.note).toEqual({ owner: id });
  });

  it('puts a phantom id named in a nested value to the record an earlier change of the sender added with it', async () => {
    const t = await seededProject('saas', 'number');
    const id = t.apply({ resources: { added: [{ $PhantomId: 'r', name: 'R' }] } }).newPhantoms.get('r', 'resources');
    t.apply({ tasks: { updated: [{ id: 11, note: { owner: 'r' } }] } });
    expect(id).toBeDefined();
    expect(t.record('tasks', 11)!.note).toEqual({ owner: id });
  });

  it("puts a resource's calendar to the calendar with that phantom id, also when a task of the change has it too", async () => {
    const t = await seededProject('saas', 'number');
    const applied = t.apply({
      tasks: { added: [{ $PhantomId: 'x', name: 'T' }] },
      calendars: { added: [{ $PhantomId: 'x', name: 'Night shift' }] },
      resources: { added: [{ $PhantomId: 'r', name: 'R', calendar: 'x' }] },
    });
    const calendar = applied.newPhantoms.get('x', 'calendars');
    expect(calendar).not.toBe(applied.newPhantoms.get('x', 'tasks'));
    expect(t.record('resources', applied.newPhantoms.get('r', 'resources')!)!.calendar).toBe(calendar);
  });

  it("puts a resource's calendar to the calendar with that phantom id when a task of an earlier change has it too", async () => {
    const t = await seededProject('saas', 'number');
    const task = t.apply({ tasks: { added: [{ $PhantomId: 'y', name: 'T' }] } }).newPhantoms.get('y', 'tasks');
    const calendar = t.apply({ calendars: { added: [{ $PhantomId: 'y', name: 'Night shift' }] } }).newPhantoms.get('y', 'calendars');
    const resource = t.apply({ resources: { added: [{ $PhantomId: 'r', name: 'R', calendar: 'y' }] } }).newPhantoms.get('r', 'resources');
    expect(calendar).not.toBe(task);
    expect(t.record('resources', resource!)!.calendar).toBe(calendar);
  });

  it('resolves an updated or removed row\'s id in its own store only', async () => {
    const t = await seededProject('saas', 'number');
    const task = t.apply({ tasks: { added: [{ $PhantomId: 'x', name: 'T' }] } }).newPhantoms.get('x', 'tasks');
    const resource = t.apply({ resources: { added: [{ $PhantomId: 'x', name: 'R' }] } }).newPhantoms.get('x', 'resources');
    t.apply({ resources: { updated: [{ id: 'x', name: 'R2' }] }, tasks: { updated: [{ id: 'x', name: 'T2' }] } });
    expect(t.record('resources', resource!)!.name).toBe('R2');
    expect(t.record('tasks', task!)!.name).toBe('T2');
    t.apply({ resources: { removed: [{ id: 'x' }] } });
    expect(t.record('resources', resource!)).toBeUndefined();
    expect(t.record('tasks', task!)).toBeDefined();
  });
});

describe('a project forgetting phantom ids past their retention', () => {
  let s: TestServer | null = null;
  afterEach(async () => {
    vi.restoreAllMocks();
    await s?.dispose();
    s = null;
  });

  /** A server keeping phantom ids for 0.4 s, folding (and pruning) after each change once quiet for 50 ms. */
  async function serve(lines: LoggedLine[] = []): Promise<TestClient> {
    const storage = { compactAfterUpdates: 1, unloadAfterSeconds: 60, sync: false, quietMs: 50, quietMaxMs: 200, phantomDays: 0.4 / 86_400 };
    s = await startServer({ storage } as never, undefined, recordingLog(lines).log);
    const c = await classicLogin(s.port);
    c.send({ command: 'dataset', project: 1 });
    await c.nextOf('dataset', 5000);
    return c;
  }
  const add = async (c: TestClient, phantom: string) => {
    c.send({ command: 'projectChange', project: 1, changes: { tasks: { added: [{ $PhantomId: phantom, name: phantom }] } } });
    await c.nextOf('projectChange', 5000);
  };
  const storedPhantoms = async () => (await s!.server.storage.project(1).sizeOf('pn')).keys;
  const until = async (check: () => Promise<boolean> | boolean, ms = 5000) => {
    const end = Date.now() + ms;
    while (!(await check()) && Date.now() < end) await new Promise((r) => setTimeout(r, 25));
  };

  it('removes them from storage at the next fold, keeping the newer ones', async () => {
    const c = await serve();
    await add(c, '_generated_old');
    expect(await storedPhantoms()).toBe(1);
    await new Promise((r) => setTimeout(r, 600));
    await add(c, '_generated_new');
    await until(async () => (await storedPhantoms()) === 1);
    expect(await storedPhantoms()).toBe(1);
    await c.close();
  });

  it('logs a failure to forget them as an error naming the project, and keeps serving', async () => {
    const lines: LoggedLine[] = [];
    const c = await serve(lines);
    vi.spyOn(ProjectStorage.prototype, 'forgetPhantoms').mockRejectedValue(new Error('disk gone (injected)'));
    await add(c, '_generated_old');
    await new Promise((r) => setTimeout(r, 600));
    await add(c, '_generated_new');
    const failed = () => lines.filter(({ msg }) => msg.includes('phantom'));
    await until(() => failed().length > 0);
    expect(failed()).toEqual([{ msg: 'project 1: cannot forget phantom ids: disk gone (injected)', fields: { level: 'error', project: 1 } }]);
    await add(c, '_generated_after');
    await c.close();
  });
});
