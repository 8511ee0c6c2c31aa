import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { classicLogin, revisionsLogin } from './support/client.js';
import { startServer, type TestServer } from './support/server.js';

let s: TestServer;
beforeAll(async () => {
  s = await startServer();
});
afterAll(async () => s.dispose());

describe('a server on the demo configuration', () => {
  it('serves classic and revisions clients on one project, each in its own framing', async () => {
    const a = await classicLogin(s.port);
    const b = await classicLogin(s.port, 'alex');
    a.send({ command: 'dataset', project: 1 });
    const ds = await a.nextOf('dataset');
    expect(Object.keys(ds.dataset)).toHaveLength(7);
    expect(ds.dataset.tasksData[0].children.length).toBeGreaterThan(0);
    b.send({ command: 'dataset', project: 1 });
    await b.nextOf('dataset');
    a.send({ command: 'projectChange', project: 1, changes: { tasks: { added: [{ $PhantomId: '_generatedX_1', name: 'new', parentId: 1000, parentIndex: 0 }] } } });
    const echo = await a.nextOf('projectChange');
    const got = await b.nextOf('projectChange');
    expect(echo).toEqual(got);
    expect(echo.changes.tasks.added[0].id).toBeGreaterThan(4036);
    const r = await revisionsLogin(s.port, 'ben');
    r.send({ command: 'dataset', data: { project: 1 } });
    const rds = await r.nextOf('dataset');
    expect(rds.data.dataset.tasksData[0].children[0].name).toBe('new');
    r.send({ command: 'project_change', data: { project: 1, revisions: [{ revision: 'local-1', clientId: r.clientId, changes: { tasks: { updated: [{ id: 1, name: 'renamed' }], $input: { updated: [{ id: 1, name: 'renamed' }] } } } }] } });
    const rc = await r.nextOf('project_change');
    expect(rc.data.revisions[0].client).toBe(r.clientId);
    const ac = await a.nextOf('projectChange');
    expect(ac.changes).toEqual({ tasks: { updated: [{ id: 1, name: 'renamed' }] } });
    await Promise.all([a.close(), b.close(), r.close()]);
  });

  it('seeds every configured project on first start, before any client asks', async () => {
    const fresh = await startServer();
    try {
      let ids: unknown[] = [];
      for (let i = 0; i < 100 && ids.length < 3; i++) {
        await new Promise((r) => setTimeout(r, 50));
        ids = await fresh.server.storage.projectIds();
      }
      expect(ids.sort()).toEqual([1, 2, 3]);
    } finally {
      await fresh.dispose();
    }
  });

  it('ends two classic clients that change the same field at the same moment on the server value', async () => {
    const a = await classicLogin(s.port, 'alex');
    const b = await classicLogin(s.port, 'ben');
    for (const c of [a, b]) {
      c.send({ command: 'dataset', project: 1 });
      await c.nextOf('dataset');
    }
    // Each applies its own edit locally at once, as Bryntum does, then sends it.
    const view = { a: 'A', b: 'B' };
    a.send({ command: 'projectChange', project: 1, changes: { tasks: { updated: [{ id: 14, name: 'A' }] } } });
    b.send({ command: 'projectChange', project: 1, changes: { tasks: { updated: [{ id: 14, name: 'B' }] } } });
    const apply = (messages: Record<string, any>[], key: 'a' | 'b') => {
      for (const m of messages) for (const u of m.changes?.tasks?.updated ?? []) if (u.id === 14 && 'name' in u) view[key] = u.name;
    };
    apply(await a.drain(400), 'a');
    apply(await b.drain(0), 'b');
    const served = await s.server.projects.open(1).then((room) => room!.dataset());
    const find = (tasks: any[]): any => tasks.map((t) => (t.id === 14 ? t : t.children ? find(t.children) : undefined)).find(Boolean);
    const final = find((served as any).tasksData).name;
    expect(view).toEqual({ a: final, b: final });
    await Promise.all([a.close(), b.close()]);
  });

  it('does not echo an update-only change to its sender when nobody else wrote that field', async () => {
    const a = await classicLogin(s.port, 'alex');
    const b = await classicLogin(s.port, 'ben');
    for (const c of [a, b]) {
      c.send({ command: 'dataset', project: 1 });
      await c.nextOf('dataset');
    }
    a.send({ command: 'projectChange', project: 1, changes: { tasks: { updated: [{ id: 4035, percentDone: 5 }] } } });
    expect((await b.nextOf('projectChange')).changes.tasks.updated).toEqual([{ id: 4035, percentDone: 5 }]);
    await a.expectSilence(300);
    await Promise.all([a.close(), b.close()]);
  });

  it('drops a socket that stops answering pings, and others hear that its user left', async () => {
    const beating = await startServer({ heartbeatSeconds: 0.3 });
    try {
      const watcher = await classicLogin(beating.port, 'alex');
      const silent = new WebSocket(`ws://127.0.0.1:${beating.port}`, { autoPong: false });
      await new Promise((resolve) => silent.once('open', resolve));
      silent.send(JSON.stringify({ command: 'login', login: 'ben', password: 'ben' }));
      await watcher.nextOf('users');
      const closed = new Promise<number>((resolve) => silent.once('close', (code) => resolve(code)));
      expect(await watcher.nextOf('logout', 3000)).toEqual({ command: 'logout', userName: 'ben' });
      expect(await closed).toBe(1006);
      // A client that answers pings stays connected.
      watcher.send({ command: 'projects' });
      expect((await watcher.nextOf('projects')).projects.length).toBeGreaterThan(0);
      await watcher.close();
    } finally {
      await beating.dispose();
    }
  });
});
