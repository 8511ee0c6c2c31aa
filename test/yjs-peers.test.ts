/**
 * Yjs-native peers (y-websocket providers) on the same project documents as Bryntum clients.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { WebsocketProvider } from 'y-websocket';
import WebSocket from 'ws';
import { readField } from '../src/document/layout.js';
import { classicLogin, revisionsLogin } from './support/client.js';
import { startServer, tempDir, type TestServer } from './support/server.js';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

let s: TestServer;
beforeAll(async () => {
  s = await startServer({
    users: {
      admin: { password: 'admin', group: 'admin' },
      viewer: { password: 'viewer', group: 'viewers' },
    },
    groups: { admin: [1, 2, 3], viewers: [1] },
    readOnlyGroups: ['viewers'],
  });
});
afterAll(async () => s.dispose());

function peer(project: string, login: string, password: string): { doc: Y.Doc; provider: WebsocketProvider; synced: Promise<void> } {
  const doc = new Y.Doc();
  const provider = new WebsocketProvider(`ws://127.0.0.1:${s.port}/yjs`, project, doc, {
    WebSocketPolyfill: WebSocket as never,
    params: { login, password },
    disableBc: true,
  });
  const synced = new Promise<void>((resolve) => provider.once('sync', () => resolve()));
  return { doc, provider, synced };
}

const tasksOf = (doc: Y.Doc) => doc.getMap('tasks') as Y.Map<Y.Map<unknown>>;
const until = async (check: () => boolean, ms = 3000) => {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
};

/** The HTTP status a WebSocket upgrade to `path` is refused with. */
function refusal(path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${s.port}${path}`);
    ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.on('open', () => reject(new Error('upgrade was accepted')));
    ws.on('error', () => undefined);
  });
}

describe('Yjs peers', () => {
  it('sync the project document, and their edits reach classic and revisions clients as changes', async () => {
    const p = peer('1', 'admin', 'admin');
    await p.synced;
    expect(readField(tasksOf(p.doc).get('11')!, 'name')).toBeTypeOf('string');
    const classic = await classicLogin(s.port);
    classic.send({ command: 'dataset', project: 1 });
    await classic.nextOf('dataset');
    const rev = await revisionsLogin(s.port);
    rev.send({ command: 'dataset', data: { project: 1 } });
    await rev.nextOf('dataset');

    tasksOf(p.doc).get('11')!.set('name', 'from yjs');
    expect((await classic.nextOf('projectChange')).changes.tasks.updated).toEqual([{ id: 11, name: 'from yjs' }]);
    const revision = (await rev.nextOf('project_change')).data.revisions[0];
    expect(revision.changes.tasks.$input.updated).toEqual([{ id: 11, name: 'from yjs' }]);

    classic.send({ command: 'projectChange', project: 1, changes: { tasks: { updated: [{ id: 12, name: 'from bryntum' }] } } });
    await until(() => readField(tasksOf(p.doc).get('12')!, 'name') === 'from bryntum');
    p.provider.destroy();
    await Promise.all([classic.close(), rev.close()]);
  });

  it('have a move that makes a cycle repaired, and every side is told', async () => {
    const p = peer('1', 'admin', 'admin');
    await p.synced;
    const classic = await classicLogin(s.port);
    classic.send({ command: 'dataset', project: 1 });
    await classic.nextOf('dataset');
    tasksOf(p.doc).get('2')!.set('parentId', 21);
    const told = await classic.nextOf('projectChange');
    expect(told.changes.tasks.updated[0]).toMatchObject({ id: 2, parentId: null });
    await until(() => readField(tasksOf(p.doc).get('2')!, 'parentId') === null);
    p.provider.destroy();
    await classic.close();
  });

  it('are refused without valid credentials (401) and for projects they may not open (403)', async () => {
    expect(await refusal('/yjs/1')).toBe(401);
    expect(await refusal('/yjs/1?login=admin&password=wrong')).toBe(401);
    expect(await refusal('/yjs/2?login=viewer&password=viewer')).toBe(403);
    expect(await refusal('/yjs/99?login=admin&password=admin')).toBe(403);
  });

  it('sync down for read-only users, but their edits are not taken', async () => {
    const p = peer('1', 'viewer', 'viewer');
    await p.synced;
    tasksOf(p.doc).get('13')!.set('name', 'should not stick');
    const check = peer('1', 'admin', 'admin');
    await check.synced;
    await new Promise((r) => setTimeout(r, 300));
    expect(readField(tasksOf(check.doc).get('13')!, 'name')).not.toBe('should not stick');
    p.provider.destroy();
    check.provider.destroy();
  });

  it('hold every change made before their sync when they count themselves synced, also while the project changes', async () => {
    const first = peer('1', 'admin', 'admin');
    await first.synced;
    const classic = await classicLogin(s.port);
    classic.send({ command: 'dataset', project: 1 });
    await classic.nextOf('dataset');
    for (let i = 0; i < 3; i++) {
      classic.send({ command: 'projectChange', project: 1, changes: { tasks: { updated: [{ id: 12, name: `before the second peer ${i}` }] } } });
      await until(() => readField(tasksOf(first.doc).get('12')!, 'name') === `before the second peer ${i}`);
    }
    // Read at the very moment the provider says it is synced.
    const doc = new Y.Doc();
    const provider = new WebsocketProvider(`ws://127.0.0.1:${s.port}/yjs`, '1', doc, { WebSocketPolyfill: WebSocket as never, params: { login: 'admin', password: 'admin' }, disableBc: true });
    const nameAtSync = await new Promise<unknown>((resolve) => provider.once('sync', () => resolve(readField(tasksOf(doc).get('12')!, 'name'))));
    expect(nameAtSync).toBe('before the second peer 2');
    provider.destroy();
    first.provider.destroy();
    await classic.close();
  });

  it('appear with Bryntum users in the presence of their project', async () => {
    const classic = await classicLogin(s.port);
    classic.send({ command: 'dataset', project: 1 });
    await classic.nextOf('dataset');
    classic.send({ command: 'presence', project: 1 });
    expect((await classic.nextOf('presence')).users).toEqual(['admin']);
    const p = peer('1', 'viewer', 'viewer');
    await p.synced;
    expect((await classic.nextOf('presence')).users.sort()).toEqual(['admin', 'viewer']);
    // The server's own awareness state lists the Bryntum users for the peers.
    await until(() => [...p.provider.awareness.getStates().values()].some((st) => JSON.stringify(st).includes('admin')));
    p.provider.destroy();
    expect((await classic.nextOf('presence')).users).toEqual(['admin']);
    await classic.close();
  });
});

