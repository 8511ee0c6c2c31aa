/**
 * Presence across nodes (ClusterPresence) over a real redis-server: users and project names of
 * other nodes, nodes that leave or die, and messages that are not ours.
 */
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ClusterPresence } from '../src/cluster/cluster-presence.js';
import type { PresenceMember } from '../src/server/room-presence.js';
import { hasRedisServer, noticeIfRedisMissing, startRedis, type TestRedis } from './support/redis.js';
import { waitFor } from './support/wait.js';

noticeIfRedisMissing();

describe.skipIf(!hasRedisServer())('Presence across nodes over Redis', () => {
  let redis: TestRedis;
  const clients: Redis[] = [];
  const nodes: ClusterPresence[] = [];
  let run = 0;
  let prefix = '';

  beforeAll(async () => {
    redis = await startRedis();
  });
  afterEach(async () => {
    for (const n of nodes.splice(0)) await n.close();
    for (const c of clients.splice(0)) c.disconnect();
  });
  afterAll(async () => {
    await redis?.dispose();
  });

  const connect = () => {
    const client = new Redis(redis.url, { retryStrategy: () => 50 });
    clients.push(client);
    return client;
  };

  /** A started node with `users` logged in; what it hears is recorded. */
  async function node(nodeId: string, users: string[] = [], heartbeatMs = 5000) {
    const heard = { joined: [] as string[], left: [] as string[], errors: [] as Error[] };
    const publisher = connect();
    const subscriber = connect();
    const presence = new ClusterPresence({ publisher, subscriber, nodeId, prefix, heartbeatMs, onError: (e) => heard.errors.push(e) });
    presence.bind({
      localUsers: () => users,
      onUsersChanged: (joined, left) => {
        heard.joined.push(...joined);
        heard.left.push(...left);
      },
    });
    nodes.push(presence);
    await presence.start();
    return { presence, heard, publisher, subscriber };
  }

  function member() {
    const seen = { changes: 0, awareness: [] as number[][] };
    const m: PresenceMember = { namesChanged: () => void seen.changes++, applyRemoteAwareness: (update) => void seen.awareness.push([...update]) };
    return { m, seen };
  }

  it('knows the users and project names of other nodes, and passes awareness only to rooms of its project', async () => {
    prefix = `pr${++run}`;
    const a = await node('a', ['ann']);
    const b = await node('b', ['ben']);
    await waitFor(() => a.presence.remoteUsers().join() === 'ben' && b.presence.remoteUsers().join() === 'ann', 5000, 'each node to know the other');
    expect(a.heard.joined).toContain('ben');

    const onA = member();
    const otherOnA = member();
    const inA = a.presence.join(1, onA.m);
    a.presence.join('1', otherOnA.m);
    const inB = b.presence.join(1, member().m);
    inB.localNamesChanged(['ben']);
    await waitFor(() => [...inA.remoteNames()].join() === 'ben', 5000, 'a to know who is in project 1 on b');
    expect(onA.seen.changes).toBeGreaterThan(0);
    // Project ids 1 and "1" are different projects.
    expect(otherOnA.seen.changes).toBe(0);

    inB.awareness(new Uint8Array([1, 2, 3]));
    await waitFor(() => onA.seen.awareness.length === 1, 5000, 'the awareness update on a');
    expect(onA.seen.awareness[0]).toEqual([1, 2, 3]);
    expect(otherOnA.seen.awareness).toEqual([]);

    // b's room leaves: its names leave a's view.
    inB.leave();
    await waitFor(() => [...inA.remoteNames()].length === 0, 5000, 'project 1 empty on b');
  });

  it('forgets a node that shuts down at once, and a node that stops talking after three heartbeats', async () => {
    prefix = `pr${++run}`;
    const a = await node('a', ['ann'], 200);
    const b = await node('b', ['ben'], 200);
    const c = await node('c', ['cid'], 200);
    await waitFor(() => a.presence.remoteUsers().sort().join() === 'ben,cid', 5000, 'a to know b and c');
    await b.presence.close();
    await waitFor(() => a.presence.remoteUsers().join() === 'cid', 1000, 'b gone at once');
    expect(a.heard.left).toEqual(['ben']);
    // c dies: no goodbye, no more heartbeats.
    c.publisher.disconnect();
    const died = Date.now();
    await waitFor(() => a.presence.remoteUsers().length === 0, 5000, 'c forgotten');
    expect(Date.now() - died).toBeGreaterThanOrEqual(400);
    expect(a.heard.left).toEqual(['ben', 'cid']);
  });

  it('drops messages that are not presence messages of another node, and keeps working', async () => {
    prefix = `pr${++run}`;
    const a = await node('a', ['ann']);
    const raw = connect();
    for (const junk of ['not json', '{"t":"s"}', '{"t":"s","node":"x","users":[1],"projects":[]}', '{"t":"a","node":"x","project":1,"update":"%%%"}', '{"t":"s","node":"x","users":[],"projects":[[{},[]]]}', JSON.stringify({ t: 's', node: 'x', users: ['y'], projects: [], extra: 1 })]) {
      await raw.publish(`${prefix}:presence`, junk);
    }
    // Its own name coming back from elsewhere is not another node.
    await raw.publish(`${prefix}:presence`, JSON.stringify({ t: 's', node: 'a', users: ['mallory'], projects: [] }));
    await waitFor(() => a.heard.errors.length >= 6, 5000, 'six reports');
    expect(a.presence.remoteUsers()).toEqual([]);
    const b = await node('b', ['ben']);
    await waitFor(() => a.presence.remoteUsers().join() === 'ben', 5000, 'a still hearing b');
    expect(b.heard.errors).toEqual([]);
  });
});
