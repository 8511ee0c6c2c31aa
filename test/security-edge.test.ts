/**
 * Hostile input at the server's edge (before and around login): each case sends what an attacker
 * would, checks that the limit acts, and that an honest client on another connection is still
 * answered promptly.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AccessPolicy } from '../src/server/access.js';
import { connect } from 'node:net';
import { chmod, mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { startServer, tempDir, type TestServer } from './support/server.js';
import { TestClient, classicLogin, type Msg } from './support/client.js';
import type { ConfigInput } from '../src/config/schema.js';

const servers: TestServer[] = [];
const clients: TestClient[] = [];

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  vi.restoreAllMocks();
  await Promise.all(servers.splice(0).map((s) => s.dispose()));
});

async function serve(overrides: Partial<ConfigInput> = {}, dataDir?: string): Promise<TestServer> {
  const server = await startServer(overrides, dataDir);
  servers.push(server);
  return server;
}

function track<T extends TestClient>(c: T): T {
  clients.push(c);
  return c;
}

/** An honest anonymous client logs in on a new connection and is answered within a second. */
async function honestIsAnswered(port: number): Promise<void> {
  const started = Date.now();
  const c = track(await TestClient.connect(port));
  c.send({ command: 'login', login: `honest-${started}` });
  const reply = await c.next(1000);
  expect(reply).toEqual({ command: 'login' });
  expect(Date.now() - started).toBeLessThan(1000);
}

/** Send a raw HTTP request and return the status line of the answer. */
function rawRequest(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(request));
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk) => (text += chunk));
    socket.on('end', () => resolve(text.split('\r\n')[0]));
    socket.on('close', () => resolve(text.split('\r\n')[0]));
    socket.on('error', reject);
    setTimeout(() => {
      socket.destroy();
      resolve(text.split('\r\n')[0]);
    }, 2000).unref();
  });
}

const upgradeRequest = (path: string) =>
  `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
  `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`;

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

const closedWith = async (c: TestClient, ms = 2000): Promise<number | null> => {
  const deadline = Date.now() + ms;
  while (!c.closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  return c.closeCode;
};

describe('malformed requests at the edge', () => {
  it('answers a WebSocket upgrade with a malformed path with 400 and keeps serving', async () => {
    const s = await serve();
    expect(await rawRequest(s.port, upgradeRequest('/yjs/%E0%A4%A'))).toBe('HTTP/1.1 400 Bad Request');
    expect(await rawRequest(s.port, upgradeRequest('//['))).toBe('HTTP/1.1 400 Bad Request');
    const res = await fetch(`http://127.0.0.1:${s.port}/api/projects/%E0%A4%A/versions`, { headers: { authorization: basic('admin', 'admin') } });
    expect(res.status).toBe(400);
    await honestIsAnswered(s.port);
  });
});

