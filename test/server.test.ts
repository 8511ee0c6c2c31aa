import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { classicLogin, revisionsLogin } from './support/client.js';
import { startServer, tempDir, type TestServer } from './support/server.js';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect } from 'node:net';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';

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
    expect(Object.keys(ds.dataset)).toHaveLength(8);
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

describe('large datasets', () => {
  let big: TestServer;
  const TASKS = 4000;
  beforeAll(async () => {
    const dir = await tempDir();
    const seed = join(dir, 'big.json');
    const rows = Array.from({ length: TASKS }, (_, i) => ({ id: i + 1, name: `Task ${i + 1} 😀 ${'é'.repeat(i % 7)}${'x'.repeat(300)}`, duration: 1 }));
    await writeFile(seed, JSON.stringify({ success: true, project: { startDate: '2025-01-06' }, tasks: { rows } }));
    big = await startServer({ projects: [{ id: 1, name: 'Big', seed }], groups: { admin: [1], user: [1] }, anonymous: { enabled: false } });
  });
  afterAll(async () => big.dispose());

  it('are streamed as fragments of one message, with changes made meanwhile arriving after it in order', async () => {
    const writer = await classicLogin(big.port, 'alex');
    writer.send({ command: 'dataset', project: 1 });
    await writer.nextOf('dataset', 10_000);
    const reader = await classicLogin(big.port);
    const revisions = await revisionsLogin(big.port, 'ben');
    reader.send({ command: 'dataset', project: 1 });
    revisions.send({ command: 'dataset', data: { project: 1 } });
    for (let i = 0; i < 5; i++) writer.send({ command: 'projectChange', project: 1, changes: { tasks: { updated: [{ id: 1, name: `edit ${i}` }] } } });

    // Announcements of the later logins may come first; no change may come before the dataset.
    const before: string[] = [];
    let ds = await reader.next(10_000);
    for (let i = 0; i < 10 && ds.command !== 'dataset'; i++) before.push(ds.command), (ds = await reader.next(10_000));
    expect(before).not.toContain('projectChange');
    expect(ds.command).toBe('dataset');
    expect(ds.dataset.tasksData).toHaveLength(TASKS);
    expect(ds.dataset.tasksData[5].name).toBe(`Task 6 😀 ${'é'.repeat(5)}${'x'.repeat(300)}`);
    const rds = await revisions.nextOf('dataset', 10_000);
    expect(rds.data.dataset.tasksData).toHaveLength(TASKS);
    // Every edit the dataset did not hold yet follows it, in order, as a message of its own.
    const seen = [ds.dataset.tasksData[0].name];
    for (;;) {
      if (seen.at(-1) === 'edit 4') break;
      seen.push((await reader.nextOf('projectChange', 5000)).changes.tasks.updated[0].name);
    }
    const edits = seen.filter((n) => n.startsWith('edit'));
    expect(edits).toEqual(['edit 0', 'edit 1', 'edit 2', 'edit 3', 'edit 4'].slice(5 - edits.length));
    expect(reader.closed || revisions.closed).toBe(false);
    await Promise.all([writer.close(), reader.close(), revisions.close()]);
  });

  it('reach a client as several WebSocket frames that continue one text message', async () => {
    const frames = await rawFrames(big.port, [
      { command: 'login', login: 'admin', password: 'admin' },
      { command: 'dataset', project: 1 },
    ], (text) => text.includes('"command":"dataset"'));
    const dataset = frames.slice(frames.findIndex((f) => f.opcode === 1 && !f.fin));
    expect(dataset.length).toBeGreaterThan(2);
    expect(dataset.slice(1).every((f) => f.opcode === 0)).toBe(true);
    expect(dataset.at(-1)!.fin).toBe(true);
    const text = Buffer.concat(dataset.map((f) => f.payload)).toString('utf8');
    expect(JSON.parse(text).dataset.tasksData).toHaveLength(TASKS);
  });
});

