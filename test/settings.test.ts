/**
 * Settings and checks that could be broken on purpose without any other test noticing. Each test
 * here fails when its setting or check stops doing what the README says.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { join } from 'node:path';
import { rm } from 'node:fs/promises';
import { Storage } from '../src/persistence/storage.js';
import { TestClient, classicLogin, revisionsLogin } from './support/client.js';
import { AUTHORIZATION_REQUIRED } from '../src/server/commands.js';
import { View } from '../src/simulate/view.js';
import { diffViews } from '../src/simulate/check.js';
import { startServer, tempDir, type TestServer } from './support/server.js';

let s: TestServer | null = null;
afterEach(async () => {
  vi.restoreAllMocks();
  await s?.dispose();
  s = null;
});

const closed = (c: TestClient, ms = 5000) =>
  new Promise<number>((resolve, reject) => {
    if (c.closed) return resolve(c.closeCode!);
    const timer = setTimeout(() => reject(new Error('not closed')), ms);
    c.ws.once('close', (code) => (clearTimeout(timer), resolve(code)));
  });

describe('settings', () => {
  it('limits.maxFrameBytes: a larger frame closes the connection with 1009; one within it is read', async () => {
    s = await startServer({ limits: { maxFrameBytes: 64 * 1024, maxMessageBytes: 32 * 1024 } as never });
    const within = await classicLogin(s.port);
    within.send({ command: 'projects', pad: 'x'.repeat(50 * 1024) });
    // Past maxMessageBytes but within the frame limit: answered with an error, the connection stays.
    expect((await within.nextOf('error', 5000)).message).toContain('Message too large');
    expect(within.closed).toBe(false);
    const over = await classicLogin(s.port);
    over.send({ command: 'projects', pad: 'x'.repeat(80 * 1024) });
    expect(await closed(over)).toBe(1009);
  });

  it('generation (WEFT_GENERATION): a forced generation answers a classic-looking login in its own shape', async () => {
    s = await startServer({ generation: 'revisions' } as never);
    const c = await TestClient.connect(s.port);
    c.send({ command: 'login', login: 'admin', password: 'admin' });
    const reply = await c.nextOf('login', 5000);
    expect(reply.data?.client).toEqual(expect.any(String));
    await c.close();
  });

  it('generation: a forced generation also shapes the answers before login, whatever a frame looks like', async () => {
    s = await startServer({ generation: 'classic' } as never);
    const c = await TestClient.connect(s.port);
    // `version` looks like the revisions generation (PROTOCOL.md §2.4); forced classic answers it in classic shape.
    c.send({ command: 'version' });
    const reply = await c.nextOf('version', 5000);
    expect(Object.keys(reply).sort()).toEqual(['command', 'version']);
    await c.close();
  });

  it('generation: the login fixes it, so a revisions client sending a classic-looking frame later is answered in the revisions shape', async () => {
    s = await startServer();
    const c = await revisionsLogin(s.port);
    c.send({ command: 'projects' });
    const reply = await c.nextOf('projects', 5000);
    expect(reply.data?.projects).toEqual(expect.any(Array));
    expect(reply.projects).toBeUndefined();
    await c.close();
  });

  it('heartbeatSeconds: pings every interval, and none at 0', async () => {
    for (const heartbeatSeconds of [1, 0]) {
      s = await startServer({ heartbeatSeconds } as never);
      const client = await classicLogin(s.port);
      let pings = 0;
      client.ws.on('ping', () => pings++);
      await new Promise((r) => setTimeout(r, 2500));
      if (heartbeatSeconds > 0) expect(pings).toBeGreaterThan(0);
      else expect(pings).toBe(0);
      await s.dispose();
      s = null;
    }
  });

  it('storage.sync: every write of a change, a fold and the project list asks LevelDB to sync, and none does when it is not set', async () => {
    const dir = await tempDir();
    try {
      for (const sync of [true, false, undefined]) {
        const storage = await Storage.open(join(dir, `db-${sync}`), sync === undefined ? {} : { sync });
        const batch = vi.spyOn(storage.db, 'batch');
        const project = storage.project(1);
        await project.commit({ seq: 1, update: new Uint8Array([0, 0]), meta: { nextId: 1, nextRevision: 2, phantomEpoch: 0, firstLoggedRevision: 1, createdAt: new Date(0).toISOString() } });
        await project.compact([{ index: 0, bytes: new Uint8Array([0, 0]) }], 1);
        await storage.write([{ key: 'c:test', value: { x: 1 } }]);
        const options = batch.mock.calls.map((call) => (call as unknown[])[1] as { sync?: boolean });
        expect(options).toHaveLength(3);
        for (const o of options) expect(o.sync).toBe(sync ?? false);
        batch.mockRestore();
        await storage.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('storage.sync reaches the server storage from the configuration', async () => {
    s = await startServer({ storage: { sync: true } as never } as never);
    const batch = vi.spyOn(s.server.storage.db, 'batch');
    const c = await classicLogin(s.port);
    c.send({ command: 'dataset', project: 1 });
    const ds = await c.nextOf('dataset', 5000);
    const observer = await classicLogin(s.port, 'alex');
    observer.send({ command: 'dataset', project: 1 });
    await observer.nextOf('dataset', 5000);
    c.send({ command: 'projectChange', project: 1, changes: { tasks: { updated: [{ id: ds.dataset.tasksData[0].id, name: 'synced' }] } } });
    await observer.nextOf('projectChange', 5000);
    const options = batch.mock.calls.map((call) => (call as unknown[])[1] as { sync?: boolean });
    expect(options.length).toBeGreaterThan(0);
    for (const o of options) expect(o.sync).toBe(true);
  });
});

describe('checks breaking them went unnoticed', () => {
  it('catch_up: a user who may not open a project gets no revision of it', async () => {
    s = await startServer({
      projects: [
        { id: 1, name: 'One' },
        { id: 2, name: 'Two' },
      ],
      groups: { admin: [1, 2], user: [1] },
    } as never);
    // alex (group user) may open project 1 only; admin writes to project 2.
    const admin = await revisionsLogin(s.port, 'admin');
    admin.send({ command: 'dataset', data: { project: 2 } });
    await admin.nextOf('dataset', 5000);
    admin.send({ command: 'project_change', data: { project: 2, revisions: [{ revision: 'local-1', changes: { tasks: { added: [{ $PhantomId: '_generated_secret', name: 'secret task' }] } } }] } });
    await admin.nextOf('project_change', 5000);
    const alex = await revisionsLogin(s.port, 'alex');
    alex.send({ command: 'catch_up', data: { project: 2, since: 'server-0' } });
    const reply = await alex.next(5000);
    expect(JSON.stringify(reply)).not.toContain('secret task');
    expect(JSON.stringify(reply)).toContain(AUTHORIZATION_REQUIRED);
  });

  it('invalid payloads are answered with "Invalid <command>:" and what is wrong, in both generations', async () => {
    s = await startServer();
    const classic = await classicLogin(s.port);
    classic.send({ command: 'dataset', project: 1 });
    await classic.nextOf('dataset', 5000);
    classic.send({ command: 'projectChange', project: 1, changes: 5 });
    const a = await classic.nextOf('projectChange', 5000);
    expect(a.error).toBe('Invalid projectChange: changes: changes must be an object keyed by store');
    const revisions = await revisionsLogin(s.port, 'alex');
    revisions.send({ command: 'dataset', data: { project: 1 } });
    await revisions.nextOf('dataset', 5000);
    revisions.send({ command: 'project_change', data: { project: 1, revisions: 'not a list' } });
    const b = await revisions.nextOf('project_change', 5000);
    expect(JSON.stringify(b)).toMatch(/Invalid project_change: revisions: /);
  });

  it("the simulator's verdict counts a field that differs from the server's", () => {
    const server = View.fromDataset({ tasksData: [{ id: 1, name: 'A', duration: 2 }] });
    const same = View.fromDataset({ tasksData: [{ id: 1, name: 'A', duration: 2 }] });
    const other = View.fromDataset({ tasksData: [{ id: 1, name: 'A', duration: 3 }] });
    expect(diffViews('same', same, server)).toEqual([]);
    expect(diffViews('other', other, server)).toEqual([expect.objectContaining({ kind: 'field', field: 'duration', replicaValue: 3, serverValue: 2 })]);
  });
});

describe('revision log pruning', () => {
  it('keeps revisionLog.keep revisions for catch-up: older ones answer reload: true, recent ones are caught up', async () => {
    s = await startServer({ revisionLog: { keep: 5 } } as never);
    const writer = await revisionsLogin(s.port, 'admin');
    writer.send({ command: 'dataset', data: { project: 1 } });
    const ds = await writer.nextOf('dataset', 5000);
    const taskId = ds.data.dataset.tasksData[0].id;
    // Pruning runs in steps: past keep + 100 logged revisions.
    let last = '';
    for (let i = 0; i < 120; i++) {
      writer.send({ command: 'project_change', data: { project: 1, revisions: [{ revision: `local-${i}`, changes: { tasks: { updated: [{ id: taskId, name: `pruned ${i}` }] } } }] } });
      last = (await writer.nextOf('project_change', 5000)).data.revisions[0].revision;
    }
    const n = Number(last.slice('server-'.length));
    const reader = await revisionsLogin(s.port, 'alex');
    reader.send({ command: 'catch_up', data: { project: 1, since: 'server-1' } });
    const old = await reader.nextOf('catch_up', 5000);
    expect(old.data.reload).toBe(true);
    reader.send({ command: 'catch_up', data: { project: 1, since: `server-${n - 3}` } });
    const recent = await reader.nextOf('catch_up', 5000);
    expect(recent.data.reload).toBeUndefined();
    expect(recent.data.revisions.map((r: { revision: string }) => r.revision)).toEqual([n - 2, n - 1, n].map((k) => `server-${k}`));
  });

  it('prunes only once more than keep + max(100, keep / 10) revisions are logged, back to the last keep', async () => {
    // keep 20: the step is 100 (keep / 10 is 2, keep * 10 would be 200).
    s = await startServer({ revisionLog: { keep: 20 } } as never);
    const writer = await revisionsLogin(s.port, 'admin');
    writer.send({ command: 'dataset', data: { project: 1 } });
    const taskId = (await writer.nextOf('dataset', 5000)).data.dataset.tasksData[0].id;
    const change = async (i: number): Promise<string> => {
      writer.send({ command: 'project_change', data: { project: 1, revisions: [{ revision: `local-${i}`, changes: { tasks: { updated: [{ id: taskId, name: `step ${i}` }] } } }] } });
      return (await writer.nextOf('project_change', 5000)).data.revisions[0].revision;
    };
    const reader = await revisionsLogin(s.port, 'alex');
    const catchUp = async (since: string) => {
      reader.send({ command: 'catch_up', data: { project: 1, since } });
      return (await reader.nextOf('catch_up', 5000)).data;
    };
    expect(await change(1)).toBe('server-1');
    for (let i = 2; i <= 120; i++) await change(i);
    // 120 logged: every one is still there.
    const all = await catchUp('server-1');
    expect(all.reload).toBeUndefined();
    expect(all.revisions).toHaveLength(119);
    expect(await change(121)).toBe('server-121');
    // 121 logged: pruned back to the last 20 (server-102 on).
    expect((await catchUp('server-100')).reload).toBe(true);
    const kept = await catchUp('server-101');
    expect(kept.reload).toBeUndefined();
    expect(kept.revisions.map((r: { revision: string }) => r.revision)).toEqual(Array.from({ length: 20 }, (_, k) => `server-${102 + k}`));
  });
});
