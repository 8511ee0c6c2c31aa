/**
 * The per-project Redis Stream (fenced appends, snapshots, trimming) and the one blocking reader
 * per process, against a real redis-server started here (restarted and killed on purpose).
 */
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ProjectLease } from '../src/cluster/lease.js';
import { ProjectStream, seqOfStreamId, type StreamEntry } from '../src/cluster/project-stream.js';
import { projectRedisKeys } from '../src/cluster/redis-keys.js';
import { StreamReader } from '../src/cluster/stream-reader.js';
import type { ProjectId } from '../src/protocol/schemas.js';
import { hasRedisServer, noticeIfRedisMissing, startRedis, type TestRedis } from './support/redis.js';
import { waitFor } from './support/wait.js';
import { sleep } from '../src/simulate/random.js';


/** Every byte value and invalid UTF-8, so any text conversion on the way would show. */
const binary = (seq: number) => Buffer.from([0xff, 0xfe, 0x00, 0xc3, 0x28, ...Array.from({ length: 256 }, (_, i) => (i + seq) & 0xff)]);

describe('Stream ids read back from Redis', () => {
  it('accepts only <seq>-0 within safe integers as an entry of ours', () => {
    expect(seqOfStreamId('7-0')).toBe(7);
    expect(seqOfStreamId(Buffer.from('123-0'))).toBe(123);
    for (const bad of ['0-0', '7-1', '07-0', '-1-0', '7', '99999999999999999-0', 7, null, 'x-0']) expect(seqOfStreamId(bad)).toBeNull();
  });
});

noticeIfRedisMissing();

