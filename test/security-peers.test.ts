/**
 * Bounds on what one Yjs peer or catch-up request can make the server hold or relay.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as encoding from 'lib0/encoding';
import WebSocket from 'ws';
import { awarenessFrame, decodeYjsFrame, MESSAGE_SYNC } from '../src/protocol/yjs-wire.js';
import { classicLogin, revisionsLogin } from './support/client.js';
import { recordingLog, startServer, type LoggedLine, type TestServer } from './support/server.js';

let s: TestServer;
/** The server's log lines, with their fields. */
const logged: LoggedLine[] = [];
beforeAll(async () => {
  s = await startServer({
    users: {
      admin: { password: 'admin', group: 'admin' },
      viewer: { password: 'viewer', group: 'viewers' },
    },
    groups: { admin: [1, 2, 3], viewers: [1, 2, 3] },
    readOnlyGroups: ['viewers'],
    limits: { maxCatchUpChars: 300_000 } as never,
  }, undefined, recordingLog(logged).log);
});
afterAll(async () => s.dispose());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function rawPeer(project: string, login: string): Promise<{ ws: WebSocket; frames: Uint8Array[] }> {
  const ws = new WebSocket(`ws://127.0.0.1:${s.port}/yjs/${project}?login=${login}&password=${login}`);
  const frames: Uint8Array[] = [];
  ws.on('message', (d: Buffer) => frames.push(new Uint8Array(d)));
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve({ ws, frames }));
    ws.once('error', reject);
  });
}

const emptySyncStep1 = () => {
  const e = encoding.createEncoder();
  encoding.writeVarUint(e, MESSAGE_SYNC);
  encoding.writeVarUint(e, 0);
  encoding.writeVarUint8Array(e, new Uint8Array([0]));
  return encoding.toUint8Array(e);
};

function fakeAwareness(from: number, count: number, name = 'fake'): Uint8Array {
  const e = encoding.createEncoder();
  encoding.writeVarUint(e, count);
  for (let i = 0; i < count; i++) {
    encoding.writeVarUint(e, from + i);
    encoding.writeVarUint(e, 1);
    encoding.writeVarString(e, JSON.stringify({ user: { name: `${name} ${i}` } }));
  }
  return awarenessFrame(encoding.toUint8Array(e));
}

async function addTasks(project: number, count: number, name = 'x'): Promise<void> {
  const c = await classicLogin(s.port);
  c.send({ command: 'dataset', project });
  await c.nextOf('dataset', 5000);
  const added = Array.from({ length: count }, (_, i) => ({ $PhantomId: `_g${project}_${i}`, name: `${name} ${i}` }));
  c.send({ command: 'projectChange', project, changes: { tasks: { added } } });
  await c.nextOf('projectChange', 10_000);
  await c.close();
}

/** An honest client's dataset, as JSON text, which must come within `ms`. */
async function honestDatasetWithin(project: number, ms: number): Promise<string> {
  const c = await revisionsLogin(s.port);
  const started = Date.now();
  c.send({ command: 'dataset', data: { project } });
  const reply = await c.nextOf('dataset', ms);
  await c.close();
  expect(Date.now() - started).toBeLessThan(ms);
  return JSON.stringify(reply.data.dataset);
}

