/**
 * Settings whose effect no other test watched: breaking them on purpose went unnoticed. Each test
 * here fails when its setting stops doing what the README says.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { join } from 'node:path';
import { rm } from 'node:fs/promises';
import { Storage } from '../src/persistence/storage.js';
import { TestClient, classicLogin } from './support/client.js';
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

  it('heartbeatSeconds: pings every interval, and none at 0', async () => {
    s = await startServer({ heartbeatSeconds: 1 } as never);
    const pinged = await classicLogin(s.port);
    let pings = 0;
    pinged.ws.on('ping', () => pings++);
    await new Promise((r) => setTimeout(r, 2500));
    expect(pings).toBeGreaterThan(0);
    await s.dispose();

    s = await startServer({ heartbeatSeconds: 0 } as never);
    const quiet = await classicLogin(s.port);
    let none = 0;
    quiet.ws.on('ping', () => none++);
    await new Promise((r) => setTimeout(r, 2500));
    expect(none).toBe(0);
  });

  it('storage.sync: every write of a change, a fold and the project list asks LevelDB to sync', async () => {
    const dir = await tempDir();
    try {
      for (const sync of [true, false]) {
        const storage = await Storage.open(join(dir, `db-${sync}`), { sync });
        const batch = vi.spyOn(storage.db, 'batch');
        const project = storage.project(1);
        await project.commit({ seq: 1, update: new Uint8Array([0, 0]), meta: { nextId: 1, nextRevision: 2, phantomEpoch: 0, firstLoggedRevision: 1, createdAt: new Date(0).toISOString() } });
        await project.compact([{ index: 0, bytes: new Uint8Array([0, 0]) }], 1);
        await storage.write([{ key: 'c:test', value: { x: 1 } }]);
        const options = batch.mock.calls.map((call) => (call as unknown[])[1] as { sync?: boolean });
        expect(options).toHaveLength(3);
        for (const o of options) expect(o.sync).toBe(sync);
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
