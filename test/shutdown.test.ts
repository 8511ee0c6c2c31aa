import { rm } from 'node:fs/promises';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startServer, tempDir, type TestServer } from './support/server.js';

/** Status of the HTTP answer to a WebSocket upgrade, or 101 when it was accepted. */
function upgradeStatus(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}`);
    ws.once('unexpected-response', (_req, res) => (resolve(res.statusCode ?? 0), ws.terminate()));
    ws.once('open', () => (resolve(101), ws.terminate()));
    ws.once('error', (e) => reject(e));
  });
}

describe('shutting down', () => {
  let server: TestServer | undefined;
  afterEach(async () => {
    await server?.dispose();
    server = undefined;
  });

  it('refuses a client that connects while the others are still closing with 503, which clients retry', async () => {
    server = await startServer();
    const port = server.port;
    // A client that does not answer the close keeps the server closing (and its port listening).
    const lingering = new WebSocket(`ws://127.0.0.1:${port}`);
    await new Promise((resolve, reject) => (lingering.once('open', resolve), lingering.once('error', reject)));
    const closed = new Promise<[number, string]>((resolve) => lingering.once('close', (code, reason) => resolve([code, reason.toString()])));
    (lingering as unknown as { _socket: Socket })._socket.pause();

    const closing = server.stop();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await upgradeStatus(port)).toBe(503);

    (lingering as unknown as { _socket: Socket })._socket.resume();
    expect(await closed).toEqual([1012, 'service restart']);
    await closing;
  });
});

describe('starting on a port already taken', () => {
  it('fails saying it cannot listen there, and leaves its data directory free for the next start', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as AddressInfo).port;
    const dir = await tempDir();
    try {
      await expect(startServer({ port }, dir)).rejects.toThrow(new RegExp(`^cannot listen on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE`));
      // LevelDB's lock was released: the same directory opens at once on another port.
      const next = await startServer({}, dir);
      expect(await upgradeStatus(next.port)).toBe(101);
      await next.stop();
    } finally {
      await new Promise((resolve) => taken.close(resolve));
      await rm(dir, { recursive: true, force: true });
    }
  });
});
