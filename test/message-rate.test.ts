import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MessageRate } from '../src/server/message-rate.js';
import { TestClient, classicLogin } from './support/client.js';
import { startServer, type TestServer } from './support/server.js';

describe('MessageRate', () => {
  it('lets a burst through at once and then the average rate', () => {
    const rate = new MessageRate(10, 3, 0);
    expect([rate.take(0), rate.take(0), rate.take(0), rate.take(0)]).toEqual([true, true, true, false]);
    expect(rate.take(50)).toBe(false);
    expect(rate.take(100)).toBe(true);
    expect(rate.take(100)).toBe(false);
    // Idle time fills it up to the burst, not beyond.
    expect([rate.take(10_000), rate.take(10_000), rate.take(10_000), rate.take(10_000)]).toEqual([true, true, true, false]);
  });
});

describe('a connection sending faster than maxMessagesPerSecond', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startServer({ limits: { maxMessagesPerSecond: 10, messageBurst: 20, maxRefusalsPerMinute: 8 } });
  });
  afterAll(async () => s.dispose());

  it('has the messages past its burst dropped with an error, is closed (1008) when it goes on, and others are served meanwhile', async () => {
    const fast = await TestClient.connect(s.port);
    for (let i = 0; i < 25; i++) fast.send({ command: 'version' });
    const seen = await fast.drain(500);
    expect(seen.filter((m) => m.command === 'version').length).toBe(20);
    const dropped = seen.filter((m) => m.command === 'error');
    expect(dropped.length).toBe(5);
    expect(dropped[0].message).toBe('Too many messages: at most 10 per second (limits.maxMessagesPerSecond); this one was dropped');
    expect(fast.closed).toBe(false);
    // Counted as their own kind of error.
    const metrics = await (await fetch(`http://127.0.0.1:${s.port}/metrics`)).text();
    expect(metrics).toMatch(/^weft_errors_total\{kind="over_rate"\} 5$/m);

    // After a second it has ten more.
    await new Promise((r) => setTimeout(r, 1000));
    for (let i = 0; i < 10; i++) fast.send({ command: 'version' });
    expect((await fast.drain(300)).filter((m) => m.command === 'version').length).toBe(10);

    const other = await classicLogin(s.port);
    for (let i = 0; i < 20; i++) fast.send({ command: 'version' });
    const started = Date.now();
    while (!fast.closed && Date.now() - started < 2000) await new Promise((r) => setTimeout(r, 20));
    expect(fast.closeCode).toBe(1008);
    expect(fast.closeReason).toBe('too many messages');
    other.send({ command: 'dataset', project: 1 });
    expect((await other.nextOf('dataset')).dataset).toBeDefined();
    await other.close();
  });
});
