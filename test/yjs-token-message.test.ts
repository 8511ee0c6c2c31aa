/**
 * Yjs peers that log in with a token in their first frame (y-protocols' auth message, sub-type 0)
 * instead of credentials in the URL, so that the token stays out of URLs and proxy logs.
 */
import { SignJWT } from 'jose';
import * as decoding from 'lib0/decoding';
import WebSocket from 'ws';
import * as Y from 'yjs';
import { WebsocketProvider } from 'y-websocket';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readField } from '../src/document/layout.js';
import { AUTH_AUTHENTICATED, MESSAGE_AUTH, MESSAGE_SYNC, decodeAuthToken, encodeAuthToken, encodeAuthenticated, syncStep1Frame } from '../src/protocol/yjs-wire.js';
import { classicLogin } from './support/client.js';
import { closeAfter as closeAfterOn } from './support/yjs-raw.js';
import { startServer, type TestServer } from './support/server.js';

const SECRET = 'a-shared-secret-of-at-least-32-characters!';
const seconds = () => Math.floor(Date.now() / 1000);
const sign = (claims: Record<string, unknown>, key = SECRET) => new SignJWT({ exp: seconds() + 600, ...claims }).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(key));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let s: TestServer;
beforeAll(async () => {
  // Projects 1, 2, 3; admin opens them all. A short login timeout for the silent peer.
  s = await startServer({ tokens: { secret: SECRET, requireExpiry: true }, limits: { loginTimeoutSeconds: 1 } as never });
});
afterAll(async () => s.dispose());

const tasksOf = (doc: Y.Doc) => doc.getMap('tasks') as Y.Map<Y.Map<unknown>>;
const until = async (check: () => boolean, ms = 3000) => {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(20);
  }
};

/** A WebSocket class for y-websocket that sends `token` as its first frame, before the provider's own sync step 1. */
function sendingToken(token: string) {
  return class extends WebSocket {
    constructor(url: string, protocols?: string | string[]) {
      super(url, protocols);
      this.on('open', () => this.send(encodeAuthToken(token)));
    }
  };
}

/** A y-websocket provider on /yjs/<project> with no credentials in its URL, sending `token` first. */
function tokenPeer(port: number, project: string, token: string) {
  const doc = new Y.Doc();
  const provider = new WebsocketProvider(`ws://127.0.0.1:${port}/yjs`, project, doc, { WebSocketPolyfill: sendingToken(token) as never, disableBc: true });
  const synced = new Promise<void>((resolve) => provider.once('sync', () => resolve()));
  return { doc, provider, synced };
}

interface RawPeer {
  ws: WebSocket;
  frames: Uint8Array[];
  closed: Promise<{ code: number; reason: string }>;
}

/** A plain WebSocket to `path`, open, recording the frames it receives and how it was closed. */
function rawPeer(port: number, path: string): Promise<RawPeer> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`);
  const frames: Uint8Array[] = [];
  ws.on('message', (d: Buffer) => frames.push(new Uint8Array(d)));
  ws.on('error', () => undefined);
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve({ ws, frames, closed }));
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
  });
}

/** How the server closes a socket on `path` that sends `first` as its first frame (never more than 3 s). */
const closeAfter = (port: number, path: string, first: Uint8Array | string) => closeAfterOn(port, first, { path, waitMs: 3000 });

/** The HTTP status an upgrade to `path` is answered with (101 when accepted). */
function upgradeStatus(port: number, path: string): Promise<number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`);
    ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.on('open', () => {
      ws.close();
      resolve(101);
    });
    ws.on('error', () => undefined);
  });
}

/** The scope of an "authenticated" auth frame, or null for any other frame. */
function authenticatedScope(frame: Uint8Array): string | null {
  const decoder = decoding.createDecoder(frame);
  if (decoding.readVarUint(decoder) !== MESSAGE_AUTH || decoding.readVarUint(decoder) !== AUTH_AUTHENTICATED) return null;
  return decoding.readVarString(decoder);
}

