/**
 * What a Yjs writer puts into the document is held to the limits a Bryntum change is: one the
 * server could not serialize must not stay in memory (where every later dataset would fail) while
 * the disk never got it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import * as Y from 'yjs';
import { WebsocketProvider } from 'y-websocket';
import { classicLogin } from './support/client.js';
import { startServer, type TestServer } from './support/server.js';

let s: TestServer;
beforeAll(async () => {
  s = await startServer();
});
afterAll(async () => s.dispose());

function peer(port: number): { doc: Y.Doc; provider: WebsocketProvider; synced: Promise<void>; closes: number[] } {
  const doc = new Y.Doc();
  const provider = new WebsocketProvider(`ws://127.0.0.1:${port}/yjs`, '1', doc, { WebSocketPolyfill: WebSocket as never, params: { login: 'admin', password: 'admin' }, disableBc: true, connect: true });
  const closes: number[] = [];
  provider.on('connection-close', (event: CloseEvent | null) => void (event && closes.push(event.code)));
  const synced = new Promise<void>((resolve) => provider.once('sync', () => resolve()));
  return { doc, provider, synced, closes };
}

async function datasetNames(port: number): Promise<string[]> {
  const c = await classicLogin(port);
  c.send({ command: 'dataset', project: 1 });
  const reply = await c.nextOf('dataset', 1000);
  await c.close();
  expect(reply.error).toBeUndefined();
  const out: string[] = [];
  const walk = (tasks: { name: string; children?: unknown[] }[]) => tasks.forEach((t) => (out.push(t.name), walk((t.children ?? []) as never)));
  walk(reply.dataset.tasksData);
  return out;
}

describe('a Yjs writer', () => {
  it('writing a value nested 5,500 deep is disconnected (1008), and datasets keep working, for everyone and after a restart', async () => {
    const hostile = peer(s.port);
    const honest = peer(s.port);
    await Promise.all([hostile.synced, honest.synced]);
    let deep: unknown = 1;
    for (let i = 0; i < 5500; i++) deep = { a: deep };
    const task = (hostile.doc.getMap('tasks') as Y.Map<Y.Map<unknown>>).get('11')!;
    task.set('notes', deep);
    const end = Date.now() + 3000;
    while (!hostile.closes.includes(1008) && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    hostile.provider.destroy();
    expect(hostile.closes).toContain(1008);
    // Nobody else was told of it, so nobody else is disconnected.
    expect(honest.closes).toEqual([]);
    const started = Date.now();
    expect((await datasetNames(s.port)).length).toBeGreaterThan(10);
    expect(Date.now() - started).toBeLessThan(1000);
    // An honest peer's edit still goes through.
    (honest.doc.getMap('tasks') as Y.Map<Y.Map<unknown>>).get('12')!.set('name', 'after the deep one');
    const until = Date.now() + 3000;
    while (!(await datasetNames(s.port)).includes('after the deep one') && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    honest.provider.destroy();
    s = await s.restart();
    const names = await datasetNames(s.port);
    expect(names).toContain('after the deep one');
  });
});