describe('logins announced to everyone', () => {
  it('refuses a login name longer than the limit and announces nothing, and takes one exactly as long as the limit', async () => {
    const s = await serve();
    const observer = track(await classicLogin(s.port, 'observer'));
    const c = track(await TestClient.connect(s.port));
    c.send({ command: 'login', login: 'n'.repeat(129) });
    expect((await c.next()).error).toMatch(/at most 128 characters/);
    expect(await observer.drain(300)).toEqual([]);
    c.send({ command: 'login', login: 'm'.repeat(128) });
    expect(await c.next()).toEqual({ command: 'login' });
    expect(await observer.nextOf('login')).toEqual({ command: 'login', userName: 'm'.repeat(128) });
    await honestIsAnswered(s.port);
  });

  it('closes a connection that logs in more often than the limit', async () => {
    const s = await serve({ limits: { maxLoginsPerConnection: 3 } });
    const observer = track(await classicLogin(s.port, 'observer'));
    const c = track(await TestClient.connect(s.port));
    for (let i = 0; i < 10; i++) c.send({ command: 'login', login: `again-${i}` });
    expect(await closedWith(c)).toBe(1008);
    expect(c.closeReason).toBe('too many logins');
    const joined = (await observer.drain(300)).filter((m) => m.command === 'login');
    expect(joined.map((m) => m.userName)).toEqual(['again-0', 'again-1', 'again-2']);
    await honestIsAnswered(s.port);
  });

  it('checks no password for logins still queued when their connection closed', async () => {
    const s = await serve();
    const logIn = vi.spyOn(AccessPolicy.prototype, 'logIn');
    const c = await TestClient.connect(s.port);
    // Each check costs a password hash: a client must not leave the server hashing after it left.
    for (let i = 0; i < 4; i++) await new Promise((sent) => c.ws.send(JSON.stringify({ command: 'login', login: 'admin', password: `wrong-${i}` }), sent));
    c.ws.close();
    await new Promise((r) => setTimeout(r, 1000));
    expect(logIn.mock.calls.length).toBeLessThanOrEqual(1);
    await honestIsAnswered(s.port);
  });

  it('sends each connection the users list only a few times during a burst of logins, ending with everyone', async () => {
    const s = await serve({ limits: { usersBroadcastMs: 500 } });
    const observer = track(await classicLogin(s.port, 'observer'));
    const burst = await Promise.all(Array.from({ length: 30 }, () => TestClient.connect(s.port)));
    burst.forEach(track);
    burst.forEach((c, i) => c.send({ command: 'login', login: `burst-${i}` }));
    const lists = (await observer.drain(1200)).filter((m) => m.command === 'users');
    expect(lists.length).toBeLessThanOrEqual(10);
    expect(new Set(lists.at(-1)!.users)).toEqual(new Set(['observer', ...burst.map((_, i) => `burst-${i}`)]));
    await honestIsAnswered(s.port);
  });

  it('closes a client that does not read once all clients together hold more output than the budget', async () => {
    const s = await serve({ limits: { maxBufferedBytesTotal: 1024 * 1024 } });
    const slow = track(await classicLogin(s.port, 'admin'));
    (slow.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause();
    // Each dataset reply is some 18 kB: 11 MB in all, far more than the socket buffers and the budget hold.
    for (let i = 0; i < 600; i++) slow.send({ command: 'dataset', project: 1 });
    const deadline = Date.now() + 5000;
    const open = () => [...s.server.connections].filter((c) => c.open).length;
    while (open() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(open()).toBe(0);
    await honestIsAnswered(s.port);
    (slow.ws as unknown as { _socket: { resume(): void } })._socket.resume();
    expect(await closedWith(slow, 5000)).toBe(1013);
  });
});

describe('password guessing', () => {
  it('closes a connection after repeated wrong passwords', async () => {
    const s = await serve();
    const c = track(await TestClient.connect(s.port));
    for (let i = 0; i < 50; i++) c.send({ command: 'login', login: 'admin', password: `guess-${i}` });
    expect(await closedWith(c)).toBe(1008);
    const errors = (await c.drain(100)).filter((m: Msg) => m.command === 'login' && m.error);
    expect(errors.length).toBeLessThanOrEqual(5);
    const admin = track(await classicLogin(s.port, 'admin'));
    expect(admin.closed).toBe(false);
  });

  it('makes an address that keeps failing wait, on new connections, over HTTP and for Yjs peers too, while anonymous names still work', async () => {
    const s = await serve({ limits: { maxFailedLoginsPerConnection: 3, maxFailedLoginsPerAddress: 6, failedLoginWindowSeconds: 1.5 } });
    for (let round = 0; round < 2; round++) {
      const c = track(await TestClient.connect(s.port));
      for (let i = 0; i < 3; i++) c.send({ command: 'login', login: 'admin', password: 'wrong' });
      expect(await closedWith(c)).toBe(1008);
    }
    // Even the right password waits now.
    const c = track(await TestClient.connect(s.port));
    c.send({ command: 'login', login: 'admin', password: 'admin' });
    expect((await c.next()).error).toMatch(/Too many failed logins: try again in \d+ s/);
    const res = await fetch(`http://127.0.0.1:${s.port}/api/storage`, { headers: { authorization: basic('admin', 'admin') } });
    expect(res.status).toBe(429);
    expect(await rawRequest(s.port, upgradeRequest('/yjs/1?login=admin&password=admin'))).toMatch(/^HTTP\/1.1 429 /);
    await honestIsAnswered(s.port);
    await new Promise((r) => setTimeout(r, 1600));
    track(await classicLogin(s.port, 'admin'));
  });

  it('refuses wrong HTTP Basic passwords of the admin API with 429 once the address failed too often', async () => {
    const s = await serve({ limits: { maxFailedLoginsPerAddress: 5 } });
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) {
      const res = await fetch(`http://127.0.0.1:${s.port}/api/storage`, { headers: { authorization: basic('admin', `guess-${i}`) } });
      statuses.push(res.status);
      await res.arrayBuffer();
    }
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429, 429, 429, 429, 429, 429]);
    await honestIsAnswered(s.port);
  });
});

