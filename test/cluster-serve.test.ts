/**
 * Cluster mode inside one test process: two or three Weft servers, each with its own LevelDB,
 * sharing projects through a real redis-server started here. One sequences a project (it opened it
 * first); the others follow its stream and forward their clients' changes to it.
 */
import { Redis } from 'ioredis';
import WebSocket from 'ws';
import * as Y from 'yjs';
import { WebsocketProvider } from 'y-websocket';
import { readField } from '../src/document/layout.js';
import { Simulation } from '../src/simulate/runner.js';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { decodeEntry, decodeSnapshotExtra, encodeEntry, encodeSnapshotExtra, MalformedEntry, type Committed } from '../src/cluster/entry.js';
import { SharedVersions } from '../src/cluster/shared-versions.js';
import { ProjectLease } from '../src/cluster/lease.js';
import { ProjectOwnership, OwnershipLost, toEntryDeliveries } from '../src/cluster/ownership.js';
import { ProjectStream } from '../src/cluster/project-stream.js';
import { projectRedisKeys } from '../src/cluster/redis-keys.js';
import { alignWithStream, readStreamState } from '../src/cluster/take-over.js';
import { Storage, type ProjectMeta } from '../src/persistence/storage.js';
import type { ConfigInput } from '../src/config/schema.js';
import { classicLogin, revisionsLogin, TestClient, type Msg } from './support/client.js';
import { hasRedisServer, noticeIfRedisMissing, startRedis, type TestRedis } from './support/redis.js';
import { recordingLog, startServer, tempDir, type TestServer } from './support/server.js';
import { waitFor } from './support/wait.js';

type Rec = Record<string, any>;

const META: ProjectMeta = { nextId: 100, nextRevision: 3, phantomEpoch: 0, firstLoggedRevision: 1, createdAt: '2026-01-01T00:00:00.000Z' };
const revisionText = (n: number, client = 'c1') => ({ n, text: JSON.stringify({ revision: `server-${n}`, client, changes: { tasks: { updated: [{ id: 1, name: `r${n}` }] } } }) });
const asRead = (fields: Record<string, Buffer | string>) => new Map(Object.entries(fields).map(([k, v]) => [k, Buffer.isBuffer(v) ? v : Buffer.from(v, 'utf8')]));

describe('How a stream entry says who gets which revisions', () => {
  const base: Committed = { update: null, revisions: [revisionText(1), revisionText(2, 'c2')], meta: META, phantoms: [], versionContents: [], removedVersions: [] };

  it('round-trips deliveries: echo left out, finals, the classic variant and a reset', () => {
    const deliveries = toEntryDeliveries(
      [
        { revisions: [JSON.parse(revisionText(1).text)], noEcho: 'c1', finals: { connection: 'c1', changes: { tasks: { updated: [{ id: 1, name: 'final' }] } } } },
        { revisions: [JSON.parse(revisionText(2, 'c2').text)], classic: [{ revision: 'server-2', client: 'c2', changes: {} }] },
      ],
      { user: 'ann', announce: true },
    );
    const back = decodeEntry(asRead(encodeEntry({ ...base, deliveries })));
    expect(back.deliveries).toEqual([
      { count: 1, noEcho: 'c1', finals: { connection: 'c1', changes: { tasks: { updated: [{ id: 1, name: 'final' }] } } } },
      { count: 1, classic: [{ revision: 'server-2', client: 'c2', changes: {} }] },
      { count: 0, reset: { user: 'ann', announce: true } },
    ]);
  });

  it('carries the server-side versions in an entry and in a snapshot extra, and refuses malformed ones', () => {
    const version = { n: 2, time: '2026-01-01T00:00:00.000Z', label: 'Autosave 2', reason: 'auto' as const, authors: ['ann'], changes: 3, lastRevision: 'server-2', bytes: 10, parts: 1 };
    expect(decodeEntry(asRead(encodeEntry({ ...base, serverVersions: [version] }))).serverVersions).toEqual([version]);
    expect(decodeEntry(asRead(encodeEntry(base))).serverVersions).toBeUndefined();
    const extra = { meta: META, phantoms: [], versionContents: [], serverVersions: [version] };
    expect(decodeSnapshotExtra(Buffer.from(encodeSnapshotExtra(extra))).serverVersions).toEqual([version]);
    const fields = asRead(encodeEntry(base));
    for (const bad of ['[{"n":0}]', '{}', '[{"n":1,"time":"t","label":"l","reason":"other","authors":[],"changes":0,"lastRevision":null,"bytes":0}]']) {
      expect(() => decodeEntry(new Map([...fields, ['s', Buffer.from(bad)]])), bad).toThrow(MalformedEntry);
    }
  });

  it('refuses deliveries that do not take exactly the entry revisions, or are not the documented shape', () => {
    expect(() => encodeEntry({ ...base, deliveries: [{ count: 1 }] })).toThrow(/take 1 revisions of 2/);
    const fields = asRead(encodeEntry(base));
    for (const bad of ['[{"n":1}]', '[]', '{"n":2}', '[{"n":2,"x":1}]', '[{"n":2,"f":["c1"]}]', '[{"n":2,"z":["u","yes"]}]', 'nope']) {
      const error = (() => {
        try {
          decodeEntry(new Map([...fields, ['d', Buffer.from(bad)]]));
        } catch (e) {
          return e;
        }
        return null;
      })();
      expect(error, bad).toBeInstanceOf(MalformedEntry);
      expect((error as MalformedEntry).field).toBe('d');
    }
  });
});