describe('the auth frame', () => {
  it('carries a token that decodes back, and nothing else decodes as a token', () => {
    const token = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbm4ifQ.c2lnbmF0dXJl';
    const frame = encodeAuthToken(token);
    expect([...frame.slice(0, 2)]).toEqual([MESSAGE_AUTH, 0]);
    expect(decodeAuthToken(frame)).toBe(token);
    expect(decodeAuthToken(encodeAuthToken(''))).toBe('');
    expect(decodeAuthToken(encodeAuthToken('ünïcødé'))).toBe('ünïcødé');
    // A sync message, another auth sub-type, a truncated frame, trailing bytes, bad UTF-8, nothing.
    expect(decodeAuthToken(syncStep1Frame(new Uint8Array([0])))).toBeNull();
    expect(decodeAuthToken(encodeAuthenticated('read-write'))).toBeNull();
    expect(decodeAuthToken(frame.slice(0, frame.length - 1))).toBeNull();
    expect(decodeAuthToken(new Uint8Array([...frame, 0]))).toBeNull();
    expect(decodeAuthToken(new Uint8Array([MESSAGE_AUTH, 0, 2, 0xc3, 0x28]))).toBeNull();
    expect(decodeAuthToken(new Uint8Array([MESSAGE_AUTH, 0, 0x80]))).toBeNull();
    expect(decodeAuthToken(new Uint8Array())).toBeNull();
  });

  it('answers an accepted token with sub-type 1 and the scope', () => {
    expect(authenticatedScope(encodeAuthenticated('read-write'))).toBe('read-write');
    expect(authenticatedScope(encodeAuthenticated('readonly'))).toBe('readonly');
    expect([...encodeAuthenticated('readonly').slice(0, 2)]).toEqual([MESSAGE_AUTH, AUTH_AUTHENTICATED]);
  });
});

