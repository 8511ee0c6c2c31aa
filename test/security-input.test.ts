/**
 * Hostile records in changes: each is refused before the transaction, with an error to the
 * sender, while the project keeps serving others and its data survives a restart.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from './support/server.js';
import { TestClient, classicLogin, type Msg } from './support/client.js';
import type { ConfigInput } from '../src/config/schema.js';

const servers: TestServer[] = [];
const clients: TestClient[] = [];

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(servers.splice(0).map((s) => s.dispose()));
});

async function serve(overrides: Partial<ConfigInput> = {}): Promise<TestServer> {
  const server = await startServer(overrides);
  servers.push(server);
  return server;
}

async function login(port: number, name: string): Promise<TestClient> {
  const c = await classicLogin(port, name);
  clients.push(c);
  c.send({ command: 'dataset', project: 1 });
  await c.nextOf('dataset', 5000);
  return c;
}

function allTasks(nodes: Msg[], out: Msg[] = []): Msg[] {
  for (const n of nodes) {
    out.push(n);
    if (Array.isArray(n.children)) allTasks(n.children, out);
  }
  return out;
}

async function tasks(port: number): Promise<Msg[]> {
  const c = await classicLogin(port, `reader-${Date.now()}`);
  clients.push(c);
  c.send({ command: 'dataset', project: 1 });
  const ds = await c.nextOf('dataset', 5000);
  return allTasks(ds.dataset.tasksData);
}

/** An honest client on another connection adds a task and is answered within a second. */
async function honestEdit(port: number, name: string): Promise<void> {
  const c = await login(port, `honest-${name}`);
  const started = Date.now();
  c.send({ command: 'projectChange', project: 1, changes: { tasks: { added: [{ $PhantomId: `ph-${name}`, name, parentId: 1000, parentIndex: 0 }] } } });
  const reply = await c.nextOf('projectChange', 1000);
  expect(reply.error).toBeUndefined();
  expect(Date.now() - started).toBeLessThan(1000);
}

async function refused(c: TestClient, text: string): Promise<Msg> {
  c.ws.send(text);
  // A refused change is answered in the protocol's error shape: { command: 'error', message }.
  const reply = await c.nextOf('error', 2000);
  expect(reply.message).toMatch(/^projectChange refused: /);
  return { error: reply.message };
}

describe('hostile records in a change', () => {
  it('refuses a record with an own __proto__ key, so it is neither served nor relayed', async () => {
    const s = await serve();
    const bad = await login(s.port, 'mallory');
    const watcher = await login(s.port, 'watcher');
    const reply = await refused(bad, '{"command":"projectChange","project":1,"changes":{"tasks":{"added":[{"$PhantomId":"pp1","name":"proto-task","parentId":1000,"__proto__":{"duration":99}}]}}}');
    expect(reply.error).toMatch(/__proto__|plain/);
    const relayed = await watcher.drain(300);
    expect(JSON.stringify(relayed)).not.toContain('proto-task');
    await honestEdit(s.port, 'after-proto');
    expect((await tasks(s.port)).some((t) => t.name === 'proto-task')).toBe(false);
    const r = await s.restart();
    servers.push(r);
    const names = (await tasks(r.port)).map((t) => t.name);
    expect(names).toContain('after-proto');
    expect(names).not.toContain('proto-task');
  });

  it('refuses a field named constructor and values nested too deep without reloading the project', async () => {
    const s = await serve();
    const bad = await login(s.port, 'mallory');
    await honestEdit(s.port, 'before');
    await refused(bad, JSON.stringify({ command: 'projectChange', project: 1, changes: { tasks: { added: [{ $PhantomId: 'c1', name: 'ctor', parentId: 1000, constructor: 1 }] } } }));
    const deep = '{"a":'.repeat(4000) + '1' + '}'.repeat(4000);
    await refused(bad, `{"command":"projectChange","project":1,"changes":{"tasks":{"updated":[{"id":1000,"note":${deep}}]}}}`);
    await refused(bad, '{"command":"projectChange","project":1,"changes":{"$stores":{"updated":[{"id":"tasks"}]}}}');
    await honestEdit(s.port, 'after');
    const r = await s.restart();
    servers.push(r);
    const names = (await tasks(r.port)).map((t) => t.name);
    expect(names).toEqual(expect.arrayContaining(['before', 'after']));
    expect(names).not.toContain('ctor');
  });

  it('refuses store names of Object.prototype members and leaves global objects alone', async () => {
    const s = await serve();
    const bad = await login(s.port, 'mallory');
    for (const store of ['constructor', 'toString', 'hasOwnProperty']) {
      await refused(bad, JSON.stringify({ command: 'projectChange', project: 1, changes: { [store]: { removed: [{ id: 1 }], updated: [{ id: 2, x: 1 }] } } }));
    }
    expect(Object.prototype.hasOwnProperty.call(Object, 'removed')).toBe(false);
    expect(Object.prototype.hasOwnProperty.call(Function.prototype, 'removed')).toBe(false);
    await honestEdit(s.port, 'after-stores');
    const r = await s.restart();
    servers.push(r);
    expect((await tasks(r.port)).map((t) => t.name)).toContain('after-stores');
  });

  it('refuses a change with more records than maxRecordsPerChange as a whole, with an error', async () => {
    const s = await serve({ limits: { maxRecordsPerChange: 50 } } as Partial<ConfigInput>);
    const bad = await login(s.port, 'mallory');
    const added = Array.from({ length: 60 }, (_, i) => ({ $PhantomId: `big${i}`, name: `big${i}`, parentId: 1000 }));
    const reply = await refused(bad, JSON.stringify({ command: 'projectChange', project: 1, changes: { tasks: { added } } }));
    expect(reply.error).toMatch(/at most 50 records/);
    await honestEdit(s.port, 'after-big');
    const r = await s.restart();
    servers.push(r);
    const names = (await tasks(r.port)).map((t) => t.name);
    expect(names).toContain('after-big');
    expect(names).not.toContain('big0');
  });
});