describe('a login replacing another on the same connection', () => {
  it('ends the subscription to a project the new user may not open', async () => {
    const s = await serve();
    const c = track(await classicLogin(s.port, 'alex'));
    c.send({ command: 'dataset', project: 2 });
    await c.nextOf('dataset');
    c.send({ command: 'login', login: 'guest' });
    expect(await c.next()).toEqual({ command: 'login' });
    await c.drain(100);

    const admin = track(await classicLogin(s.port, 'admin'));
    admin.send({ command: 'dataset', project: 2 });
    await admin.nextOf('dataset');
    admin.send({ command: 'projectChange', project: 2, changes: { tasks: { added: [{ $PhantomId: '_generatedT_relogin', name: 'after-relogin' }] } } });
    await admin.nextOf('projectChange');
    const seen = await c.drain(400);
    expect(seen.filter((m) => m.command !== 'login' && m.command !== 'users')).toEqual([]);
    c.send({ command: 'presence', project: 2 });
    expect((await c.next()).error).toMatch(/Subscription to project is required/);
    c.send({ command: 'loadVersionContent', project: 2, versionId: 1 });
    expect((await c.next()).error).toMatch(/Subscription to project is required/);

    await Promise.all(clients.splice(0).map((x) => x.close()));
    const again = await s.restart();
    servers.push(again);
    const reader = track(await classicLogin(again.port, 'admin'));
    reader.send({ command: 'dataset', project: 2 });
    expect(JSON.stringify(await reader.nextOf('dataset'))).toContain('after-relogin');
  });

  it('keeps the subscription when the new user may open the project', async () => {
    const s = await serve();
    const c = track(await classicLogin(s.port, 'alex'));
    c.send({ command: 'dataset', project: 1 });
    await c.nextOf('dataset');
    c.send({ command: 'login', login: 'sam' });
    expect(await c.next()).toEqual({ command: 'login' });
    await c.drain(100);

    const other = track(await classicLogin(s.port, 'kim'));
    other.send({ command: 'dataset', project: 1 });
    await other.nextOf('dataset');
    other.send({ command: 'projectChange', project: 1, changes: { tasks: { added: [{ $PhantomId: '_generatedT_kept', name: 'seen-after-relogin' }] } } });
    await other.nextOf('projectChange');
    expect(JSON.stringify(await c.nextOf('projectChange'))).toContain('seen-after-relogin');
    c.send({ command: 'presence', project: 1 });
    expect(await c.drain(200)).not.toContainEqual(expect.objectContaining({ error: expect.stringMatching(/Subscription to project is required/) }));
  });
});

