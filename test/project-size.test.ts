/** A project holds at most `limits.maxRecordsPerProject` records, whoever adds them. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import * as Y from 'yjs';
import { WebsocketProvider } from 'y-websocket';
import { classicLogin, type Msg } from './support/client.js';
import { startServer, type TestServer } from './support/server.js';

const added = (n: number, tag: string) => ({ tasks: { added: Array.from({ length: n }, (_, i) => ({ $PhantomId: `${tag}-${i}`, name: `${tag} ${i}`, parentId: 1 })) } });

let s: TestServer;
beforeAll(async () => {
  // How many records the demo project holds, as the refusal on a server with room for none says; then room for two more.
  const probe = await startServer({ limits: { maxRecordsPerProject: 1 } });
  const c = await classicLogin(probe.port);
  c.send({ command: 'dataset', project: 1 });
  await c.nextOf('dataset');
  c.send({ command: 'projectChange', project: 1, changes: added(1, 'probe') });
  const held = Number(/it has (\d+) and this change adds 1/.exec((await c.nextOf('error')).message)![1]);
  await c.close();
  await probe.dispose();
  expect(held).toBeGreaterThan(50);
  s = await startServer({ limits: { maxRecordsPerProject: held + 2 } });
});
afterAll(async () => s?.dispose());


describe('a project at maxRecordsPerProject', () => {
  it('refuses a change that would take it past the limit, with an error, and takes one that fits', async () => {
    const c = await classicLogin(s.port);
    c.send({ command: 'dataset', project: 1 });
    await c.nextOf('dataset');
    c.send({ command: 'projectChange', project: 1, changes: added(3, 'three') });
    const error = await c.nextOf('error');
    expect(error.message).toMatch(/at most \d+ records \(limits.maxRecordsPerProject\)/);
    c.send({ command: 'projectChange', project: 1, changes: added(2, 'two') });
    const echo = await c.nextOf('projectChange');
    expect(echo.changes.tasks.added.map((t: Msg) => t.name)).toEqual(['two 0', 'two 1']);
    // Full now: one more is refused, while updates still go through.
    c.send({ command: 'projectChange', project: 1, changes: added(1, 'one') });
    expect((await c.nextOf('error')).message).toMatch(/maxRecordsPerProject/);
    c.send({ command: 'projectChange', project: 1, changes: { tasks: { updated: [{ id: 11, name: 'still editable' }] } } });
    expect((await c.drain(300)).filter((m) => m.command === 'error')).toEqual([]);
    await c.close();
  });

  it('refuses a Yjs peer\'s new record past it, and keeps the project as stored', async () => {
    const doc = new Y.Doc();
    const provider = new WebsocketProvider(`ws://127.0.0.1:${s.port}/yjs`, '1', doc, { WebSocketPolyfill: WebSocket as never, params: { login: 'admin', password: 'admin' }, disableBc: true, connect: true });
    const closes: number[] = [];
    provider.on('connection-close', (event: CloseEvent | null) => void (event && closes.push(event.code)));
    await new Promise<void>((resolve) => provider.once('sync', () => resolve()));
    const task = new Y.Map<unknown>();
    task.set('id', 99_001);
    task.set('name', 'one too many');
    (doc.getMap('tasks') as Y.Map<Y.Map<unknown>>).set('99001', task);
    const end = Date.now() + 3000;
    while (!closes.length && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    provider.destroy();
    expect(closes[0]).toBe(1008);
    const c = await classicLogin(s.port);
    c.send({ command: 'dataset', project: 1 });
    expect(JSON.stringify((await c.nextOf('dataset')).dataset)).not.toContain('one too many');
    await c.close();
  });
});