describe('a connection sending refused changes over and over', () => {
  it('is closed (1008) past maxRefusalsPerMinute, while Yjs peers of the project stay connected (no reload)', async () => {
    const s = await serve({ limits: { maxRefusalsPerMinute: 5 } as never });
    const { default: WebSocket } = await import('ws');
    const peer = new WebSocket(`ws://127.0.0.1:${s.port}/yjs/1?login=admin&password=admin`);
    let peerClosed: number | null = null;
    peer.on('close', (code) => (peerClosed = code));
    await new Promise((r) => peer.once('open', r));
    const bad = await login(s.port, 'mallory');
    const ctor = JSON.stringify({ command: 'projectChange', project: 1, changes: { tasks: { added: [{ $PhantomId: 'c1', name: 'ctor', parentId: 1000, constructor: 1 }] } } });
    for (let i = 0; i < 5; i++) await refused(bad, ctor);
    expect(bad.closed).toBe(false);
    bad.send(ctor);
    await bad.nextOf('error', 2000);
    const end = Date.now() + 2000;
    while (!bad.closed && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    expect(bad.closeCode).toBe(1008);
    expect(bad.closeReason).toBe('too many refused changes');
    expect(peerClosed).toBeNull();
    await honestEdit(s.port, 'after-refusals');
    peer.close();
    const r = await s.restart();
    servers.push(r);
    const names = (await tasks(r.port)).map((t) => t.name);
    expect(names).toContain('after-refusals');
    expect(names).not.toContain('ctor');
  });
});

describe('change sets keyed by store names', () => {
  it('merge stores named like Object methods as stores of their own, leaving global objects alone', async () => {
    const { together } = await import('../src/protocol/changes.js');
    const merged = together({ tasks: { updated: [{ id: 1, name: 'a' }] } }, { constructor: { removed: [{ id: 2 }] }, toString: { updated: [{ id: 3 }] } } as never)!;
    expect(Object.hasOwn(merged, 'constructor')).toBe(true);
    expect((merged as Record<string, unknown>).constructor).toEqual({ removed: [{ id: 2 }] });
    expect((Object as unknown as Record<string, unknown>).removed).toBeUndefined();
    expect((Object.prototype.toString as unknown as Record<string, unknown>).updated).toBeUndefined();
  });
});

describe('a connection sending big changes back to back', () => {
  it('waits for its records-per-second budget, while others are answered at once, and nothing it sent is dropped', async () => {
    const s = await serve({ limits: { maxRecordsPerSecond: 1000 } as never });
    const big = await login(s.port, 'bulk');
    const started = Date.now();
    for (let k = 0; k < 3; k++) {
      const added = Array.from({ length: 1000 }, (_, i) => ({ $PhantomId: `b${k}_${i}`, name: `bulk ${k}.${i}`, parentId: 1000 }));
      big.send({ command: 'projectChange', project: 1, changes: { tasks: { added } } });
    }
    await new Promise((r) => setTimeout(r, 100));
    await honestEdit(s.port, 'meanwhile');
    for (let k = 0; k < 3; ) {
      const m = await big.nextOf('projectChange', 5000);
      if (m.changes.tasks?.added?.some((t: Msg) => String(t.name).startsWith('bulk '))) k++;
    }
    // A full bucket takes the first; the next two wait a second each.
    expect(Date.now() - started).toBeGreaterThan(1800);
    const r = await s.restart();
    servers.push(r);
    const names = (await tasks(r.port)).map((t) => t.name);
    expect(names.filter((n) => String(n).startsWith('bulk ')).length).toBe(3000);
    expect(names).toContain('meanwhile');
  });
});