describe.skipIf(!hasRedisServer())('Cluster mode on a real redis-server', () => {
  noticeIfRedisMissing();
  let redis: TestRedis;
  let client: Redis;
  const servers: TestServer[] = [];
  const clients: TestClient[] = [];
  let prefixCount = 0;
  let prefix = 'weft';

  beforeAll(async () => {
    redis = await startRedis();
    client = new Redis(redis.url);
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.close();
    for (const s of servers.splice(0)) await s.dispose();
  });
  afterAll(async () => {
    client?.disconnect();
    await redis?.dispose();
  });

  /** A node of a fresh cluster (each test its own key prefix). */
  async function node(nodeId: string, leaseMs = 3000, more: Partial<ConfigInput> = {}): Promise<TestServer> {
    const s = await startServer({ ...more, cluster: { redis: redis.url, nodeId, leaseMs, prefix } });
    servers.push(s);
    return s;
  }
  const fresh = () => (prefix = `t${++prefixCount}`);

  async function classicOn(s: TestServer, project: unknown = 1): Promise<{ c: TestClient; dataset: Msg }> {
    const c = await classicLogin(s.port);
    clients.push(c);
    c.send({ command: 'dataset', project });
    const dataset = await c.nextOf('dataset', 10_000);
    expect(dataset.error, JSON.stringify(dataset).slice(0, 300)).toBeUndefined();
    return { c, dataset };
  }

  async function revisionsOn(s: TestServer, project: unknown = 1): Promise<{ c: TestClient & { clientId: string }; dataset: Msg }> {
    const c = await revisionsLogin(s.port);
    clients.push(c);
    c.send({ command: 'dataset', data: { project } });
    const dataset = await c.nextOf('dataset', 10_000);
    expect(dataset.error, JSON.stringify(dataset).slice(0, 300)).toBeUndefined();
    return { c, dataset };
  }

  /** Reads `command` messages until one matches (bounded). */
  async function until(c: TestClient, command: string, match: (m: Msg) => boolean, ms = 10_000): Promise<Msg> {
    const deadline = Date.now() + ms;
    for (;;) {
      const m = await c.nextOf(command, Math.max(1, deadline - Date.now()));
      if (match(m)) return m;
    }
  }

  /** Task ids and names of a nested tasks list. */
  function tasksOf(rows: Rec[], out = new Map<unknown, string>()): Map<unknown, string> {
    for (const r of rows) {
      out.set(r.id, r.name);
      if (Array.isArray(r.children)) tasksOf(r.children, out);
    }
    return out;
  }

  it('delivers a change made on a following node to clients of the owner and of the follower, in both generations', async () => {
    fresh();
    const a = await node('a');
    const b = await node('b');
    const owner = await classicOn(a);
    const follower = await revisionsOn(b);
    const other = await classicOn(b);
    // The follower's clients loaded the same project the owner holds.
    expect([...tasksOf(follower.dataset.data.dataset.tasksData)]).toEqual([...tasksOf(owner.dataset.dataset.tasksData)]);

    follower.c.send({ command: 'project_change', data: { project: 1, client: follower.c.clientId, revisions: [{ revision: 'local-1', clientId: follower.c.clientId, changes: { tasks: { added: [{ $PhantomId: '_generated_f1', name: 'from b' }] } } }] } });
    const own = await follower.c.nextOf('project_change', 10_000);
    const [revision] = own.data.revisions;
    expect(revision.localRevision).toBe('local-1');
    const id = revision.changes.tasks.added[0].id;
    expect(typeof id).toBe('number');
    const seenByOwner = await owner.c.nextOf('projectChange', 10_000);
    expect(seenByOwner.changes.tasks.added[0]).toMatchObject({ id, name: 'from b' });
    const seenByOther = await other.c.nextOf('projectChange', 10_000);
    expect(seenByOther.changes.tasks.added[0]).toMatchObject({ id, name: 'from b' });

    // And back: a classic change on the owner reaches the follower's clients.
    owner.c.send({ command: 'projectChange', project: 1, changes: { tasks: { updated: [{ id, name: 'renamed on a' }] } } });
    const renamed = await follower.c.nextOf('project_change', 10_000);
    expect(renamed.data.revisions[0].changes.tasks.updated[0]).toMatchObject({ id, name: 'renamed on a' });
    const renamedOther = await other.c.nextOf('projectChange', 10_000);
    expect(renamedOther.changes.tasks.updated[0]).toMatchObject({ id, name: 'renamed on a' });

    // Loaded again from either node: the same tasks.
    const again = [await classicOn(a), await classicOn(b)].map((x) => tasksOf(x.dataset.dataset.tasksData));
    expect(again[1].get(id)).toBe('renamed on a');
    expect([...again[1]]).toEqual([...again[0]]);
  });

  it('answers a catch-up on a following node with the owner\'s logged revisions, up to the last one delivered there', async () => {
    fresh();
    const a = await node('a');
    const b = await node('b');
    const writer = await revisionsOn(b);
    const start = Number(String(writer.dataset.data.revision).slice(7));
    for (let i = 1; i <= 3; i++) {
      writer.c.send({ command: 'project_change', data: { project: 1, client: writer.c.clientId, revisions: [{ revision: `local-${i}`, clientId: writer.c.clientId, changes: { tasks: { updated: [{ id: 11, name: `caught ${i}` }] } } }] } });
      expect((await writer.c.nextOf('project_change', 10_000)).data.revisions[0].revision).toBe(`server-${start + i}`);
    }
    const catchUp = async (s: TestServer) => {
      const c = await revisionsLogin(s.port);
      clients.push(c);
      c.send({ command: 'catch_up', data: { project: 1, since: `server-${start + 1}` } });
      return (await c.nextOf('catch_up', 10_000)).data;
    };
    const onB = await catchUp(b);
    expect(onB.reload).toBeUndefined();
    expect(onB.revisions.map((r: Msg) => [r.revision, r.changes.tasks.updated[0].name])).toEqual([
      [`server-${start + 2}`, 'caught 2'],
      [`server-${start + 3}`, 'caught 3'],
    ]);
    expect(onB).toEqual(await catchUp(a));
  });

  it('lets a Yjs peer on a following node sync, write through the owner and receive changes from other nodes', async () => {
    fresh();
    const a = await node('a');
    const b = await node('b');
    const owner = await classicOn(a);
    const doc = new Y.Doc();
    const provider = new WebsocketProvider(`ws://127.0.0.1:${b.port}/yjs`, '1', doc, { WebSocketPolyfill: WebSocket as never, params: { login: 'admin', password: 'admin' }, disableBc: true });
    try {
      await new Promise<void>((resolve) => provider.once('sync', () => resolve()));
      const tasks = doc.getMap('tasks') as Y.Map<Y.Map<unknown>>;
      expect(readField(tasks.get('11')!, 'name')).toBeTypeOf('string');
      tasks.get('11')!.set('name', 'from a peer on b');
      expect((await owner.c.nextOf('projectChange', 10_000)).changes.tasks.updated).toEqual([{ id: 11, name: 'from a peer on b' }]);
      owner.c.send({ command: 'projectChange', project: 1, changes: { tasks: { updated: [{ id: 12, name: 'from a' }] } } });
      await waitFor(() => readField(tasks.get('12')!, 'name') === 'from a', 10_000, 'the peer on b to get the change made on a');
      // A write the owner refuses closes the peer, as on one node.
      let deep: Rec = { leaf: 1 };
      for (let i = 0; i < 70; i++) deep = { deep };
      const closed = new Promise<number>((resolve) => provider.ws?.addEventListener('close', (e: { code: number }) => resolve(e.code)));
      tasks.get('12')!.set('note', deep);
      expect(await closed).toBe(1008);
    } finally {
      provider.destroy();
    }
  });

  it('lists users and project presence of every node, announces logins on other nodes, and passes Yjs awareness between nodes', async () => {
    fresh();
    const a = await node('a');
    const b = await node('b');
    const ann = await classicOn(a);
    ann.c.send({ command: 'presence', project: 1 });
    expect((await ann.c.nextOf('presence', 10_000)).users).toEqual(['admin']);
    // ben logs in on b: a's client hears of it and its users list holds both.
    const ben = await classicLogin(b.port, 'ben');
    clients.push(ben);
    expect((await ann.c.nextOf('login', 10_000)).userName).toBe('ben');
    await until(ann.c, 'users', (m) => [...m.users].sort().join() === 'admin,ben');
    // A login on b gets a users list with a's users in it.
    const alex = await TestClient.connect(b.port);
    clients.push(alex);
    alex.send({ command: 'login', login: 'alex', password: 'alex' });
    expect([...(await alex.nextOf('users', 10_000)).users].sort()).toEqual(['admin', 'alex', 'ben']);
    // ben opens the project on b: he is present in it for a's client too.
    ben.send({ command: 'dataset', project: 1 });
    await ben.nextOf('dataset', 10_000);
    await until(ann.c, 'presence', (m) => [...m.users].sort().join() === 'admin,ben');

    // A Yjs peer on each node: each sees the other's awareness state.
    const peerOn = (s: TestServer, login: string) => {
      const doc = new Y.Doc();
      const provider = new WebsocketProvider(`ws://127.0.0.1:${s.port}/yjs`, '1', doc, { WebSocketPolyfill: WebSocket as never, params: { login, password: login }, disableBc: true });
      return { doc, provider };
    };
    const p1 = peerOn(a, 'admin');
    const p2 = peerOn(b, 'alex');
    try {
      p1.provider.awareness.setLocalStateField('cursor', 'on a');
      p2.provider.awareness.setLocalStateField('cursor', 'on b');
      const cursors = (p: typeof p1) => [...p.provider.awareness.getStates().values()].map((st) => (st as Rec).cursor).filter(Boolean);
      await waitFor(() => cursors(p1).includes('on b') && cursors(p2).includes('on a'), 10_000, 'each peer to see the other node\'s peer');
      // A peer whose connection drops (no goodbye) is gone for the other node's peers at once, not after awareness times out.
      p2.provider.shouldConnect = false;
      (p2.provider.ws as unknown as WebSocket).terminate();
      await waitFor(() => !cursors(p1).includes('on b'), 5_000, 'the peer on b gone for the peer on a');
    } finally {
      p1.provider.destroy();
      p2.provider.destroy();
    }

    // b shuts down: its users leave a's lists.
    await ben.close();
    await b.dispose();
    servers.splice(servers.indexOf(b), 1);
    expect((await ann.c.nextOf('logout', 10_000)).userName).toBe('ben');
    await until(ann.c, 'users', (m) => m.users.join() === 'admin');
  });

  it('names its node in every metric and log line, counts projects by role, and says through the admin API who sequences what', async () => {
    fresh();
    const { lines, log } = recordingLog();
    const a = await startServer({ cluster: { redis: redis.url, nodeId: 'a', leaseMs: 3000, prefix } }, undefined, log);
    servers.push(a);
    const { lines: bLines, log: bLog } = recordingLog();
    const b = await startServer({ cluster: { redis: redis.url, nodeId: 'b', leaseMs: 3000, prefix } }, undefined, bLog);
    servers.push(b);
    const owner = await classicOn(a);
    await classicOn(b);
    // Each node says which role it took for the project, naming it and the node.
    expect(lines.filter((l) => /^project 1: sequenced by this node \(epoch \d+, stream at \d+\)$/.test(l.msg)).map((l) => l.fields)).toEqual([{ project: 1, node: 'a' }]);
    expect(bLines.filter((l) => l.msg.startsWith('project 1: following it'))).toEqual([
      { msg: 'project 1: following it (sequenced by node a)', fields: { project: 1, node: 'b' } },
    ]);
    owner.c.send({ command: 'projectChange', project: 1, changes: { tasks: { added: [{ $PhantomId: '_generated_m1', name: 'counted' }] } } });
    await owner.c.nextOf('projectChange', 10_000);
    const bClient = await classicOn(b);
    bClient.c.send({ command: 'projectChange', project: 1, changes: { tasks: { added: [{ $PhantomId: '_generated_m2', name: 'forwarded' }] } } });
    await bClient.c.nextOf('projectChange', 10_000);

    const metricsOf = async (s: TestServer) => (await fetch(`http://127.0.0.1:${s.port}/metrics`)).text();
    const onA = await metricsOf(a);
    expect(onA).toMatch(/^weft_cluster_projects\{role="sequenced",node="a"\} 1$/m);
    expect(onA).toMatch(/^weft_cluster_forwarded_changes_total\{node="a"\} [1-9]/m);
    expect(onA).toMatch(/^weft_changes_committed_total\{node="a"\} /m);
    const onB = await metricsOf(b);
    expect(onB).toMatch(/^weft_cluster_projects\{role="followed",node="b"\} 1$/m);
    expect(onB).toMatch(/^weft_cluster_nodes\{node="b"\} 2$/m);
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.filter((l) => l.fields?.node !== 'a')).toEqual([]);

    const status = await (await fetch(`http://127.0.0.1:${b.port}/api/cluster`, { headers: { authorization: `Basic ${Buffer.from('admin:admin').toString('base64')}` } })).json();
    expect(status).toMatchObject({ node: 'b', sequenced: [], followed: [{ project: 1, owner: 'a' }] });
    expect(status.nodes.map((n: Rec) => n.id)).toEqual(['a']);
  });

  it('converges with simulated classic, revisions and Yjs clients spread over two nodes, going offline and back', async () => {
    fresh();
    const a = await node('a');
    const b = await node('b');
    // Node a sequences project 1; the simulation's clients take a and b in turn.
    await a.server.projects.open(1);
    const sim = await Simulation.start({ url: `ws://127.0.0.1:${a.port}`, moreUrls: [`ws://127.0.0.1:${b.port}`], project: 1, mix: { classic: 2, revisions: 2, yjs: 2 }, login: 'admin', password: 'admin', seed: 20261204, rate: 3, offlineRate: 0.1, settleTimeoutMs: 30_000 });
    try {
      await sim.run(4000);
      const outcome = await sim.check();
      expect(outcome.problems).toEqual([]);
      expect(outcome.divergences.slice(0, 3)).toEqual([]);
      expect(outcome.converged && outcome.valid).toBe(true);
      expect(outcome.revisions).toBeGreaterThan(5);
    } finally {
      await sim.close();
    }
  }, 60_000);

  it('does not echo a classic sender on a following node its own change without added records', async () => {
    fresh();
    const a = await node('a');
    const b = await node('b');
    const owner = await classicOn(a);
    const sender = await classicOn(b);
    const firstTask = [...tasksOf(owner.dataset.dataset.tasksData).keys()][0];
    sender.c.send({ command: 'projectChange', project: 1, changes: { tasks: { updated: [{ id: firstTask, name: 'quiet' }] } } });
    const seen = await owner.c.nextOf('projectChange', 10_000);
    expect(seen.changes.tasks.updated[0]).toMatchObject({ id: firstTask, name: 'quiet' });
    await sender.c.expectSilence(500);
  });

  it('refuses a change on a following node with the owner refusal, and the connection keeps working', async () => {
    fresh();
    const a = await node('a');
    const b = await node('b');
    await classicOn(a);
    const sender = await classicOn(b);
    // A value nested past maxValueDepth is refused by the owner, which checks changes as it applies them.
    let deep: Rec = { leaf: 1 };
    for (let i = 0; i < 70; i++) deep = { deep };
    sender.c.send({ command: 'projectChange', project: 1, changes: { tasks: { added: [{ $PhantomId: '_generated_x', name: 'x', note: deep }] } } });
    const reply = await sender.c.next(10_000);
    expect(JSON.stringify(reply)).toMatch(/deep/i);
    expect(reply.error ?? reply.message).toBeTruthy();
    sender.c.send({ command: 'projectChange', project: 1, changes: { tasks: { added: [{ $PhantomId: '_generated_ok', name: 'fine' }] } } });
    const echo = await sender.c.nextOf('projectChange', 10_000);
    expect(echo.changes.tasks.added[0].name).toBe('fine');
  });

  it('appends every commit of the owner to the project stream, numbered from 1 without gaps', async () => {
    fresh();
    const a = await node('a');
    const b = await node('b');
    const owner = await classicOn(a);
    await classicOn(b);
    for (let i = 0; i < 5; i++) {
      owner.c.send({ command: 'projectChange', project: 1, changes: { tasks: { added: [{ $PhantomId: `_generated_${i}`, name: `t${i}` }] } } });
      await owner.c.nextOf('projectChange', 10_000);
    }
    const stream = new ProjectStream(client, { nodeId: 'reader', prefix });
    const state = await readStreamState(stream, 1);
    expect(state).not.toBeNull();
    const ids = (await client.xrange(projectRedisKeys(1, prefix).stream, '-', '+')).map(([id]) => id);
    expect(ids).toEqual(ids.map((_, i) => `${i + 1}-0`));
    expect(state!.seq).toBe(ids.length);
    // The seed entry, then the five changes, each acknowledged before the next was sent.
    expect(ids.length).toBe(6);
    const { ProjectDocument } = await import('../src/document/project-document.js');
    const rebuilt = ProjectDocument.fromUpdate(null, state!.commit.update as Uint8Array[]);
    const names = (await rebuilt.dataset()).tasksData as Rec[];
    const all = tasksOf(names);
    for (let i = 0; i < 5; i++) expect([...all.values()]).toContain(`t${i}`);
    expect(state!.commit.meta.nextRevision).toBeGreaterThan(5);
  });

  it('moves a project to another node when its owner shuts down, keeping every change', async () => {
    fresh();
    const a = await node('a', 1500);
    const b = await node('b', 1500);
    const owner = await classicOn(a);
    const follower = await classicOn(b);
    owner.c.send({ command: 'projectChange', project: 1, changes: { tasks: { added: [{ $PhantomId: '_generated_before', name: 'before the move' }] } } });
    const added = await owner.c.nextOf('projectChange', 10_000);
    await follower.c.nextOf('projectChange', 10_000);
    const id = added.changes.tasks.added[0].id;
    await a.dispose();
    servers.splice(servers.indexOf(a), 1);
    // The follower's next change finds no owner: its clients are sent away to reconnect.
    follower.c.send({ command: 'projectChange', project: 1, changes: { tasks: { updated: [{ id, name: 'after' }] } } });
    await waitFor(() => follower.c.closed, 15_000, 'the follower client closed');
    expect(follower.c.closeCode).toBe(1012);
    // Reconnected, on b: b takes the project over from Redis (a released its lease on shutdown).
    const back = await classicOn(b);
    expect(tasksOf(back.dataset.dataset.tasksData).get(id)).toBe('before the move');
    back.c.send({ command: 'projectChange', project: 1, changes: { tasks: { updated: [{ id, name: 'after the move' }] } } });
    const c = await classicOn(b);
    expect(tasksOf(c.dataset.dataset.tasksData).get(id)).toBe('after the move');
  });

  it('lists, shows and diffs server-side versions from any node, shows them to every node\'s clients, and keeps them when the project moves', async () => {
    fresh();
    const a = await node('a', 1500);
    const b = await node('b', 1500);
    const owner = await classicOn(a);
    const watcher = await classicOn(b);
    owner.c.send({ command: 'projectChange', project: 1, changes: { tasks: { added: [{ $PhantomId: '_generated_v1', name: 'in version 1' }] } } });
    const id = (await owner.c.nextOf('projectChange', 10_000)).changes.tasks.added[0].id;
    await watcher.c.nextOf('projectChange', 10_000);
    // Taken through the following node: forwarded to the owner.
    const first = await b.server.manage.history.create('1', 'Taken on b');
    expect(first).toMatchObject({ n: 1, label: 'Taken on b', reason: 'manual' });
    const announced = await watcher.c.nextOf('projectChange', 10_000);
    expect(announced.changes.versions.added[0]).toMatchObject({ id: 'weft-1', name: 'Taken on b' });
    owner.c.send({ command: 'projectChange', project: 1, changes: { tasks: { updated: [{ id, name: 'after version 1' }] } } });
    await owner.c.nextOf('projectChange', 10_000);
    await watcher.c.nextOf('projectChange', 10_000);
    await a.server.manage.history.create('1', 'Taken on a');

    // Listed, shown and diffed on the node that does not hold them in its LevelDB.
    expect((await b.server.manage.history.list('1')).map((v) => [v.n, v.label])).toEqual([[1, 'Taken on b'], [2, 'Taken on a']]);
    const shown = await b.server.manage.history.show('1', '1');
    expect(tasksOf(shown.dataset.tasksData as Rec[]).get(id)).toBe('in version 1');
    const diff = await b.server.manage.history.diff('1', '1', '2');
    expect(JSON.stringify(diff.diff)).toContain('after version 1');
    // A client loading the project on the following node sees the versions, as on the owner.
    const onB = (await classicOn(b)).dataset.dataset.versionsData.map((v: Rec) => v.id);
    const onA = (await classicOn(a)).dataset.dataset.versionsData.map((v: Rec) => v.id);
    expect(onB.filter((v: string) => v.startsWith('weft-'))).toEqual(['weft-1', 'weft-2']);
    expect(onB).toEqual(onA);

    // The owner stops; b takes the project over and still has both versions, and can restore one.
    await a.dispose();
    servers.splice(servers.indexOf(a), 1);
    // b's first request finds the owner gone; a later one opens the project on b, from Redis.
    let taken = null;
    for (let i = 0; i < 60 && !taken; i++) taken = await b.server.manage.history.create('1', 'On b alone').catch(() => new Promise<null>((r) => setTimeout(() => r(null), 250)));
    expect(taken).toMatchObject({ n: 3, label: 'On b alone' });
    expect((await b.server.manage.history.list('1')).map((v) => v.label)).toEqual(['Taken on b', 'Taken on a', 'On b alone']);
    const restored = await b.server.manage.history.restore('1', '1');
    expect(restored.restored.n).toBe(1);
    const now = await b.server.manage.history.show('1', 'current');
    expect(tasksOf(now.dataset.tasksData as Rec[]).get(id)).toBe('in version 1');
    const loaded = (await classicOn(b)).dataset.dataset.versionsData.map((v: Rec) => v.id);
    expect(loaded.filter((v: string) => v.startsWith('weft-')).slice(0, 3)).toEqual(['weft-1', 'weft-2', 'weft-3']);
  });

  it('ships a snapshot to Redis as the log grows, trims the stream, and a node follows or takes over from it with the right counters', async () => {
    fresh();
    const a = await node('a', 1500, { storage: { compactAfterUpdates: 5 } });
    const b = await node('b', 1500, { storage: { compactAfterUpdates: 5 } });
    const owner = await classicOn(a);
    const names: string[] = [];
    for (let i = 0; i < 12; i++) {
      names.push(`shipped ${i}`);
      owner.c.send({ command: 'projectChange', project: 1, changes: { tasks: { added: [{ $PhantomId: `_generated_s${i}`, name: names[i] }] } } });
      await owner.c.nextOf('projectChange', 10_000);
    }
    const keys = projectRedisKeys(1, prefix);
    // Shipped after entries 5 and 10 (the seed is entry 1), in the background.
    for (let i = 0; i < 200 && Number((await client.get(keys.snapSeq)) ?? 0) < 10; i++) await new Promise((r) => setTimeout(r, 50));
    expect(Number(await client.get(keys.snapSeq))).toBeGreaterThanOrEqual(10);
    const first = (await client.xrange(keys.stream, '-', '+', 'COUNT', 1))[0]?.[0];
    expect(first === undefined || Number(first.split('-')[0]) > 10).toBe(true);
    // A node that never saw the project follows it from the snapshot.
    const late = await classicOn(b);
    const onB = tasksOf(late.dataset.dataset.tasksData);
    for (const name of names) expect([...onB.values()]).toContain(name);
    // The owner leaves; b takes the project over from the snapshot and the stream after it.
    const lastRevision = Number(String((await revisionsOn(a)).dataset.data.revision).slice(7));
    await a.dispose();
    servers.splice(servers.indexOf(a), 1);
    // b finds the owner gone with its next forwarded change and sends its clients away.
    late.c.send({ command: 'projectChange', project: 1, changes: { tasks: { updated: [{ id: 11, name: 'unacknowledged' }] } } });
    await waitFor(() => late.c.closed, 10_000, 'the follower client sent away');
    const next = await revisionsOn(b);
    expect(Number(String(next.dataset.data.revision).slice(7))).toBe(lastRevision);
    next.c.send({ command: 'project_change', data: { project: 1, client: next.c.clientId, revisions: [{ revision: 'local-after', clientId: next.c.clientId, changes: { tasks: { added: [{ $PhantomId: '_generated_after', name: 'after the take-over' }] } } }] } });
    const own = (await next.c.nextOf('project_change', 10_000)).data.revisions[0];
    expect(own.revision).toBe(`server-${lastRevision + 1}`);
    const addedId = own.changes.tasks.added[0].id;
    expect([...onB.keys()]).not.toContain(addedId);
    // Catch-up from before the snapshot cannot be answered from Redis: the client reloads.
    const c = await revisionsLogin(b.port);
    clients.push(c);
    c.send({ command: 'catch_up', data: { project: 1, since: 'server-1' } });
    const caught = await c.nextOf('catch_up', 10_000);
    expect(caught.data.reload).toBe(true);
  });

  it('keeps a project loaded on its owner while only another node has clients on it', async () => {
    fresh();
    const quick = { storage: { unloadAfterSeconds: 1 } };
    const a = await node('a', 3000, quick);
    const b = await node('b', 3000, quick);
    await a.server.projects.open(1);
    const reader = await classicOn(b);
    // Longer than the owner's idle unload, with nobody writing.
    await new Promise((r) => setTimeout(r, 3500));
    expect(a.server.projects.loaded()).toContain(1);
    reader.c.send({ command: 'projectChange', project: 1, changes: { tasks: { added: [{ $PhantomId: '_generated_late', name: 'after a quiet while' }] } } });
    const echo = await reader.c.nextOf('projectChange', 10_000);
    expect(echo.changes.tasks.added[0].name).toBe('after a quiet while');
    expect(reader.c.closed).toBe(false);
  });

  it('shows a project imported on one node on every node, and a project deleted on one node nowhere', async () => {
    fresh();
    // Admins may open every project, also those made at runtime.
    const everything = { groups: { admin: ['*'] } };
    const a = await node('a', 3000, everything);
    const b = await node('b', 3000, everything);
    const data = { tasks: { rows: [{ id: 1, name: 'Imported on a' }] } };
    await a.server.manage.projects.import({ id: 'shared', name: 'Shared' }, data);
    expect((await b.server.manage.projects.list()).map((p) => p.id)).toContain('shared');
    const onB = await classicOn(b, 'shared');
    expect([...tasksOf(onB.dataset.dataset.tasksData).values()]).toEqual(['Imported on a']);
    // The id is taken in the cluster: b cannot create it again.
    await expect(b.server.manage.projects.create({ id: 'shared' })).rejects.toThrow(/already exists/);
    // Deleted on a (which sequences it): gone from b's list, and not opened there again.
    await onB.c.close();
    await a.server.manage.projects.delete('shared');
    expect((await b.server.manage.projects.list()).map((p) => p.id)).not.toContain('shared');
    const late = await classicLogin(b.port);
    clients.push(late);
    late.send({ command: 'dataset', project: 'shared' });
    const refused = await late.next(10_000);
    expect(JSON.stringify(refused)).toMatch(/error|Authorization|not/i);
    // One b never opened, deleted on a: b finds it gone when asked to open it, like one never made.
    await a.server.manage.projects.import({ id: 'unseen', name: 'Unseen' }, data);
    await a.server.manage.projects.delete('unseen');
    await expect(b.server.projects.open('unseen')).resolves.toBeUndefined();
    await expect(b.server.projects.open('never-made')).resolves.toBeUndefined();
    // Created again on b: a new project, nothing of the deleted one comes back.
    await b.server.manage.projects.create({ id: 'shared', name: 'Again' });
    const again = await classicOn(a, 'shared');
    expect(tasksOf(again.dataset.dataset.tasksData).size).toBe(0);
  });

  it('resets a project for inactivity only when nobody on any node changed it, once', async () => {
    fresh();
    const idle = { inactivityResetSeconds: 2 };
    const a = await node('a', 3000, idle);
    const b = await node('b', 3000, idle);
    await a.server.projects.open(1);
    const writer = await classicOn(b);
    const firstTask = [...tasksOf(writer.dataset.dataset.tasksData).keys()][0];
    // Changes through b for 4 s: a has no client of its own, but is not idle.
    for (let i = 0; i < 8; i++) {
      writer.c.send({ command: 'projectChange', project: 1, changes: { tasks: { updated: [{ id: firstTask, name: `busy ${i}` }] } } });
      await new Promise((r) => setTimeout(r, 500));
    }
    const during = await writer.c.drain(0);
    expect(during.filter((m) => m.command === 'reset')).toEqual([]);
    // Then silence: one reset, sequenced by a, reaches the client on b once.
    const after = await writer.c.drain(3500);
    expect(after.filter((m) => m.command === 'reset')).toEqual([{ command: 'reset', userName: 'Server' }]);
  });

  it('an owner whose lease was taken cannot append, and gives the project up', async () => {
    fresh();
    const lease = new ProjectLease(client, { nodeId: 'x', leaseMs: 60_000, prefix });
    const stream = new ProjectStream(client, { nodeId: 'x', prefix });
    const claim = await lease.acquire('p');
    expect(claim.owned).toBe(true);
    const lost: OwnershipLost[] = [];
    const ownership = new ProjectOwnership({ lease, stream, project: 'p', epoch: (claim as { epoch: number }).epoch, seq: 0, onLost: (e) => lost.push(e) });
    await ownership.append({ update: null, meta: META }, []);
    expect(ownership.seq).toBe(1);
    // Another node takes the lease (as after an expiry).
    await client.del(projectRedisKeys('p', prefix).lease);
    const other = new ProjectLease(client, { nodeId: 'y', leaseMs: 60_000, prefix });
    expect((await other.acquire('p')).owned).toBe(true);
    await expect(ownership.append({ update: null, meta: { ...META, nextRevision: 4 } }, [])).rejects.toBeInstanceOf(OwnershipLost);
    expect(lost).toHaveLength(1);
    expect(await client.xlen(projectRedisKeys('p', prefix).stream)).toBe(1);
    // Lost for good: nothing more is tried.
    await expect(ownership.append({ update: null, meta: META }, [])).rejects.toBeInstanceOf(OwnershipLost);
    expect(lost).toHaveLength(1);
  });

  it('closes the clients of a project whose lease another node took with 1012, and logs why as a warning naming the project', async () => {
    fresh();
    const { lines, log } = recordingLog();
    const a = await startServer({ cluster: { redis: redis.url, nodeId: 'a', leaseMs: 3000, prefix } }, undefined, log);
    servers.push(a);
    const owner = await classicOn(a);
    // Another node takes the lease (as after an expiry): a's next commit, or renewal, finds it gone.
    await client.del(projectRedisKeys(1, prefix).lease);
    expect((await new ProjectLease(client, { nodeId: 'y', leaseMs: 60_000, prefix }).acquire(1)).owned).toBe(true);
    owner.c.send({ command: 'projectChange', project: 1, changes: { tasks: { updated: [{ id: owner.dataset.dataset.tasksData[0].id, name: 'fenced' }] } } });
    await waitFor(() => owner.c.closed, 10_000, 'the owner client closed');
    expect([owner.c.closeCode, owner.c.closeReason]).toEqual([1012, 'project moving to another node: reconnect']);
    const warned = lines.filter(({ msg }) => msg.startsWith('project 1 is no longer sequenced by this node'));
    expect(warned).toHaveLength(1);
    expect(warned[0].fields).toMatchObject({ level: 'warn', project: 1 });
  });

  it('writes a version to Redis only under the lease it names', async () => {
    fresh();
    const lease = new ProjectLease(client, { nodeId: 'a', leaseMs: 5000, prefix });
    const versions = new SharedVersions(client, { nodeId: 'a', prefix });
    const claim = await lease.acquire(7);
    if (!claim.owned) throw new Error('lease not taken');
    const meta = { n: 1, time: '2026-01-01T00:00:00.000Z', label: 'One', reason: 'manual' as const, authors: [], changes: 0, lastRevision: null, bytes: 3 };
    expect(await versions.list(7)).toBeNull();
    expect(await versions.write(7, claim.epoch + 1, [{ meta, state: [new Uint8Array([1, 2, 3])] }])).toBe(false);
    expect(await versions.list(7)).toBeNull();
    expect(await versions.write(7, claim.epoch, [{ meta, state: [new Uint8Array([1, 2]), new Uint8Array([3])] }])).toBe(true);
    expect(await versions.list(7)).toEqual([{ ...meta, parts: 2 }]);
    expect((await versions.state(7, { ...meta, parts: 2 }))?.map((p) => [...p])).toEqual([[1, 2], [3]]);
    // Brought here once: a second node's own versions do not replace them.
    expect(await versions.init(7, claim.epoch, [])).toBe('exists');
    expect(await versions.write(7, claim.epoch, [], [{ ...meta, parts: 2 }])).toBe(true);
    expect(await versions.list(7)).toEqual([]);
    expect(await client.hlen(projectRedisKeys(7, prefix).versionStates)).toBe(0);
  });

  it('takes a lease over only from the exact holder seen, and the new epoch fences that holder', async () => {
    fresh();
    const dead = new ProjectLease(client, { nodeId: 'dead', leaseMs: 60_000, prefix });
    const heir = new ProjectLease(client, { nodeId: 'heir', leaseMs: 60_000, prefix });
    const stream = new ProjectStream(client, { nodeId: 'dead', prefix });
    const first = (await dead.acquire('t')) as { epoch: number };
    // A stale view (another epoch) takes nothing.
    expect(await heir.takeOver('t', { node: 'dead', epoch: first.epoch + 1 })).toBeNull();
    expect(await heir.takeOver('t', { node: 'other', epoch: first.epoch })).toBeNull();
    const epoch = await heir.takeOver('t', { node: 'dead', epoch: first.epoch });
    expect(epoch).toBe(first.epoch + 1);
    expect(await heir.owner('t')).toEqual({ node: 'heir', epoch });
    expect(await stream.append('t', first.epoch, 1, { m: '{}' })).toBe('fenced');
  });

  it('takes a project over at once from a holder that no longer listens, rather than when its lease expires', async () => {
    fresh();
    // A node that took the lease and died (kill -9): its lease runs for another minute.
    expect((await new ProjectLease(client, { nodeId: 'ghost', leaseMs: 60_000, prefix }).acquire(1)).owned).toBe(true);
    const { lines, log } = recordingLog();
    const b = await startServer({ cluster: { redis: redis.url, nodeId: 'b', leaseMs: 3000, prefix } }, undefined, log);
    servers.push(b);
    const { c } = await classicOn(b);
    expect(lines.some(({ msg }) => msg === 'project 1: taken over from node ghost, which no longer listens')).toBe(true);
    // b sequences it: a change is stored and answered.
    c.send({ command: 'projectChange', project: 1, changes: { tasks: { added: [{ $PhantomId: '_generated_t1', name: 'after the take-over' }] } } });
    expect((await c.nextOf('projectChange', 10_000)).changes.tasks.added[0].id).toEqual(expect.any(Number));
    expect((await new ProjectLease(client, { nodeId: 'ghost', leaseMs: 60_000, prefix }).owner(1))?.node).toBe('b');
  });

  it('gives a project up when it unloads: no longer sequenced there, and its lease released', async () => {
    fresh();
    const a = await node('a', 3000, { storage: { unloadAfterSeconds: 0 } } as Partial<ConfigInput>);
    const { c } = await classicOn(a);
    expect(a.server.projects.ownedIds()).toEqual([1]);
    await c.close();
    clients.splice(clients.indexOf(c), 1);
    await waitFor(() => !a.server.projects.loaded().includes(1), 10_000, 'project 1 unloaded');
    const lease = new ProjectLease(client, { nodeId: 'x', leaseMs: 60_000, prefix });
    for (let i = 0; i < 100 && (await lease.owner(1)) !== null; i++) await new Promise((r) => setTimeout(r, 20));
    expect(await lease.owner(1)).toBeNull();
    expect(a.server.projects.ownedIds()).toEqual([]);
    // Nor is its closed room (and document) held any longer.
    expect((a.server.projects as unknown as { owned: Map<unknown, unknown> }).owned.size).toBe(0);
  });

  it('a node sees whether another node listens for requests', async () => {
    fresh();
    const a = await node('a');
    await node('b');
    const cluster = (a.server.projects as unknown as { cluster: { rpc: { listening(id: string): Promise<boolean> } } }).cluster;
    expect(await cluster.rpc.listening('b')).toBe(true);
    expect(await cluster.rpc.listening('nobody')).toBe(false);
  });

  it('holds a seed stored in parts and appends it as one entry with its counters', async () => {
    fresh();
    const lease = new ProjectLease(client, { nodeId: 'x', leaseMs: 60_000, prefix });
    const stream = new ProjectStream(client, { nodeId: 'x', prefix });
    const claim = (await lease.acquire('seeded')) as { epoch: number };
    const ownership = new ProjectOwnership({ lease, stream, project: 'seeded', epoch: claim.epoch, seq: 0, onLost: () => {} });
    const { ProjectDocument } = await import('../src/document/project-document.js');
    const doc = new ProjectDocument();
    const parts: Uint8Array[] = [];
    doc.onUpdate((u) => parts.push(u));
    doc.doc.getMap('tasks').set('1', new (await import('yjs')).Map());
    doc.doc.getMap('tasks').set('2', new (await import('yjs')).Map());
    await ownership.append({ update: parts[0] }, []);
    expect(await client.xlen(projectRedisKeys('seeded', prefix).stream)).toBe(0);
    await ownership.append({ update: parts[1], meta: META }, []);
    await ownership.loaded(() => ({ update: null, meta: META }));
    expect(await client.xlen(projectRedisKeys('seeded', prefix).stream)).toBe(1);
    const state = await readStreamState(stream, 'seeded');
    const rebuilt = ProjectDocument.fromUpdate(null, state!.commit.update as Uint8Array[]);
    expect(rebuilt.recordKeys('tasks').sort()).toEqual(['1', '2']);
  });

  it('replaces a node copy that differs from the stream, and keeps one that matches it', async () => {
    fresh();
    const dir = await tempDir();
    const storage = await Storage.open(dir);
    try {
      const lease = new ProjectLease(client, { nodeId: 'x', leaseMs: 60_000, prefix });
      const stream = new ProjectStream(client, { nodeId: 'x', prefix });
      expect(await alignWithStream(storage.project('q'), stream, 'q')).toBe(0);
      const claim = (await lease.acquire('q')) as { epoch: number };
      const ownership = new ProjectOwnership({ lease, stream, project: 'q', epoch: claim.epoch, seq: 0, onLost: () => {} });
      await ownership.append({ update: null, meta: META, revisions: [revisionText(1), revisionText(2)] }, []);
      // This node's copy is behind (another node wrote): replaced by the stream's state.
      const project = storage.project('q');
      await project.commit({ seq: 1, update: null, meta: { ...META, nextRevision: 2 } });
      expect(await alignWithStream(project, stream, 'q')).toBe(1);
      expect(await project.meta()).toEqual(META);
      expect((await project.revisions(1)).map((r) => (r as Rec).revision)).toEqual(['server-1', 'server-2']);
      // Matching: left as it is.
      const replaced = vi.spyOn(project, 'replaceState');
      expect(await alignWithStream(project, stream, 'q')).toBe(1);
      expect(replaced).not.toHaveBeenCalled();
    } finally {
      await storage.close();
    }
  });
});
