import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { once } from 'node:events';
import { Inbound } from '../src/server/inbound.js';
import { Connection } from '../src/server/connection.js';
import { YjsPeer } from '../src/server/yjs-peer.js';
import { classicLogin } from './support/client.js';
import { startServer, type TestServer } from './support/server.js';

describe('incoming flow control', () => {
  const recorder = () => {
    const calls: string[] = [];
    return { calls, pause: () => calls.push('pause'), resume: () => calls.push('resume') };
  };

  it('pauses reading once more than the limit waits and resumes when half of it has been handled', () => {
    const socket = recorder();
    const firstPauses: number[] = [];
    const inbound = new Inbound(socket, 12_000, (w) => firstPauses.push(w));
    const handled = Array.from({ length: 5 }, () => inbound.admit(2_000));
    // 5 x (2000 + per-frame overhead) is over 12 000; resuming needs 6 000 or less.
    expect(socket.calls).toEqual(['pause']);
    handled[0]();
    handled[1]();
    expect(socket.calls).toEqual(['pause']);
    handled[2]();
    expect(socket.calls).toEqual(['pause', 'resume']);
    handled[2]();
    expect(inbound.waitingBytes).toBe(2 * 2_512);
    expect(firstPauses).toEqual([12_560]);
    expect(inbound.pauses).toBe(1);
  });

  it('keeps reading with exactly the limit waiting, and pauses once more waits', () => {
    const socket = recorder();
    const inbound = new Inbound(socket, 2 * 2_512);
    inbound.admit(2_000);
    inbound.admit(2_000);
    expect(inbound.waitingBytes).toBe(2 * 2_512);
    expect(socket.calls).toEqual([]);
    inbound.admit(0);
    expect(socket.calls).toEqual(['pause']);
  });

  it('resumes reading once exactly half the limit waits, not before', () => {
    const socket = recorder();
    // Three frames of 2,000 bytes weigh 2,512 each: 7,536 waiting, over a limit of 5,024.
    const inbound = new Inbound(socket, 2 * 2_512);
    const done = [inbound.admit(2_000), inbound.admit(2_000), inbound.admit(2_000)];
    expect(socket.calls).toEqual(['pause']);
    done[0]!();
    expect(socket.calls).toEqual(['pause']);
    // 2,512 waiting: exactly half.
    done[1]!();
    expect(inbound.waitingBytes).toBe(2_512);
    expect(socket.calls).toEqual(['pause', 'resume']);
  });

  it('counts floods of tiny frames, not only their bytes', () => {
    const socket = recorder();
    const inbound = new Inbound(socket, 10_000);
    for (let i = 0; i < 20; i++) inbound.admit(1);
    expect(socket.calls).toEqual(['pause']);
  });

  it('sends to a socket holding exactly its output limit, and closes one holding more with 1013 without sending', () => {
    const sent: string[] = [];
    const closes: [number, string][] = [];
    const socket = { OPEN: 1, readyState: 1, bufferedAmount: 1_000, send: (text: unknown) => sent.push(String(text)), close: (code: number, reason: string) => closes.push([code, reason]) };
    // No output budget shared with other connections: only this one's limit applies.
    const connection = new Connection('c', socket as unknown as WebSocket, 1_000);
    connection.send({ command: 'first' });
    expect(sent).toEqual(['{"command":"first"}']);
    socket.bufferedAmount = 1_001;
    connection.send({ command: 'second' });
    expect(sent).toHaveLength(1);
    expect(closes).toEqual([[1013, 'client too slow: reconnect and reload']]);
  });

  it('sends a Yjs peer holding exactly its output limit a frame, and closes one holding more with 1013 without sending', () => {
    const sent: Uint8Array[] = [];
    const closes: [number, string][] = [];
    const socket = { OPEN: 1, readyState: 1, bufferedAmount: 1_000, send: (frame: Uint8Array) => sent.push(frame), close: (code: number, reason: string) => closes.push([code, reason]) };
    const limits = { maxBufferedBytes: 1_000, maxAwarenessStatesPerPeer: 8, maxAwarenessFrameBytes: 1024 };
    const peer = new YjsPeer('p', socket as never, { name: 'ann' } as never, false, {} as never, {} as never, () => {}, limits);
    peer.send(new Uint8Array([1]));
    expect(sent).toEqual([new Uint8Array([1])]);
    socket.bufferedAmount = 1_001;
    peer.send(new Uint8Array([2]));
    expect(sent).toHaveLength(1);
    expect(closes).toEqual([[1013, 'peer too slow: reconnect']]);
  });

  describe('on a server', () => {
    let s: TestServer;
    const log: string[] = [];
    const fields: unknown[] = [];
    beforeAll(async () => {
      s = await startServer({ limits: { maxQueuedBytes: 64 * 1024 } }, undefined, (line, f) => void (log.push(line), fields.push(f)));
    });
    afterAll(async () => s.dispose());

    it('holds back a client that floods changes, applies all of them in order and keeps serving it', async () => {
      const flooder = await classicLogin(s.port, 'alex');
      const watcher = await classicLogin(s.port, 'ben');
      flooder.send({ command: 'dataset', project: 1 });
      await flooder.nextOf('dataset');
      watcher.send({ command: 'dataset', project: 1 });
      await watcher.nextOf('dataset');
      const long = 'x'.repeat(2_000);
      const ROUNDS = 2;
      const PER_ROUND = 150;
      for (let round = 0; round < ROUNDS; round++) {
        for (let i = 0; i < PER_ROUND; i++) {
          flooder.send({ command: 'projectChange', project: 1, changes: { tasks: { updated: [{ id: 14, name: `${round}-${i} ${long}` }] } } });
        }
        // A reply to a later request comes only once the socket was read again.
        flooder.send({ command: 'projects' });
        await flooder.nextOf('projects', 30_000);
      }
      const names: string[] = [];
      for (let i = 0; i < ROUNDS * PER_ROUND; i++) names.push((await watcher.nextOf('projectChange', 30_000)).changes.tasks.updated[0].name.split(' ')[0]);
      expect(names).toEqual(Array.from({ length: ROUNDS * PER_ROUND }, (_, k) => `${Math.floor(k / PER_ROUND)}-${k % PER_ROUND}`));
      const paused = log.flatMap((l, i) => (l.includes('reading paused') ? [[l, fields[i]]] : []));
      expect(paused).toHaveLength(1);
      expect(paused[0][0]).toMatch(/^(client-\S+): sends faster than its frames are handled: reading paused while more than 65536 bytes wait \(\d+ now\)$/);
      expect(paused[0][1]).toEqual({ level: 'warn', connection: /^(client-\S+):/.exec(paused[0][0] as string)![1] });
      expect(flooder.closed).toBe(false);
      await Promise.all([flooder.close(), watcher.close()]);
    });
  });
});