describe.skipIf(!hasRedisServer())('Project streams on a real redis-server', () => {
  let redis: TestRedis;
  const clients: Redis[] = [];
  const readers: StreamReader[] = [];
  let counter = 0;
  const connect = (options: { failFast?: boolean } = {}) => {
    // failFast: commands fail while Redis is down instead of waiting in ioredis' offline queue.
    const client = new Redis(redis.url, { retryStrategy: () => 50, ...(options.failFast ? { enableOfflineQueue: false, maxRetriesPerRequest: 0 } : {}) });
    client.on('error', () => {});
    clients.push(client);
    return client;
  };
  /** A node owning fresh projects: its lease (long), stream and epoch per project. */
  const owner = async (nodeId = 'owner', projects: ProjectId[] = [], failFast = false) => {
    const client = connect({ failFast });
    if (failFast && client.status !== 'ready') {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('client not ready within 5 s')), 5_000);
        client.once('ready', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    const lease = new ProjectLease(client, { nodeId, leaseMs: 60_000 });
    const stream = new ProjectStream(client, { nodeId });
    const epochs = new Map<ProjectId, number>();
    for (const project of projects) {
      const result = await lease.acquire(project);
      if (!result.owned) throw new Error(`not owner of ${project}`);
      epochs.set(project, result.epoch);
    }
    return { client, lease, stream, epochs };
  };

  beforeAll(async () => {
    redis = await startRedis();
  });
  afterEach(async () => {
    for (const reader of readers.splice(0)) await reader.close();
    for (const client of clients.splice(0)) client.disconnect();
  });
  afterAll(async () => {
    await redis?.dispose();
  });

  it('reads appended entries back in order with binary and text fields intact', async () => {
    const project = `order-${++counter}`;
    const { stream, epochs } = await owner('owner', [project]);
    const epoch = epochs.get(project)!;
    for (let seq = 1; seq <= 50; seq++) {
      expect(await stream.append(project, epoch, seq, { u: binary(seq), j: JSON.stringify({ seq, text: 'é ✓' }) })).toBe('appended');
    }
    const all: StreamEntry[] = [];
    for (let after = 0; all.length < 50; after = all[all.length - 1].seq) {
      const page = await stream.read(project, after, 7);
      expect(page.length).toBeGreaterThan(0);
      all.push(...page);
    }
    expect(all.map((e) => e.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    for (const entry of all) {
      expect(entry.fields.get('u')!.equals(binary(entry.seq))).toBe(true);
      expect(JSON.parse(entry.fields.get('j')!.toString('utf8'))).toEqual({ seq: entry.seq, text: 'é ✓' });
    }
    expect(await stream.read(project, 50, 10)).toEqual([]);
    expect(await stream.last(project)).toBe(50);
    expect(await stream.last(`never-${counter}`)).toBeNull();
  });

  it('keeps the streams of project 1 and project "1" apart', async () => {
    const { stream, epochs } = await owner('owner', [1, '1']);
    expect(await stream.append(1, epochs.get(1)!, 1, { v: 'number' })).toBe('appended');
    expect(await stream.append('1', epochs.get('1')!, 1, { v: 'string' })).toBe('appended');
    expect((await stream.read(1, 0, 5)).map((e) => e.fields.get('v')!.toString())).toEqual(['number']);
    expect((await stream.read('1', 0, 5)).map((e) => e.fields.get('v')!.toString())).toEqual(['string']);
  });

  it('answers duplicate for a seq already appended and leaves the stream unchanged', async () => {
    const project = `dup-${++counter}`;
    const { stream, epochs } = await owner('owner', [project]);
    const epoch = epochs.get(project)!;
    expect(await stream.append(project, epoch, 1, { u: 'first' })).toBe('appended');
    expect(await stream.append(project, epoch, 2, { u: 'second' })).toBe('appended');
    expect(await stream.append(project, epoch, 1, { u: 'again' })).toBe('duplicate');
    expect(await stream.append(project, epoch, 2, { u: 'again' })).toBe('duplicate');
    expect((await stream.read(project, 0, 10)).map((e) => e.fields.get('u')!.toString())).toEqual(['first', 'second']);
    // A gap filled later is a sequencing error of the caller, not a duplicate.
    expect(await stream.append(project, epoch, 5, { u: 'five' })).toBe('appended');
    await expect(stream.append(project, epoch, 4, { u: 'four' })).rejects.toThrow(/not after the last entry/);
    await expect(stream.append(project, epoch, 0, { u: 'zero' })).rejects.toThrow(/sequence/);
    await expect(stream.append(project, epoch, 6, {})).rejects.toThrow(/at least one field/);
    await expect(stream.append(project, 0, 6, { u: 'no epoch' })).rejects.toThrow(/epoch/);
  });

  it('passes errors other than a used seq through (Redis out of memory) instead of calling them a sequencing error', async () => {
    const project = `oom-${++counter}`;
    const { client, stream, epochs } = await owner('owner', [project]);
    await client.config('SET', 'maxmemory', '1');
    try {
      await expect(stream.append(project, epochs.get(project)!, 1, { u: 'x' })).rejects.toThrow(/OOM/);
    } finally {
      await client.config('SET', 'maxmemory', '0');
    }
    expect(await stream.append(project, epochs.get(project)!, 1, { u: 'x' })).toBe('appended');
  });

  it('ships a snapshot that trims older entries, and snapshot plus the rest of the stream rebuild the whole sequence', async () => {
    const project = `snap-${++counter}`;
    const { stream, epochs } = await owner('owner', [project]);
    const epoch = epochs.get(project)!;
    const state: number[] = [];
    for (let seq = 1; seq <= 30; seq++) expect(await stream.append(project, epoch, seq, { u: Buffer.from([seq]) })).toBe('appended');
    state.push(...Array.from({ length: 20 }, (_, i) => i + 1));
    expect(await stream.snapshot(project)).toBeNull();
    expect(await stream.shipSnapshot(project, epoch, 20, Buffer.from(state))).toBe('shipped');
    expect(await stream.shipSnapshot(project, epoch, 20, Buffer.from(state))).toBe('stale');
    expect(await stream.shipSnapshot(project, epoch, 10, Buffer.from(state))).toBe('stale');
    await expect(stream.shipSnapshot(project, epoch, 31, Buffer.from(state))).rejects.toThrow(/past the last appended entry/);
    // Entries up to the snapshot are gone from the stream.
    expect((await stream.read(project, 0, 100)).map((e) => e.seq)).toEqual(Array.from({ length: 10 }, (_, i) => i + 21));
    expect(await stream.append(project, epoch, 15, { u: 'folded' })).toBe('duplicate');
    // A node taking over: the snapshot, then the stream after its seq.
    const fresh = new ProjectStream(connect(), { nodeId: 'other' });
    const snapshot = await fresh.snapshot(project);
    expect(snapshot?.seq).toBe(20);
    const rebuilt = [...snapshot!.bytes, ...(await fresh.read(project, snapshot!.seq, 100)).map((e) => e.fields.get('u')![0])];
    expect(rebuilt).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    // Folding everything leaves an empty stream; last() still knows the seq and appends go on.
    expect(await stream.shipSnapshot(project, epoch, 30, Buffer.from(rebuilt))).toBe('shipped');
    expect(await stream.read(project, 0, 100)).toEqual([]);
    expect(await stream.last(project)).toBe(30);
    expect(await stream.append(project, epoch, 31, { u: Buffer.from([31]) })).toBe('appended');
    expect(await stream.last(project)).toBe(31);
  });

  it('costs one command per append, with one GET and one XADD inside the script', async () => {
    const project = `cost-${++counter}`;
    const { client, stream, epochs } = await owner('owner', [project]);
    const epoch = epochs.get(project)!;
    await stream.append(project, epoch, 1, { u: 'warm the script cache' });
    const stats = async () => {
      const info = await client.info('commandstats');
      const calls = new Map<string, number>();
      for (const match of info.matchAll(/^cmdstat_(\w+):calls=(\d+)/gm)) calls.set(match[1], Number(match[2]));
      return calls;
    };
    const before = await stats();
    for (let seq = 2; seq <= 101; seq++) await stream.append(project, epoch, seq, { u: Buffer.from([seq]) });
    const after = await stats();
    const delta = (name: string) => (after.get(name) ?? 0) - (before.get(name) ?? 0);
    expect([delta('evalsha'), delta('eval'), delta('get'), delta('xadd')]).toEqual([100, 0, 100, 100]);
  });

  it('delivers every entry of three projects exactly once and in order to one reader while another client appends', async () => {
    const projects: ProjectId[] = [`r-${++counter}`, counter, `r-${counter}-b`];
    const { stream, epochs } = await owner('owner', projects);
    const reader = new StreamReader(connect(), { blockMs: 2_000, count: 16 });
    readers.push(reader);
    const got = new Map<ProjectId, number[]>(projects.map((p) => [p, []]));
    for (const project of projects) reader.subscribe(project, 0, (entries) => got.get(project)!.push(...entries.map((e) => Number(e.fields.get('n')!.toString()))));
    const perProject = 120;
    await Promise.all(
      projects.map(async (project, index) => {
        for (let seq = 1; seq <= perProject; seq++) {
          expect(await stream.append(project, epochs.get(project)!, seq, { n: String(seq), u: binary(seq) })).toBe('appended');
          if (seq % (10 + index) === 0) await sleep(5);
        }
      }),
    );
    await waitFor(() => projects.every((p) => got.get(p)!.length >= perProject), 10_000, 'all entries delivered');
    await sleep(300);
    for (const project of projects) expect(got.get(project)).toEqual(Array.from({ length: perProject }, (_, i) => i + 1));
  });

  it('starts a later subscription from its given seq without waiting for the running block to end', async () => {
    const first = `late-a-${++counter}`;
    const second = `late-b-${counter}`;
    const { stream, epochs } = await owner('owner', [first, second]);
    for (let seq = 1; seq <= 10; seq++) await stream.append(second, epochs.get(second)!, seq, { n: String(seq) });
    const reader = new StreamReader(connect(), { blockMs: 20_000 });
    readers.push(reader);
    reader.subscribe(first, 0, () => {});
    await sleep(300); // the reader is now blocked on `first` alone
    const got: number[] = [];
    const subscribed = Date.now();
    reader.subscribe(second, 6, (entries) => got.push(...entries.map((e) => e.seq)));
    await waitFor(() => got.length >= 4, 5_000, 'the later subscription');
    expect(Date.now() - subscribed).toBeLessThan(2_000);
    expect(got).toEqual([7, 8, 9, 10]);
    // Unsubscribed: nothing more arrives.
    reader.unsubscribe(second);
    await stream.append(second, epochs.get(second)!, 11, { n: '11' });
    await sleep(300);
    expect(got).toEqual([7, 8, 9, 10]);
  });

  it('skips and reports a stream id that is not of the form <seq>-0, then goes on delivering', async () => {
    const project = `foreign-${++counter}`;
    const { client, stream, epochs } = await owner('owner', [project]);
    await stream.append(project, epochs.get(project)!, 1, { n: '1' });
    await client.xadd(projectRedisKeys(project).stream, '1-1', 'n', 'intruder');
    await stream.append(project, epochs.get(project)!, 2, { n: '2' });
    const errors: string[] = [];
    const got: number[] = [];
    const reader = new StreamReader(connect(), { blockMs: 500, onError: (error) => errors.push(error.message) });
    readers.push(reader);
    reader.subscribe(project, 0, (entries) => got.push(...entries.map((e) => e.seq)));
    await waitFor(() => got.length >= 2, 5_000, 'entries around the foreign id');
    await stream.append(project, epochs.get(project)!, 3, { n: '3' });
    await waitFor(() => got.length >= 3, 5_000, 'the entry after');
    await sleep(200);
    expect(got).toEqual([1, 2, 3]);
    expect(errors).toEqual(['foreign stream id "1-1" skipped']);
    // A foreign id as the stream's last entry is read past once, not again on every read.
    await client.xadd(projectRedisKeys(project).stream, '3-7', 'n', 'intruder');
    await sleep(100);
    const reads = reader.reads;
    await sleep(400);
    expect(reader.reads - reads).toBeLessThanOrEqual(2);
    expect(errors).toHaveLength(2);
    await expect(stream.read(project, 0, 10)).rejects.toThrow(/foreign stream id/);
  });

  it('refuses a client with an ioredis keyPrefix, whose replies would never match a subscription', () => {
    const client = new Redis(redis.url, { keyPrefix: 'x:', lazyConnect: true });
    clients.push(client);
    expect(() => new StreamReader(client)).toThrow(/keyPrefix/);
  });

  it('stops on close() at once, even while blocked, and delivers nothing after', async () => {
    const project = `close-${++counter}`;
    const { stream, epochs } = await owner('owner', [project]);
    const reader = new StreamReader(connect(), { blockMs: 30_000 });
    let delivered = 0;
    reader.subscribe(project, 0, () => delivered++);
    await sleep(200);
    const closing = Date.now();
    await reader.close();
    expect(Date.now() - closing).toBeLessThan(1_000);
    await stream.append(project, epochs.get(project)!, 1, { n: '1' });
    await sleep(200);
    expect(delivered).toBe(0);
    expect(() => reader.subscribe(project, 0, () => {})).toThrow(/closed/);
  });

  // Reader on a default client (ioredis resends the XREAD in flight after reconnecting) and on a
  // fail-fast one (the read fails and the loop reads again from its last delivered seq).
  it.each([
    ['resending', false],
    ['fail-fast', true],
  ])('resumes after a Redis restart on a %s client, losing no acknowledged entry and delivering none twice', async (_kind, readerFailFast) => {
    const projects: ProjectId[] = [`restart-${++counter}`, `restart-${counter}-b`, counter];
    const { stream, epochs } = await owner('owner', projects, true);
    let readErrors = 0;
    const reader = new StreamReader(connect({ failFast: readerFailFast }), { blockMs: 1_000, retryMs: 50, onError: () => readErrors++ });
    readers.push(reader);
    const got = new Map<ProjectId, number[]>(projects.map((p) => [p, []]));
    for (const project of projects) reader.subscribe(project, 0, (entries) => got.get(project)!.push(...entries.map((e) => e.seq)));
    const acknowledged = new Map<ProjectId, number[]>(projects.map((p) => [p, []]));
    const perProject = 150;
    let failures = 0;
    const appending = Promise.all(
      projects.map(async (project) => {
        for (let seq = 1; seq <= perProject; seq++) {
          for (let attempt = 0; ; attempt++) {
            if (attempt > 200) throw new Error(`append ${seq} of ${project} kept failing`);
            try {
              const result = await stream.append(project, epochs.get(project)!, seq, { u: binary(seq) });
              if (result === 'appended') acknowledged.get(project)!.push(seq);
              // 'duplicate': an earlier attempt went through and only its answer was lost.
              expect(result).not.toBe('fenced');
              break;
            } catch {
              failures++;
              await sleep(50);
            }
          }
          await sleep(2);
        }
      }),
    );
    await waitFor(() => projects.every((p) => acknowledged.get(p)!.length >= 40), 10_000, 'appends before the restart');
    // Down for a while (clean shutdown, AOF on disk), then up again on the same port and directory.
    await redis.kill('SIGTERM');
    await sleep(300);
    await redis.restart();
    await appending;
    await waitFor(() => projects.every((p) => got.get(p)!.length >= perProject), 15_000, 'delivery after the restart');
    await sleep(300);
    for (const project of projects) {
      const delivered = got.get(project)!;
      expect(delivered).toEqual(Array.from({ length: perProject }, (_, i) => i + 1));
      for (const seq of acknowledged.get(project)!) expect(delivered).toContain(seq);
    }
    // The restart did hit both: appends failed (and were retried), the reader's reads failed.
    expect(failures).toBeGreaterThan(0);
    if (readerFailFast) expect(readErrors).toBeGreaterThan(0);
  });

  it('keeps every acknowledged entry (appendfsync always) through a SIGKILL of redis-server and a restart', async () => {
    const project = `durable-${++counter}`;
    const { stream, epochs } = await owner('owner', [project]);
    const epoch = epochs.get(project)!;
    for (let seq = 1; seq <= 200; seq++) expect(await stream.append(project, epoch, seq, { u: binary(seq), j: `{"seq":${seq}}` })).toBe('appended');
    expect(await stream.shipSnapshot(project, epoch, 50, Buffer.from('snapshot up to 50'))).toBe('shipped');
    await redis.kill('SIGKILL');
    await redis.restart();
    const fresh = new ProjectStream(connect(), { nodeId: 'other' });
    const snapshot = await fresh.snapshot(project);
    expect(snapshot).toEqual({ seq: 50, bytes: Buffer.from('snapshot up to 50') });
    const entries = await fresh.read(project, 50, 1_000);
    expect(entries.map((e) => e.seq)).toEqual(Array.from({ length: 150 }, (_, i) => i + 51));
    for (const entry of entries) expect(entry.fields.get('u')!.equals(binary(entry.seq))).toBe(true);
    expect(await fresh.last(project)).toBe(200);
    // The lease survived too: the owner still appends, another node is still fenced.
    expect(await stream.append(project, epoch, 201, { u: 'after' })).toBe('appended');
    expect(await fresh.append(project, epoch, 202, { u: 'foreign' })).toBe('fenced');
  });
});