/** A bare WebSocket client that records the frames it receives until `done` holds for a whole message. */
async function rawFrames(port: number, messages: object[], done: (text: string) => boolean): Promise<{ opcode: number; fin: boolean; payload: Buffer }[]> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.write(`GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  const frames: { opcode: number; fin: boolean; payload: Buffer }[] = [];
  let buffer = Buffer.alloc(0);
  let upgraded = false;
  let message: Buffer[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => (socket.destroy(), reject(new Error('no complete dataset within 10 s'))), 10_000);
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      if (!upgraded) {
        const end = buffer.indexOf('\r\n\r\n');
        if (end < 0) return;
        upgraded = true;
        buffer = buffer.subarray(end + 4);
        for (const m of messages) socket.write(maskedTextFrame(JSON.stringify(m)));
      }
      for (;;) {
        if (buffer.length < 2) return;
        const fin = (buffer[0] & 0x80) !== 0;
        const opcode = buffer[0] & 0x0f;
        let length = buffer[1] & 0x7f;
        let offset = 2;
        if (length === 126) (length = buffer.readUInt16BE(2)), (offset = 4);
        else if (length === 127) (length = Number(buffer.readBigUInt64BE(2))), (offset = 10);
        if (buffer.length < offset + length) return;
        const payload = buffer.subarray(offset, offset + length);
        buffer = buffer.subarray(offset + length);
        frames.push({ opcode, fin, payload });
        message.push(payload);
        if (!fin) continue;
        const text = Buffer.concat(message).toString('utf8');
        message = [];
        if (done(text)) {
          clearTimeout(timer);
          socket.destroy();
          return resolve(frames);
        }
      }
    });
  });
}

function maskedTextFrame(text: string): Buffer {
  const payload = Buffer.from(text, 'utf8');
  const mask = randomBytes(4);
  const head = payload.length < 126 ? Buffer.from([0x81, 0x80 | payload.length]) : Buffer.from([0x81, 0x80 | 126, payload.length >> 8, payload.length & 0xff]);
  return Buffer.concat([head, mask, Buffer.from(payload.map((b, i) => b ^ mask[i % 4]))]);
}

describe('dataset key names', () => {
  it('are the legacy ones by default and the plain ones Bryntum 7.x reads when datasetKeys is "plain", in replies and reset broadcasts', async () => {
    const plain = await startServer({ datasetKeys: 'plain' });
    try {
      const c = await classicLogin(plain.port);
      c.send({ command: 'dataset', project: 1 });
      const ds = await c.nextOf('dataset');
      expect(Object.keys(ds.dataset)).toEqual(['tasks', 'resources', 'dependencies', 'assignments', 'calendars', 'versionsData', 'changelogsData', 'project']);
      expect(ds.projectMeta).toBeDefined();
      expect(ds.dataset.tasks[0].children.length).toBeGreaterThan(0);

      const r = await revisionsLogin(plain.port, 'ben');
      r.send({ command: 'dataset', data: { project: 1 } });
      const rds = await r.nextOf('dataset');
      expect(Object.keys(rds.data.dataset)).toEqual(['tasks', 'resources', 'dependencies', 'assignments', 'calendars', 'versionsData', 'changelogsData', 'project']);

      c.send({ command: 'reset', project: 1 });
      const pushed = await r.nextOf('dataset', 5000);
      expect(Object.keys(pushed.data.dataset)).toContain('tasks');
      expect(pushed.data.dataset.tasksData).toBeUndefined();
      await Promise.all([c.close(), r.close()]);
    } finally {
      await plain.dispose();
    }

    const c = await classicLogin(s.port);
    c.send({ command: 'dataset', project: 2 });
    expect(Object.keys((await c.nextOf('dataset')).dataset)).toEqual(['tasksData', 'resourcesData', 'dependenciesData', 'assignmentsData', 'calendarsData', 'versionsData', 'changelogsData', 'project']);
    await c.close();
  });

  it('carry the project fields inside the classic reply\'s dataset as well as in projectMeta, on the default configuration', async () => {
    const c = await classicLogin(s.port);
    c.send({ command: 'dataset', project: 2 });
    const ds = await c.nextOf('dataset');
    expect(Object.keys(ds.dataset)).toEqual(['tasksData', 'resourcesData', 'dependenciesData', 'assignmentsData', 'calendarsData', 'versionsData', 'changelogsData', 'project']);
    expect(ds.dataset.project).toEqual(ds.projectMeta);
    await c.close();
  });
});