describe('outgoing queue of a connection', () => {
  let wss: WebSocketServer;
  let port: number;
  beforeAll(async () => {
    wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await once(wss, 'listening');
    port = (wss.address() as { port: number }).port;
  });
  afterAll(() => new Promise<void>((resolve) => wss.close(() => resolve())));

  it('does not take a client for slow because many long replies were queued one after another', async () => {
    const accepted = once(wss, 'connection');
    const client = new WebSocket(`ws://127.0.0.1:${port}`);
    await once(client, 'open');
    const [socket] = (await accepted) as [WebSocket];
    // Each reply is 3 MB; the limit allows two queued at once but not the seven sent in all.
    const connection = new Connection('c', socket, 7 * 1024 * 1024);
    const reply = (n: number) => [`{"n":${n},"pad":"`, 'y'.repeat(3 * 1024 * 1024), '"}'];
    const TOTAL = 7;
    let sent = 2;
    connection.sendPieces(reply(0));
    connection.sendPieces(reply(1));
    const received: number[] = [];
    const closed = once(client, 'close');
    await new Promise<void>((resolve, reject) => {
      closed.then(() => reject(new Error(`closed after ${received.length} replies`)), () => undefined);
      client.on('message', (data) => {
        received.push(JSON.parse(String(data)).n);
        // One more behind the one being streamed now, so the queue never empties.
        if (sent < TOTAL) connection.sendPieces(reply(sent++));
        if (received.length === TOTAL) resolve();
      });
    });
    expect(received).toEqual([0, 1, 2, 3, 4, 5, 6]);
    client.close();
  });
});
