/**
 * Redis key names of a project, and the lease with its fencing epoch, against a real redis-server.
 */
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ProjectLease, parseLeaseValue } from '../src/cluster/lease.js';
import { ProjectStream } from '../src/cluster/project-stream.js';
import { projectFromRedisKey, projectRedisKeys, projectTag } from '../src/cluster/redis-keys.js';
import type { ProjectId } from '../src/protocol/schemas.js';
import { hasRedisServer, noticeIfRedisMissing, startRedis, type TestRedis } from './support/redis.js';

/** The part of a key Redis Cluster hashes: between the first `{` and the next `}`, if not empty. */
function hashTag(key: string): string {
  const open = key.indexOf('{');
  if (open < 0) return key;
  const close = key.indexOf('}', open + 1);
  return close < 0 || close === open + 1 ? key : key.slice(open + 1, close);
}

const hostileIds: ProjectId[] = [1, '1', 'a}b{c', '{p:1}', 'x:lease', '%7B', 'ü 🚀', 0, -2.5, 'null'];

describe('Redis key names of a project', () => {
  it('puts every key of a project in one hash slot, whatever characters its id has', () => {
    for (const id of hostileIds) {
      const keys = Object.values(projectRedisKeys(id));
      const tags = new Set(keys.map(hashTag));
      expect(tags.size, String(id)).toBe(1);
      expect([...tags][0]).toBe(projectTag(id).slice(1, -1));
    }
  });

  it('keeps the number 1 and the string "1" apart, and every listed id distinct', () => {
    const tags = hostileIds.map((id) => hashTag(projectRedisKeys(id).lease));
    expect(new Set(tags).size).toBe(hostileIds.length);
    expect(projectRedisKeys(1).lease).toBe('weft:{p:1}:lease');
    expect(projectRedisKeys('1').lease).toBe('weft:{p:%221%22}:lease');
  });

  it('names the lease, epoch, stream, snapshot and version keys under a configurable prefix', () => {
    expect(projectRedisKeys('a', 'team')).toEqual({
      lease: 'team:{p:%22a%22}:lease',
      epoch: 'team:{p:%22a%22}:epoch',
      stream: 'team:{p:%22a%22}:stream',
      snap: 'team:{p:%22a%22}:snap',
      snapSeq: 'team:{p:%22a%22}:snapseq',
      snapExtra: 'team:{p:%22a%22}:snapx',
      versions: 'team:{p:%22a%22}:versions',
      versionStates: 'team:{p:%22a%22}:vstates',
    });
    expect(() => projectRedisKeys('a', 'we{ft')).toThrow(/braces/);
    expect(() => projectRedisKeys('')).toThrow();
    expect(() => projectRedisKeys(Number.NaN)).toThrow();
  });

  it('reads the project back from a key and refuses keys that are not canonical', () => {
    for (const id of hostileIds) expect(projectFromRedisKey(projectRedisKeys(id).stream)).toStrictEqual(id);
    expect(projectFromRedisKey('other:{p:1}:lease')).toBeNull();
    expect(projectFromRedisKey('weft:{p:%7B}:lease')).toBeNull();
    expect(projectFromRedisKey('weft:{p:%31}:lease')).toBeNull();
    expect(projectFromRedisKey('weft:{p:%22%22}:lease')).toBeNull();
  });

  it('parses a lease value by its last colon and refuses malformed ones', () => {
    expect(parseLeaseValue('node:a:7')).toEqual({ node: 'node:a', epoch: 7 });
    for (const bad of ['node', ':7', 'node:', 'node:0', 'node:x', 'node:99999999999999999']) expect(() => parseLeaseValue(bad)).toThrow();
  });
});

noticeIfRedisMissing();

