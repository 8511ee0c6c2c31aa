import { afterAll, beforeAll, expect, it } from 'vitest';
import * as Y from 'yjs';
import { WebsocketProvider } from 'y-websocket';
import WebSocket from 'ws';
import { readField } from '../src/document/layout.js';
import { classicLogin } from './support/client.js';
import { startServer, type TestServer } from './support/server.js';

let s: TestServer;
beforeAll(async () => { s = await startServer(); });
afterAll(async () => s.dispose());

it('a y-websocket provider syncs the project and its edits reach classic clients', async () => {
  const doc = new Y.Doc();
  const provider = new WebsocketProvider(`ws://127.0.0.1:${s.port}/yjs`, '1', doc, { WebSocketPolyfill: WebSocket as never, params: { login: 'admin', password: 'admin' } });
  await new Promise<void>((resolve) => provider.once('sync', () => resolve()));
  const tasks = doc.getMap('tasks') as Y.Map<Y.Map<unknown>>;
  expect(readField(tasks.get('11')!, 'name')).toBeTypeOf('string');
  const a = await classicLogin(s.port);
  a.send({ command: 'dataset', project: 1 });
  await a.nextOf('dataset');
  tasks.get('11')!.set('name', 'from yjs');
  const msg = await a.nextOf('projectChange');
  expect(msg.changes.tasks.updated).toEqual([{ id: 11, name: 'from yjs' }]);
  a.send({ command: 'projectChange', project: 1, changes: { tasks: { updated: [{ id: 12, name: 'from bryntum' }] } } });
  await new Promise((r) => setTimeout(r, 300));
  expect(readField(tasks.get('12')!, 'name')).toBe('from bryntum');
  // a peer moves a task under its own child: repaired
  tasks.get('1')!.set('parentId', 11);
  const repaired = await a.nextOf('projectChange');
  console.log(JSON.stringify(repaired));
  await new Promise((r) => setTimeout(r, 300));
  provider.destroy();
  await a.close();
});