describe('a Yjs peer sending its token as its first message', () => {
  it('syncs the project and gets the changes of Bryntum clients, which get its own', async () => {
    const p = tokenPeer(s.port, '1', await sign({ sub: 'tess', projects: [1] }));
    await p.synced;
    expect(readField(tasksOf(p.doc).get('11')!, 'name')).toBeTypeOf('string');
    const classic = await classicLogin(s.port);
    classic.send({ command: 'dataset', project: 1 });
    await classic.nextOf('dataset');
    classic.send({ command: 'projectChange', project: 1, changes: { tasks: { updated: [{ id: 12, name: 'from bryntum' }] } } });
    await until(() => readField(tasksOf(p.doc).get('12')!, 'name') === 'from bryntum');
    tasksOf(p.doc).get('11')!.set('name', 'from a token peer');
    expect((await classic.nextOf('projectChange')).changes.tasks.updated).toEqual([{ id: 11, name: 'from a token peer' }]);
    p.provider.destroy();
    await classic.close();
  });

  it('is told it may write, and has the frames it sent right after the token answered', async () => {
    const peer = await rawPeer(s.port, '/yjs/1');
    // Without waiting for the answer: the sync step 1 of an empty document must not be lost.
    peer.ws.send(encodeAuthToken(await sign({ sub: 'tess', projects: [1] })));
    peer.ws.send(syncStep1Frame(new Uint8Array([0])));
    await until(() => peer.frames.some((f) => f[0] === MESSAGE_SYNC && f[1] === 1));
    expect(authenticatedScope(peer.frames[0])).toBe('read-write');
    const step2 = peer.frames.find((f) => f[0] === MESSAGE_SYNC && f[1] === 1)!;
    expect(step2.byteLength).toBeGreaterThan(100);
    peer.ws.close();
  });

  it('is closed with 4401 for a wrong or expired token', async () => {
    const wrong = await closeAfter(s.port, '/yjs/1', encodeAuthToken(await sign({ sub: 'eve', projects: '*' }, 'some-other-secret-of-32-characters-or-more')));
    expect(wrong).toEqual({ code: 4401, reason: 'Invalid token: invalid token' });
    const expired = await closeAfter(s.port, '/yjs/1', encodeAuthToken(await sign({ sub: 'old', projects: '*', exp: seconds() - 60 })));
    expect(expired).toEqual({ code: 4401, reason: 'Invalid token: token expired' });
    const garbage = await closeAfter(s.port, '/yjs/1', encodeAuthToken('not a token'));
    expect(garbage.code).toBe(4401);
  });

  it('is closed with 4403 for a project its token does not name, or one that does not exist', async () => {
    const notAllowed = { code: 4403, reason: 'not allowed on this project' };
    expect(await closeAfter(s.port, '/yjs/1', encodeAuthToken(await sign({ sub: 'otto', projects: [2] })))).toEqual(notAllowed);
    expect(await closeAfter(s.port, '/yjs/99', encodeAuthToken(await sign({ sub: 'root', projects: '*' })))).toEqual(notAllowed);
  });

  it('is closed with 4401 when its first frame is anything but an auth frame', async () => {
    expect(await closeAfter(s.port, '/yjs/1', syncStep1Frame(new Uint8Array([0])))).toEqual({ code: 4401, reason: 'authentication required' });
    expect((await closeAfter(s.port, '/yjs/1', encodeAuthenticated('read-write'))).code).toBe(4401);
    // The token as a text frame is not the auth message either.
    expect((await closeAfter(s.port, '/yjs/1', await sign({ sub: 'tess', projects: [1] }))).code).toBe(4401);
  });

  it('is closed with 4401 when it sends nothing within the login timeout', async () => {
    const peer = await rawPeer(s.port, '/yjs/1');
    const started = Date.now();
    expect(await peer.closed).toEqual({ code: 4401, reason: 'login timeout' });
    expect(Date.now() - started).toBeGreaterThan(800);
    expect(Date.now() - started).toBeLessThan(2500);
  });

  it('is closed with 1009 when it sends more than preLoginBytes before logging in', async () => {
    const peer = await rawPeer(s.port, '/yjs/1');
    peer.ws.send(encodeAuthToken('x'.repeat(70 * 1024)));
    expect((await peer.closed).code).toBe(1009);
  });

  it('syncs down with a read-only token and is told so, but its edits are not taken', async () => {
    const raw = await rawPeer(s.port, '/yjs/1');
    raw.ws.send(encodeAuthToken(await sign({ sub: 'rita', projects: [1], write: false })));
    await until(() => raw.frames.length > 0);
    expect(authenticatedScope(raw.frames[0])).toBe('readonly');
    raw.ws.close();

    const p = tokenPeer(s.port, '1', await sign({ sub: 'rita', projects: [1], write: false }));
    await p.synced;
    tasksOf(p.doc).get('13')!.set('name', 'should not stick');
    const check = tokenPeer(s.port, '1', await sign({ sub: 'tess', projects: [1] }));
    await check.synced;
    await sleep(300);
    expect(readField(tasksOf(check.doc).get('13')!, 'name')).not.toBe('should not stick');
    p.provider.destroy();
    check.provider.destroy();
  });

  it('is closed with 4401 when its token expires', async () => {
    const peer = await rawPeer(s.port, '/yjs/1');
    peer.ws.send(encodeAuthToken(await sign({ sub: 'tess', projects: [1], exp: seconds() + 2 })));
    await until(() => peer.frames.length > 0);
    expect(authenticatedScope(peer.frames[0])).toBe('read-write');
    expect(await peer.closed).toEqual({ code: 4401, reason: 'token expired' });
  }, 10_000);

  it('counts refused tokens against its address, which is then closed with 4429 right away', async () => {
    const guarded = await startServer({ tokens: { secret: SECRET }, limits: { maxFailedLoginsPerAddress: 2 } as never });
    try {
      const forged = encodeAuthToken(await sign({ sub: 'eve', projects: '*' }, 'some-other-secret-of-32-characters-or-more'));
      expect((await closeAfter(guarded.port, '/yjs/1', forged)).code).toBe(4401);
      expect((await closeAfter(guarded.port, '/yjs/1', forged)).code).toBe(4401);
      const blocked = await rawPeer(guarded.port, '/yjs/1');
      const closed = await blocked.closed;
      expect(closed.code).toBe(4429);
      expect(closed.reason).toMatch(/too many failed logins/);
      // The URL way is guarded by the same count.
      expect(await upgradeStatus(guarded.port, `/yjs/1?token=${await sign({ sub: 'tess', projects: [1] })}`)).toBe(429);
    } finally {
      await guarded.dispose();
    }
  });

  it('closes with 4429 a peer whose address was blocked while it had not yet sent its token, even for a good token', async () => {
    const guarded = await startServer({ tokens: { secret: SECRET }, limits: { maxFailedLoginsPerAddress: 2 } as never });
    try {
      // Accepted while the address is still clear; its token comes after two refused ones.
      const waiting = await rawPeer(guarded.port, '/yjs/1');
      const forged = encodeAuthToken(await sign({ sub: 'eve', projects: '*' }, 'some-other-secret-of-32-characters-or-more'));
      expect((await closeAfter(guarded.port, '/yjs/1', forged)).code).toBe(4401);
      expect((await closeAfter(guarded.port, '/yjs/1', forged)).code).toBe(4401);
      waiting.ws.send(encodeAuthToken(await sign({ sub: 'tess', projects: [1] })));
      const closed = await waiting.closed;
      expect(closed.code).toBe(4429);
      expect(closed.reason).toMatch(/^too many failed logins, try again in \d+ s$/);
      expect(waiting.frames).toEqual([]);
    } finally {
      await guarded.dispose();
    }
  });
});