describe('Yjs peers are bounded', () => {
  it('a read-only peer sending 100 sync requests without reading gets them answered a few times, not a hundred, and others are served meanwhile', async () => {
    await addTasks(1, 2000);
    const { ws, frames } = await rawPeer('1', 'viewer');
    await sleep(200);
    frames.length = 0;
    const request = emptySyncStep1();
    for (let i = 0; i < 100; i++) ws.send(request);
    await honestDatasetWithin(1, 1000);
    await sleep(1500);
    const answers = frames.filter((f) => f[0] === MESSAGE_SYNC && decodeYjsFrame(f).type === 'update').length;
    expect(answers).toBeGreaterThan(0);
    expect(answers).toBeLessThanOrEqual(5);
    ws.close();
    s = await s.restart();
    expect(await honestDatasetWithin(1, 3000)).toContain('"x 1999"');
  });

  it('awareness frames announcing thousands of states are not relayed to other peers', async () => {
    const watcher = await rawPeer('2', 'admin');
    const hostile = await rawPeer('2', 'viewer');
    await sleep(200);
    watcher.frames.length = 0;
    const frame = fakeAwareness(1000, 2000);
    for (let i = 0; i < 5; i++) hostile.ws.send(frame);
    // A provider's one state still goes through.
    hostile.ws.send(fakeAwareness(77, 1));
    await honestDatasetWithin(2, 1000);
    await sleep(500);
    const relayed = watcher.frames.filter((f) => f[0] === 1);
    expect(relayed.reduce((n, f) => n + f.byteLength, 0)).toBeLessThan(10_000);
    expect(relayed.length).toBeGreaterThan(0);
    // Each dropped frame is logged as a warning naming the project and the sender.
    const drops = logged.filter(({ msg }) => msg.includes('client states dropped'));
    expect(drops).toHaveLength(5);
    expect(drops[0].msg).toMatch(/^yjs-\S+: awareness frame for 2000 client states dropped$/);
    expect(drops[0].fields).toMatchObject({ level: 'warn', project: 2, user: 'viewer' });
    hostile.ws.close();
    watcher.ws.close();
  });

  it('an awareness frame over 64 KB with one state is not relayed, and a small one after it is', async () => {
    const watcher = await rawPeer('3', 'admin');
    const sender = await rawPeer('3', 'viewer');
    await sleep(200);
    watcher.frames.length = 0;
    sender.ws.send(fakeAwareness(501, 1, 'w'.repeat(70_000)));
    sender.ws.send(fakeAwareness(502, 1, 'small'));
    await honestDatasetWithin(3, 1000);
    await sleep(500);
    const relayed = watcher.frames.filter((f) => f[0] === 1);
    expect(relayed.length).toBeGreaterThan(0);
    expect(relayed.reduce((n, f) => n + f.byteLength, 0)).toBeLessThan(10_000);
    expect(sender.ws.readyState).toBe(WebSocket.OPEN);
    const drops = logged.filter(({ msg }) => / awareness frame of \d+ bytes dropped$/.test(msg));
    expect(drops).toHaveLength(1);
    expect(drops[0].fields).toMatchObject({ level: 'warn', project: 3, user: 'viewer' });
    sender.ws.close();
    watcher.ws.close();
  });
});

describe('catch_up is bounded', () => {
  it('answers reload when the missed revisions are longer than the bound, and the revisions when they fit', async () => {
    for (let i = 0; i < 6; i++) await addTasks(3, 400, `batch ${i} ${'y'.repeat(60)}`);
    const c = await revisionsLogin(s.port, 'viewer', 'viewer');
    c.send({ command: 'catch_up', data: { project: 3, since: 'server-0' } });
    const far = await c.nextOf('catch_up', 3000);
    if (!far.data) throw new Error(JSON.stringify(far).slice(0, 300));
    expect(far.data.reload).toBe(true);
    expect(far.data.revisions).toBeUndefined();
    // Told to reload, it is not subscribed: the next change reaches it only once it caught up.
    await addTasks(3, 1, 'while reloading');
    expect((await c.drain(300)).filter((m) => m.command === 'project_change')).toEqual([]);
    const latest = Number(String(far.data.revision).slice('server-'.length)) + 1;
    c.send({ command: 'catch_up', data: { project: 3, since: `server-${latest - 1}` } });
    const near = await c.nextOf('catch_up', 3000);
    expect(near.data.revisions).toHaveLength(1);
    expect(near.data.revision).toBe(`server-${latest}`);
    await c.close();
    expect(await honestDatasetWithin(3, 1000)).toContain('batch 5');
    s = await s.restart();
    expect(await honestDatasetWithin(3, 3000)).toContain('batch 5');
  });
});