describe.skipIf(!hasRedisServer())('Project lease on a real redis-server', () => {
  let redis: TestRedis;
  const clients: Redis[] = [];
  let project = 0;
  const connect = () => {
    const client = new Redis(redis.url, { retryStrategy: () => 50 });
    clients.push(client);
    return client;
  };

  beforeAll(async () => {
    redis = await startRedis();
  });
  afterEach(() => {
    for (const client of clients.splice(0)) client.disconnect();
  });
  afterAll(async () => {
    await redis?.dispose();
  });

  const nodes = (leaseMs = 500) => {
    const a = connect();
    const b = connect();
    return {
      leaseA: new ProjectLease(a, { nodeId: 'node-a', leaseMs }),
      leaseB: new ProjectLease(b, { nodeId: 'node-b', leaseMs }),
      streamA: new ProjectStream(a, { nodeId: 'node-a' }),
      streamB: new ProjectStream(b, { nodeId: 'node-b' }),
    };
  };
  const waitExpiry = () => new Promise((resolve) => setTimeout(resolve, 700));

  it('gives a project to exactly one of two racing nodes and tells the other who owns it', async () => {
    const { leaseA, leaseB } = nodes();
    for (let round = 0; round < 20; round++) {
      const id = `race-${++project}`;
      const [a, b] = await Promise.all([leaseA.acquire(id), leaseB.acquire(id)]);
      expect([a, b].filter((r) => r.owned)).toHaveLength(1);
      const winner = a.owned ? 'node-a' : 'node-b';
      const loser = a.owned ? b : a;
      expect(loser).toEqual({ owned: false, owner: winner, epoch: 1 });
      expect(await leaseA.owner(id)).toEqual({ node: winner, epoch: 1 });
    }
  });

  it('renews the lease for its owner with the same epoch when the owner acquires again', async () => {
    const { leaseA } = nodes(1_000);
    const id = ++project;
    expect(await leaseA.acquire(id)).toEqual({ owned: true, epoch: 1 });
    // 4 x 300 ms: past the lease time, so only the renewals kept it.
    for (let i = 0; i < 4; i++) {
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(await leaseA.acquire(id)).toEqual({ owned: true, epoch: 1 });
    }
    expect(await leaseA.renew(id, 1)).toBe(true);
    expect(await leaseA.renew(id, 2)).toBe(false);
  });

  it('lets another node take an expired lease over with a higher epoch, after which the old owner cannot renew', async () => {
    const { leaseA, leaseB } = nodes();
    const id = `takeover-${++project}`;
    const first = await leaseA.acquire(id);
    expect(first).toEqual({ owned: true, epoch: 1 });
    expect(await leaseB.acquire(id)).toEqual({ owned: false, owner: 'node-a', epoch: 1 });
    await waitExpiry();
    const second = await leaseB.acquire(id);
    expect(second.owned).toBe(true);
    expect(second.epoch).toBeGreaterThan(first.epoch);
    expect(await leaseA.renew(id, first.epoch)).toBe(false);
    expect(await leaseA.release(id, first.epoch)).toBe(false);
    expect(await leaseA.owner(id)).toEqual({ node: 'node-b', epoch: second.epoch });
    expect(await leaseA.acquire(id)).toEqual({ owned: false, owner: 'node-b', epoch: second.epoch });
  });

  it('keeps epochs growing when the same node takes its own expired lease again', async () => {
    const { leaseA } = nodes();
    const id = ++project;
    const epochs: number[] = [];
    for (let i = 0; i < 3; i++) {
      const result = await leaseA.acquire(id);
      if (!result.owned) throw new Error('not owned');
      epochs.push(result.epoch);
      await waitExpiry();
      expect(await leaseA.renew(id, result.epoch)).toBe(false);
    }
    expect(epochs).toEqual([1, 2, 3]);
  });

  it('releases only the caller\'s own lease, so the next node need not wait for expiry', async () => {
    const { leaseA, leaseB } = nodes(60_000);
    const id = ++project;
    const a = await leaseA.acquire(id);
    expect(await leaseB.release(id, a.epoch)).toBe(false);
    expect(await leaseA.owner(id)).toEqual({ node: 'node-a', epoch: a.epoch });
    expect(await leaseA.release(id, a.epoch)).toBe(true);
    expect(await leaseA.owner(id)).toBeNull();
    expect(await leaseB.acquire(id)).toEqual({ owned: true, epoch: a.epoch + 1 });
  });

  it('fences the old owner\'s appends once its lease expired, also while nobody has taken the lease', async () => {
    const { leaseA, leaseB, streamA, streamB } = nodes();
    const id = `fence-${++project}`;
    const a = await leaseA.acquire(id);
    expect(await streamA.append(id, a.epoch, 1, { u: Buffer.from([1]) })).toBe('appended');
    await waitExpiry();
    expect(await leaseA.owner(id)).toBeNull();
    expect(await streamA.append(id, a.epoch, 2, { u: Buffer.from([2]) })).toBe('fenced');
    expect(await streamA.shipSnapshot(id, a.epoch, 1, Buffer.from('state'))).toBe('fenced');
    const b = await leaseB.acquire(id);
    expect(await streamA.append(id, a.epoch, 2, { u: Buffer.from([2]) })).toBe('fenced');
    expect(await streamB.append(id, b.epoch, 2, { u: Buffer.from([3]) })).toBe('appended');
    expect((await streamB.read(id, 0, 10)).map((e) => [e.seq, [...e.fields.get('u')!]])).toEqual([
      [1, [1]],
      [2, [3]],
    ]);
  });

  it('refuses an append with a stale epoch from the owner node and with the right epoch from a foreign node', async () => {
    const { leaseA, streamA, streamB } = nodes(60_000);
    const id = `foreign-${++project}`;
    const first = await leaseA.acquire(id);
    await leaseA.release(id, first.epoch);
    const second = await leaseA.acquire(id);
    expect(second.epoch).toBe(first.epoch + 1);
    expect(await streamA.append(id, first.epoch, 1, { u: 'stale' })).toBe('fenced');
    expect(await streamB.append(id, second.epoch, 1, { u: 'foreign' })).toBe('fenced');
    expect(await streamA.append(id, second.epoch, 1, { u: 'owner' })).toBe('appended');
    expect(await streamA.last(id)).toBe(1);
  });
});