describe('autosave grants', () => {
  it('does not give the autosave grant to a read-only user, so the writer asking next gets it', async () => {
    const s = await serve({ anonymous: { enabled: true, projects: [1], readOnly: true } });
    const reader = track(await classicLogin(s.port, 'guest'));
    reader.send({ command: 'dataset', project: 1 });
    await reader.nextOf('dataset');
    reader.send({ command: 'requestVersionAutoSave', project: 1 });
    await reader.expectSilence(300);
    const writer = track(await classicLogin(s.port, 'alex'));
    writer.send({ command: 'dataset', project: 1 });
    await writer.nextOf('dataset');
    writer.send({ command: 'requestVersionAutoSave', project: 1 });
    expect(await writer.nextOf('versionAutoSaveOK', 1000)).toEqual({ command: 'versionAutoSaveOK', project: 1 });
  });
});

describe('connections not logged in', () => {
  it('closes a connection whose unfinished fragments before login pass the pre-login limit', async () => {
    const s = await serve();
    const hostile = await Promise.all(Array.from({ length: 4 }, () => TestClient.connect(s.port)));
    hostile.forEach(track);
    const chunk = Buffer.alloc(1024 * 1024, 'a');
    for (const c of hostile) for (let i = 0; i < 3; i++) c.ws.send(chunk, { fin: false, binary: false });
    for (const c of hostile) expect(await closedWith(c)).toBe(1009);
    await honestIsAnswered(s.port);
  });

  it('answers a binary frame with an error saying to send JSON text, and keeps the connection', async () => {
    const s = await serve();
    const c = track(await classicLogin(s.port, 'alex'));
    c.ws.send(Buffer.from(JSON.stringify({ command: 'version' })), { binary: true });
    expect(await c.nextOf('error', 2000)).toEqual({ command: 'error', message: 'Binary frames are not supported: send JSON text' });
    c.send({ command: 'version' });
    expect((await c.nextOf('version', 2000)).command).toBe('version');
  });

  it('closes a connection sending large junk before login', async () => {
    const s = await serve();
    const c = track(await TestClient.connect(s.port));
    c.send('x'.repeat(200_000));
    expect(await closedWith(c)).toBe(1009);
    await honestIsAnswered(s.port);
  });

  it('closes a connection that does not log in before the deadline (1008, "login timeout"), and only that one', async () => {
    const s = await serve({ limits: { loginTimeoutSeconds: 0.5 } });
    const idle = track(await TestClient.connect(s.port));
    const member = track(await classicLogin(s.port, 'alex'));
    expect(await closedWith(idle, 2000)).toBe(1008);
    expect(idle.closeReason).toBe('login timeout');
    member.send({ command: 'version' });
    expect((await member.nextOf('version', 1000)).command).toBe('version');
  });

  it('refuses connections beyond the number not logged in from one address', async () => {
    const s = await serve({ limits: { maxPendingSocketsPerAddress: 3 } });
    const waiting = await Promise.all(Array.from({ length: 3 }, () => TestClient.connect(s.port)));
    waiting.forEach(track);
    await expect(TestClient.connect(s.port)).rejects.toThrow(/503/);
    waiting[0].send({ command: 'login', login: 'first' });
    await waiting[0].next();
    await honestIsAnswered(s.port);
  });

  it('refuses connections beyond the number not logged in overall', async () => {
    const s = await serve({ limits: { maxPendingSockets: 2 } });
    const waiting = await Promise.all(Array.from({ length: 2 }, () => TestClient.connect(s.port)));
    waiting.forEach(track);
    await expect(TestClient.connect(s.port)).rejects.toThrow(/503/);
    waiting[1].send({ command: 'login', login: 'second' });
    await waiting[1].next();
    await honestIsAnswered(s.port);
  });
});

describe('the data directory', () => {
  it('is created readable by its owner only', async () => {
    const s = await serve();
    expect((await stat(join(s.dataDir, 'db'))).mode & 0o777).toBe(0o700);
  });

  it('keeps the mode of a directory that already exists', async () => {
    const dir = await tempDir();
    await mkdir(join(dir, 'db'));
    await chmod(join(dir, 'db'), 0o750);
    const s = await serve({}, dir);
    expect((await stat(join(s.dataDir, 'db'))).mode & 0o777).toBe(0o750);
  });
});
