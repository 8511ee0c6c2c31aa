/**
 * Requests from one node to another over Redis pub/sub (NodeRpc), against a real redis-server.
 */
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { NodeRpc, RpcError, type RpcErrorCode } from '../src/cluster/node-rpc.js';
import { hasRedisServer, noticeIfRedisMissing, startRedis, type TestRedis } from './support/redis.js';

noticeIfRedisMissing();

/** The code of the RpcError `promise` fails with; fails the test if it resolves or fails otherwise. */
async function failure(promise: Promise<unknown>): Promise<{ code: RpcErrorCode; message: string }> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(RpcError);
    return { code: (error as RpcError).code, message: (error as RpcError).message };
  }
  throw new Error('expected the call to fail');
}

describe.skipIf(!hasRedisServer())('Requests between nodes over Redis', () => {
  let redis: TestRedis;
  const clients: Redis[] = [];
  const rpcs: NodeRpc[] = [];
  let run = 0;
  let prefix = '';

  const connect = () => {
    const client = new Redis(redis.url, { retryStrategy: () => 50 });
    clients.push(client);
    return client;
  };
  /** A started node; `errors` collects what it reports. */
  const node = async (nodeId: string, options: { timeoutMs?: number; maxMessageBytes?: number } = {}) => {
    const errors: Error[] = [];
    const publisher = connect();
    const subscriber = connect();
    const rpc = new NodeRpc({ publisher, subscriber, nodeId, prefix, onError: (e) => errors.push(e), ...options });
    rpcs.push(rpc);
    await rpc.start();
    return { rpc, errors, publisher, subscriber };
  };
  /** A bare listener on a node's inbox that never answers: what reached the node, as parsed JSON. */
  const listener = async (nodeId: string) => {
    const subscriber = connect();
    const received: Record<string, unknown>[] = [];
    subscriber.on('message', (_channel: string, message: string) => received.push(JSON.parse(message)));
    await subscriber.subscribe(`${prefix}:node:${nodeId}`);
    return received;
  };
  const waitFor = async (condition: () => boolean, timeoutMs = 3_000) => {
    const deadline = Date.now() + timeoutMs;
    while (!condition()) {
      if (Date.now() > deadline) throw new Error('condition not met in time');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  };

  beforeAll(async () => {
    redis = await startRedis({ appendonly: false });
  });
  beforeEach(() => {
    // A prefix per test: nothing published in one reaches another.
    prefix = `rpc${++run}`;
  });
  afterEach(async () => {
    for (const rpc of rpcs.splice(0)) await rpc.close();
    for (const client of clients.splice(0)) client.disconnect();
  });
  afterAll(async () => {
    await redis?.dispose();
  });

  it('answers a call with what the handler of the other node returned, naming the caller', async () => {
    const a = await node('a');
    const b = await node('b');
    b.rpc.handle('add', (payload, from) => ({ sum: (payload as number[]).reduce((x, y) => x + y, 0), from }));
    b.rpc.handle('nothing', async () => undefined);
    expect(await a.rpc.call('b', 'add', [1, 2, 39])).toEqual({ sum: 42, from: 'a' });
    expect(await a.rpc.call('b', 'nothing', null)).toBeNull();
    expect(a.errors).toEqual([]);
    expect(b.errors).toEqual([]);
  });

  it('lets two nodes call each other at the same time, each call getting its own answer', async () => {
    const a = await node('a');
    const b = await node('b');
    // Each handler waits on a call of its own to the other node: both nodes must serve while calling.
    a.rpc.handle('twice', async (n) => 2 * (n as number));
    b.rpc.handle('twice', async (n) => 2 * (n as number));
    a.rpc.handle('viaB', async (n) => ((await a.rpc.call('b', 'twice', n)) as number) + 1);
    b.rpc.handle('viaA', async (n) => ((await b.rpc.call('a', 'twice', n)) as number) + 1);
    const numbers = Array.from({ length: 30 }, (_, i) => i);
    const [fromA, fromB] = await Promise.all([
      Promise.all(numbers.map((n) => a.rpc.call('b', 'viaA', n))),
      Promise.all(numbers.map((n) => b.rpc.call('a', 'viaB', n))),
    ]);
    expect(fromA).toEqual(numbers.map((n) => 2 * n + 1));
    expect(fromB).toEqual(numbers.map((n) => 2 * n + 1));
  });

  it('delivers the calls of one node to another in the order they were made, and runs their handlers concurrently', async () => {
    const a = await node('a');
    const b = await node('b');
    const started: number[] = [];
    let openGate!: () => void;
    const gate = new Promise<void>((resolve) => (openGate = resolve));
    b.rpc.handle('record', async (n) => {
      started.push(n as number);
      // No handler finishes before the 100th has started: handlers run one at a time would never get there.
      if (started.length === 100) openGate();
      await gate;
      return n;
    });
    const numbers = Array.from({ length: 100 }, (_, i) => i);
    const answers = await Promise.all(numbers.map((n) => a.rpc.call('b', 'record', n, 5_000)));
    expect(started).toEqual(numbers);
    expect(answers).toEqual(numbers);
  });

  it('fails a call whose handler throws with a remote error carrying the message', async () => {
    const a = await node('a');
    const b = await node('b');
    b.rpc.handle('explode', async () => {
      throw new Error('the project is not owned here');
    });
    b.rpc.handle('bigint', () => 10n);
    expect(await failure(a.rpc.call('b', 'explode', {}))).toEqual({ code: 'remote', message: 'the project is not owned here' });
    // An answer JSON cannot carry fails the same way instead of leaving the caller waiting.
    const unwritable = await failure(a.rpc.call('b', 'bigint', {}, 2_000));
    expect(unwritable.code).toBe('remote');
    expect(unwritable.message).toMatch(/BigInt/);
  });

  it('fails a call to a method the other node has no handler for, including names of object members', async () => {
    const a = await node('a');
    const b = await node('b');
    b.rpc.handle('known', () => 'yes');
    for (const method of ['unknown', '__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
      const result = await failure(a.rpc.call('b', method, null, 2_000));
      expect(result.code, method).toBe('no-handler');
      expect(result.message).toContain(method);
    }
    expect(await a.rpc.call('b', 'known', null)).toBe('yes');
  });

  it('fails a call to a node nobody listens for at once, well before the timeout', async () => {
    const a = await node('a', { timeoutMs: 10_000 });
    const began = Date.now();
    const result = await failure(a.rpc.call('gone', 'submit', {}));
    expect(result.code).toBe('no-receiver');
    expect(Date.now() - began).toBeLessThan(1_000);
    expect(await a.rpc.listening('gone')).toBe(false);
    await node('back');
    expect(await a.rpc.listening('back')).toBe(true);
  });

  it('fails a call with a timeout when the node receives it but never answers', async () => {
    const a = await node('a', { timeoutMs: 10_000 });
    const received = await listener('silent');
    const began = Date.now();
    const result = await failure(a.rpc.call('silent', 'submit', { x: 1 }, 300));
    expect(result.code).toBe('timeout');
    expect(Date.now() - began).toBeGreaterThanOrEqual(290);
    expect(received).toEqual([{ t: 'q', id: expect.any(Number), from: 'a', method: 'submit', payload: { x: 1 } }]);
  });

  it('drops and reports garbage published on an inbox, a bounded number of times, and keeps answering', async () => {
    const b = await node('b', { maxMessageBytes: 4_096 });
    b.rpc.handle('ping', () => 'pong');
    b.rpc.handle('__proto__', () => 'should not matter');
    const spy = await listener('spy');
    const raw = connect();
    const inbox = `${prefix}:node:b`;
    const request = { t: 'q', id: 1, from: 'spy', method: 'ping', payload: null };
    const garbage = [
      'not json',
      '',
      'null',
      '42',
      '[]',
      '{"t":"q"}',
      '{"__proto__":{"t":"q"},"id":1}',
      JSON.stringify({ ...request, id: '1' }),
      JSON.stringify({ ...request, id: 0 }),
      JSON.stringify({ ...request, id: 1.5 }),
      JSON.stringify({ ...request, id: 1e300 }),
      JSON.stringify({ ...request, id: 2 ** 53 }),
      JSON.stringify({ ...request, id: '9'.repeat(1_000) }),
      JSON.stringify({ ...request, method: 'x'.repeat(101) }),
      JSON.stringify({ ...request, method: 7 }),
      JSON.stringify({ ...request, from: '' }),
      JSON.stringify({ ...request, from: 'f'.repeat(257) }),
      JSON.stringify({ ...request, extra: true }),
      JSON.stringify({ ...request, payload: 'p'.repeat(5_000) }),
      JSON.stringify({ t: 'r', id: 'x', ok: true, value: 1 }),
      JSON.stringify({ t: 'r', id: 1, ok: false }),
      JSON.stringify({ t: 'r', id: 1, ok: false, code: 'closed', error: 'x' }),
    ];
    for (const message of garbage) await raw.publish(inbox, message);
    // Messages from one connection arrive in order: the answer to this one means all came before.
    await raw.publish(inbox, JSON.stringify({ ...request, id: 77 }));
    await waitFor(() => spy.length === 1);
    expect(spy).toEqual([{ t: 'r', id: 77, ok: true, value: 'pong' }]);
    expect(b.errors).toHaveLength(garbage.length);
    expect(b.errors.every((e) => e instanceof Error && e.message.startsWith('dropped'))).toBe(true);

    // A method named __proto__ reaches its handler like any other name, and nothing leaked into objects.
    await raw.publish(inbox, JSON.stringify({ ...request, id: 78, method: '__proto__' }));
    await waitFor(() => spy.length === 2);
    expect(spy[1]).toEqual({ t: 'r', id: 78, ok: true, value: 'should not matter' });
    expect(({} as Record<string, unknown>).t).toBeUndefined();

    // A flood is reported up to a bound, not once per message.
    for (let i = 0; i < 150; i++) await raw.publish(inbox, 'garbage');
    await raw.publish(inbox, JSON.stringify({ ...request, id: 79 }));
    await waitFor(() => spy.length === 3);
    expect(b.errors).toHaveLength(100);

    const a = await node('a');
    expect(await a.rpc.call('b', 'ping', null)).toBe('pong');
  });

  it('ignores answers to calls it did not make, and settles a call only with the answer bearing its id', async () => {
    const a = await node('a');
    const received = await listener('silent');
    const raw = connect();
    const inbox = `${prefix}:node:a`;
    let settled = false;
    const call = a.rpc.call('silent', 'submit', null, 5_000).finally(() => (settled = true));
    await waitFor(() => received.length === 1);
    const id = received[0].id as number;
    await raw.publish(inbox, JSON.stringify({ t: 'r', id: id + 1, ok: true, value: 'wrong' }));
    await raw.publish(inbox, JSON.stringify({ t: 'r', id: id + 1000, ok: false, code: 'remote', error: 'wrong' }));
    await raw.publish(inbox, JSON.stringify({ t: 'r', id: Number.MAX_SAFE_INTEGER, ok: true, value: 'wrong' }));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(settled).toBe(false);
    await raw.publish(inbox, JSON.stringify({ t: 'r', id, ok: true, value: 'right' }));
    expect(await call).toBe('right');
    // A second answer to the same call, arriving late, changes nothing and is not an error.
    await raw.publish(inbox, JSON.stringify({ t: 'r', id, ok: false, error: 'late' }));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(a.errors).toEqual([]);
  });

  it('rejects every pending call with closed on close, refuses new calls and leaves the inbox', async () => {
    const a = await node('a', { timeoutMs: 10_000 });
    const received = await listener('silent');
    const calls = [a.rpc.call('silent', 'one', 1), a.rpc.call('silent', 'two', 2)].map(failure);
    await waitFor(() => received.length === 2);
    const began = Date.now();
    await a.rpc.close();
    for (const call of calls) expect((await call).code).toBe('closed');
    expect(Date.now() - began).toBeLessThan(1_000);
    expect((await failure(a.rpc.call('silent', 'three', 3))).code).toBe('closed');
    const observer = connect();
    expect(await observer.call('PUBSUB', 'NUMSUB', `${prefix}:node:a`)).toEqual([`${prefix}:node:a`, 0]);
    // The connections are the caller's: still open, and the subscriber is usable again.
    expect(a.subscriber.status).toBe('ready');
    expect(await a.subscriber.ping()).toBe('PONG');
    expect(await a.publisher.ping()).toBe('PONG');
  });

  it('refuses a payload above maxMessageBytes before publishing anything', async () => {
    const a = await node('a', { maxMessageBytes: 1_024 });
    const received = await listener('b');
    const result = await failure(a.rpc.call('b', 'submit', 'x'.repeat(1_024)));
    expect(result.code).toBe('too-large');
    // Bytes, not characters: 400 three-byte characters are over 1 KiB.
    expect((await failure(a.rpc.call('b', 'submit', '€'.repeat(400)))).code).toBe('too-large');
    expect((await failure(a.rpc.call('b', 'submit', { n: 1n }))).code).toBe('too-large');
    // The next call is published on the same connection: once it arrived, anything before it would have.
    void a.rpc.call('b', 'submit', 'small', 200).catch(() => undefined);
    await waitFor(() => received.length === 1);
    expect(received).toEqual([{ t: 'q', id: expect.any(Number), from: 'a', method: 'submit', payload: 'small' }]);
  });
});
