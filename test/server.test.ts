import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
});