describe('a Yjs peer that closes while its joining waits in the project\'s queue', () => {
  it('is not left in the project\'s presence (nor among the peers sent its changes)', async () => {
    const classic = await classicLogin(s.port);
    classic.send({ command: 'dataset', project: 1 });
    await classic.nextOf('dataset');
    const room = (await s.server.projects.open(1))!;
    let release!: () => void;
    const held = room.queue.run(() => new Promise<void>((resolve) => (release = resolve)));
    const ws = new WebSocket(`ws://127.0.0.1:${s.port}/yjs/1?login=viewer&password=viewer`);
    await new Promise((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject)));
    const closed = new Promise((resolve) => ws.once('close', resolve));
    ws.close();
    await closed;
    // The server has seen the close before the queue lets the peer's joining run.
    await new Promise((resolve) => setTimeout(resolve, 100));
    release();
    await held;
    await room.queue.run(async () => undefined);
    classic.send({ command: 'presence', project: 1 });
    expect((await classic.nextOf('presence')).users).toEqual(['admin']);
    await classic.close();
  });
});

describe('a Yjs peer on a large project', () => {
  it('follows a reset written in many parts, frame by frame, to exactly the seed', async () => {
    const dir = await tempDir();
    const seed = join(dir, 'big.json');
    const TASKS = 5000;
    const rows = Array.from({ length: TASKS }, (_, i) => ({ id: i + 1, name: `Task ${i + 1} ${'x'.repeat(100)}`, duration: 1 }));
    await writeFile(seed, JSON.stringify({ success: true, project: { startDate: '2025-01-06' }, tasks: { rows } }));
    const big = await startServer({ projects: [{ id: 1, name: 'Big', seed }], groups: { admin: [1], user: [1] }, anonymous: { enabled: false } });
    const doc = new Y.Doc();
    const provider = new WebsocketProvider(`ws://127.0.0.1:${big.port}/yjs`, '1', doc, { WebSocketPolyfill: WebSocket as never, params: { login: 'admin', password: 'admin' }, disableBc: true });
    try {
      await new Promise<void>((resolve) => provider.once('sync', () => resolve()));
      await until(() => tasksOf(doc).size === TASKS, 10_000);
      const c = await classicLogin(big.port);
      c.send({ command: 'dataset', project: 1 });
      await c.nextOf('dataset', 10_000);
      c.send({ command: 'projectChange', project: 1, changes: { tasks: { updated: [{ id: 1, name: 'renamed' }], removed: [{ id: 2 }] } } });
      await until(() => readField(tasksOf(doc).get('1')!, 'name') === 'renamed' && !tasksOf(doc).has('2'), 10_000);

      c.send({ command: 'reset', project: 1 });
      await c.nextOf('reset', 20_000);
      await until(() => tasksOf(doc).size === TASKS && readField(tasksOf(doc).get('1')!, 'name') === rows[0].name, 10_000);
      const names = [...tasksOf(doc).values()].map((t) => readField(t, 'name')).sort();
      expect(names).toEqual(rows.map((r) => r.name).sort());
      await c.close();
    } finally {
      provider.destroy();
      await big.dispose();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