describe('the URL ways for Yjs peers', () => {
  /** The status line's text and the body of a refused upgrade to `path`. */
  function refusal(port: number, path: string): Promise<{ status: number; text: string; body: string }> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`);
      ws.on('error', () => undefined);
      ws.on('open', () => reject(new Error('upgrade accepted')));
      ws.on('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: res.statusMessage ?? '', body }));
      });
    });
  }

  it('say why an upgrade is refused, in the status line and the body', async () => {
    expect(await refusal(s.port, `/yjs/2?token=${await sign({ sub: 'otto', projects: [1] })}`)).toEqual({ status: 403, text: 'Forbidden', body: 'Forbidden\n' });
    // Without tokens configured, a peer with no credentials is refused at once.
    const guarded = await startServer({ limits: { maxFailedLoginsPerAddress: 2 } as never });
    try {
      const how = 'pass ?login=<name>&password=<password> or ?token=<token>';
      expect(await refusal(guarded.port, '/yjs/1')).toEqual({ status: 401, text: `Unauthorized: ${how}`, body: `Unauthorized: ${how}\n` });
      const wrong = await refusal(guarded.port, '/yjs/1?login=admin&password=wrong');
      expect(wrong.status).toBe(401);
      expect(wrong.text).toMatch(/^Unauthorized: .+; pass \?login=<name>&password=<password> or \?token=<token>$/);
      await refusal(guarded.port, '/yjs/1?login=admin&password=wrong');
      const blocked = await refusal(guarded.port, '/yjs/1?login=admin&password=admin');
      expect(blocked.status).toBe(429);
      expect(blocked.text).toMatch(/^Too Many Requests: too many failed logins, try again in \d+ s$/);
    } finally {
      await guarded.dispose();
    }
  });

  it('still log in with ?token= or ?login=&password=, and refuse bad credentials before the handshake', async () => {
    expect(await upgradeStatus(s.port, `/yjs/1?token=${await sign({ sub: 'tess', projects: [1] })}`)).toBe(101);
    expect(await upgradeStatus(s.port, `/yjs/2?token=${await sign({ sub: 'tess', projects: [1] })}`)).toBe(403);
    expect(await upgradeStatus(s.port, '/yjs/1?token=not.a.token')).toBe(401);
    expect(await upgradeStatus(s.port, '/yjs/1?login=admin&password=admin')).toBe(101);
    expect(await upgradeStatus(s.port, '/yjs/1?login=admin&password=wrong')).toBe(401);

    const doc = new Y.Doc();
    const provider = new WebsocketProvider(`ws://127.0.0.1:${s.port}/yjs`, '1', doc, {
      WebSocketPolyfill: WebSocket as never,
      params: { token: await sign({ sub: 'tess', projects: [1] }) },
      disableBc: true,
    });
    await new Promise<void>((resolve) => provider.once('sync', () => resolve()));
    expect(tasksOf(doc).size).toBeGreaterThan(0);
    provider.destroy();
  });

  it('are the only way on a server that accepts no tokens: no credentials there is refused with 401', async () => {
    const plain = await startServer({});
    try {
      expect(await upgradeStatus(plain.port, '/yjs/1')).toBe(401);
      expect(await upgradeStatus(plain.port, '/yjs/1?login=admin&password=admin')).toBe(101);
    } finally {
      await plain.dispose();
    }
  });
});

describe('a Yjs peer logged in with its token frame', () => {
  it('has a later socket error logged as its own, no longer as a socket before login', async () => {
    const lines: string[] = [];
    const logged = await startServer({ tokens: { secret: SECRET, requireExpiry: true } }, undefined, (line) => lines.push(line));
    try {
      const peer = await rawPeer(logged.port, '/yjs/1');
      peer.ws.send(encodeAuthToken(await sign({ sub: 'tess', projects: [1] })));
      await until(() => peer.frames.some((f) => authenticatedScope(f) === 'read-write'));
      // A text frame that is not UTF-8: the server's socket fails with an error and closes 1007.
      peer.ws.send(Buffer.from([0xc3, 0x28]), { binary: false });
      expect((await peer.closed).code).toBe(1007);
      await until(() => lines.some((l) => l.includes('socket error')));
      expect(lines.filter((l) => l.includes('socket error'))).toHaveLength(1);
      expect(lines.some((l) => l.includes('before login'))).toBe(false);
    } finally {
      await logged.dispose();
    }
  });
});
