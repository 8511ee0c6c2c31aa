/**
 * Minimal inputs the reliability fuzz (reliability/fuzz.ts) found to hurt the server, each kept
 * as the case it was.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { Socket } from 'node:net';
import * as Y from 'yjs';
import * as encoding from 'lib0/encoding';
import { classicLogin } from './support/client.js';
import { recordingLog, startServer, type TestServer } from './support/server.js';
import { closeAfter, closeCodeAfter as closeCodeAfterOn, syncFrame } from './support/yjs-raw.js';

let s: TestServer;
beforeAll(async () => {
  s = await startServer();
});
afterAll(async () => s.dispose());

const closeCodeAfter = (frame: Uint8Array) => closeCodeAfterOn(s.port, frame);

async function datasetOfProject1(): Promise<Record<string, any>> {
  const c = await classicLogin(s.port);
  c.send({ command: 'dataset', project: 1 });
  const reply = await c.nextOf('dataset', 2000);
  await c.close();
  return reply;
}

describe('a Yjs peer sending what the fuzz found', () => {
  for (const [what, write] of [
    ['a number', (m: Y.Map<unknown>) => m.set('77779', 42)],
    ['a text', (m: Y.Map<unknown>) => m.set('77777', 'junk')],
    ['a Y.Text', (m: Y.Map<unknown>) => m.set('77778', new Y.Text('junk'))],
  ] as const) {
    for (const store of ['tasks', 'resources']) {
      it(`is disconnected for putting ${what} where a ${store} record belongs, and the project still loads`, async () => {
        const doc = new Y.Doc();
        write(doc.getMap(store));
        const code = await closeCodeAfter(syncFrame(2, Y.encodeStateAsUpdate(doc)));
        expect(code).toBe(1008);
        const reply = await datasetOfProject1();
        expect(reply.error).toBeUndefined();
        expect(reply.dataset.tasksData.length).toBeGreaterThan(0);
      });
    }
  }

  it('is disconnected when it makes a store of a map that already holds something other than records, and the project still loads', async () => {
    const doc = new Y.Doc();
    doc.getMap('junk').set('a', 42);
    const first = syncFrame(2, Y.encodeStateAsUpdate(doc));
    const before = Y.encodeStateVector(doc);
    doc.getMap('$stores').set('junk', true);
    const second = syncFrame(2, Y.encodeStateAsUpdate(doc, before));
    const ws = new WebSocket(`ws://127.0.0.1:${s.port}/yjs/1?login=admin&password=admin`);
    await new Promise((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject)));
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    ws.send(first);
    ws.send(second);
    const code = await Promise.race([closed, new Promise<number>((resolve) => setTimeout(() => resolve(0), 2000))]);
    ws.terminate();
    expect(code).toBe(1008);
    const reply = await datasetOfProject1();
    expect(reply.error).toBeUndefined();
    expect(reply.dataset.tasksData.length).toBeGreaterThan(0);
  });

  it('is disconnected for putting a number in a store nothing had read since the project was loaded, and the project still loads', async () => {
    const own = await startServer();
    try {
      const doc = new Y.Doc();
      doc.getMap('changelogs').set('x', 42);
      const ws = new WebSocket(`ws://127.0.0.1:${own.port}/yjs/1?login=admin&password=admin`);
      await new Promise((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject)));
      const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
      ws.send(syncFrame(2, Y.encodeStateAsUpdate(doc)));
      const code = await Promise.race([closed, new Promise<number>((resolve) => setTimeout(() => resolve(0), 2000))]);
      ws.terminate();
      expect(code).toBe(1008);
      const c = await classicLogin(own.port);
      c.send({ command: 'dataset', project: 1 });
      const reply = await c.nextOf('dataset', 2000);
      await c.close();
      expect(reply.error).toBeUndefined();
      expect(reply.dataset.changelogsData).toEqual([]);
    } finally {
      await own.dispose();
    }
  });

  it('logs a Yjs socket that breaks the WebSocket framing before its token as a warning naming its address', async () => {
    const { lines, log } = recordingLog();
    const tokens = { secret: 'a-shared-secret-of-at-least-32-characters!' };
    const own = await startServer({ tokens }, undefined, log);
    try {
      // No credentials in the URL: the server waits for a token in the first frame.
      const ws = new WebSocket(`ws://127.0.0.1:${own.port}/yjs/1`);
      ws.on('error', () => undefined);
      await new Promise((resolve) => ws.once('open', resolve));
      const closed = new Promise((resolve) => ws.once('close', resolve));
      (ws as unknown as { _socket: Socket })._socket.write(Buffer.from([0x83, 0x80, 0, 0, 0, 0]));
      await closed;
      const logged = () => lines.filter(({ msg }) => msg.includes('socket error'));
      for (let i = 0; i < 100 && logged().length === 0; i++) await new Promise((r) => setTimeout(r, 20));
      expect(logged()).toHaveLength(1);
      expect(logged()[0].msg).toMatch(/^Yjs peer at \S*127\.0\.0\.1 before login: socket error: .+/);
      expect(logged()[0].fields).toEqual({ level: 'warn' });
    } finally {
      await own.dispose();
    }
  });

  it('logs a peer whose socket breaks the WebSocket framing as a warning naming the project, and keeps serving', async () => {
    const { lines, log } = recordingLog();
    const own = await startServer({}, undefined, log);
    try {
      const ws = new WebSocket(`ws://127.0.0.1:${own.port}/yjs/1?login=admin&password=admin`);
      ws.on('error', () => undefined);
      await new Promise((resolve) => ws.once('message', resolve));
      const closed = new Promise((resolve) => ws.once('close', resolve));
      // A masked, empty frame of opcode 3, which no WebSocket frame has.
      (ws as unknown as { _socket: Socket })._socket.write(Buffer.from([0x83, 0x80, 0, 0, 0, 0]));
      await closed;
      const logged = () => lines.filter(({ msg }) => msg.includes(': socket error: '));
      for (let i = 0; i < 100 && logged().length === 0; i++) await new Promise((r) => setTimeout(r, 20));
      expect(logged()).toHaveLength(1);
      expect(logged()[0].fields).toMatchObject({ level: 'warn', project: 1, user: 'admin' });
      const c = await classicLogin(own.port);
      c.send({ command: 'dataset', project: 1 });
      expect((await c.nextOf('dataset', 5000)).error).toBeUndefined();
      await c.close();
    } finally {
      await own.dispose();
    }
  });

  it('is disconnected (1007) for a frame of an unknown message or sync type, told which in the close reason', async () => {
    expect(await closeAfter(s.port, new Uint8Array([9]))).toEqual({ code: 1007, reason: 'invalid frame: unknown message type 9' });
    expect(await closeAfter(s.port, new Uint8Array([0, 7, 0]))).toEqual({ code: 1007, reason: 'invalid frame: unknown sync message type 7' });
    // A text frame is not a y-websocket frame at all.
    expect(await closeAfter(s.port, '[0,0,1,0]')).toEqual({ code: 1003, reason: 'Yjs peers speak binary y-websocket frames' });
  });

  it('is disconnected (1007) for an awareness state that is not JSON, and the server reports no uncaught exception', async () => {
    const uncaught: unknown[] = [];
    const onUncaught = (e: unknown) => void uncaught.push(e);
    process.on('uncaughtException', onUncaught);
    try {
      const inner = encoding.createEncoder();
      encoding.writeVarUint(inner, 1);
      encoding.writeVarUint(inner, 12345);
      encoding.writeVarUint(inner, 1);
      encoding.writeVarString(inner, '{broken');
      const e = encoding.createEncoder();
      encoding.writeVarUint(e, 1);
      encoding.writeVarUint8Array(e, encoding.toUint8Array(inner));
      expect(await closeAfter(s.port, encoding.toUint8Array(e))).toEqual({ code: 1007, reason: 'invalid awareness update' });
      expect(uncaught).toEqual([]);
    } finally {
      process.off('uncaughtException', onUncaught);
    }
  });

  it('is disconnected (1007) for a sync step 1 whose state vector is cut short, and nothing is logged as a server fault', async () => {
    const lines: string[] = [];
    const own = await startServer({}, undefined, (line) => lines.push(line));
    try {
      const ws = new WebSocket(`ws://127.0.0.1:${own.port}/yjs/1?login=admin&password=admin`);
      await new Promise((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject)));
      const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
      // A state vector claiming two entries and holding none.
      ws.send(syncFrame(0, new Uint8Array([2])));
      const code = await Promise.race([closed, new Promise<number>((resolve) => setTimeout(() => resolve(0), 2000))]);
      ws.terminate();
      expect(code).toBe(1007);
      expect(lines.filter((l) => /sync step 1 failed/.test(l))).toEqual([]);
    } finally {
      await own.dispose();
    }
  });

  for (const [what, fields] of [
    ['no id', { name: 'no id' }],
    ['an id that is an object', { id: { a: 1 }, name: 'object id' }],
    ['an empty id', { id: '', name: 'empty id' }],
    ['an id other than its key', { id: 77790, name: 'other id' }],
  ] as const) {
    it(`is disconnected for a record with ${what}, which no dataset then lists`, async () => {
      const doc = new Y.Doc();
      const record = new Y.Map<unknown>();
      record.set('$base', { ...fields, parentId: null, $order: 'z' });
      doc.getMap('tasks').set('77789', record);
      expect(await closeCodeAfter(syncFrame(2, Y.encodeStateAsUpdate(doc)))).toBe(1008);
      const reply = await datasetOfProject1();
      expect(reply.error).toBeUndefined();
      expect(JSON.stringify(reply.dataset.tasksData)).not.toContain(fields.name);
    });
  }

  it('may add a record whose id is its key, and is disconnected when it later turns that id into an object', async () => {
    const doc = new Y.Doc();
    const record = new Y.Map<unknown>();
    record.set('$base', { id: 77791, name: 'peer task 77791', parentId: null, $order: 'z' });
    doc.getMap('tasks').set('77791', record);
    const first = syncFrame(2, Y.encodeStateAsUpdate(doc));
    const before = Y.encodeStateVector(doc);
    record.set('id', { a: 1 });
    const second = syncFrame(2, Y.encodeStateAsUpdate(doc, before));
    const ws = new WebSocket(`ws://127.0.0.1:${s.port}/yjs/1?login=admin&password=admin`);
    await new Promise((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject)));
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    ws.send(first);
    const added = await datasetOfProject1();
    const task = JSON.stringify(added.dataset.tasksData);
    expect(task).toContain('"id":77791');
    ws.send(second);
    const code = await Promise.race([closed, new Promise<number>((resolve) => setTimeout(() => resolve(0), 2000))]);
    ws.terminate();
    expect(code).toBe(1008);
    const reply = await datasetOfProject1();
    expect(JSON.stringify(reply.dataset.tasksData)).toContain('"id":77791');
    expect(JSON.stringify(reply.dataset.tasksData)).not.toContain('{"a":1}');
  });
});
