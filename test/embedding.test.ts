/**
 * Weft inside a Node application (src/index.ts): attached to the host's HTTP server under a path,
 * with its authentication hook, told of committed changes and of projects loaded and unloaded.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { WebSocket, WebSocketServer } from 'ws';
import * as Y from 'yjs';
import { startWeft, type AuthRequest, type CommittedChange, type WeftServer } from '../src/index.js';
import { encodeAuthToken, syncStep1Frame } from '../src/protocol/yjs-wire.js';
import { TestClient } from './support/client.js';
import { tempDir } from './support/server.js';

let host: Server | null = null;
let weft: WeftServer | null = null;
let dir = '';
afterEach(async () => {
  await weft?.close();
  weft = null;
  if (host) await new Promise((resolve) => host!.close(resolve));
  host = null;
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** The host application: its own HTTP routes, Weft's requests passed on to it. */
async function hostApp(): Promise<{ server: Server; port: number; handled: string[] }> {
  const handled: string[] = [];
  const server = createServer((req, res) => {
    if (weft?.handleRequest(req, res)) return;
    handled.push(req.url ?? '');
    res.writeHead(200, { 'content-type': 'text/plain' }).end('host');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  host = server;
  const address = server.address();
  return { server, port: typeof address === 'object' && address ? address.port : 0, handled };
}

async function login(port: number, path: string, name: string, password: string): Promise<{ client: TestClient; reply: any }> {
  const client = await TestClient.connect(port, path);
  client.send({ command: 'login', login: name, password });
  return { client, reply: await client.next() };
}

describe('an embedded server', () => {
  it('attaches to the host HTTP server under a path, leaving the host its other routes and WebSockets', async () => {
    const { server, port, handled } = await hostApp();
    // The host's own WebSocket endpoint on the same server.
    const own = new WebSocketServer({ noServer: true });
    server.on('upgrade', (req, socket, head) => {
      if (req.url === '/chat') own.handleUpgrade(req, socket, head, (ws) => ws.send('chat says hi'));
    });
    dir = await tempDir();
    const seen: AuthRequest[] = [];
    weft = await startWeft({
      config: { dataDir: join(dir, 'db'), projects: [{ id: 1, name: 'One' }] },
      server,
      path: '/weft',
      log: () => {},
      hooks: {
        authenticate(request) {
          seen.push(request);
          return request.password === 'letmein' ? { user: request.login.toUpperCase(), projects: [1] } : null;
        },
      },
    });
    expect(weft.port).toBe(port);
    expect(await (await fetch(`http://127.0.0.1:${port}/healthz`)).json()).toMatchObject({ status: 'ok' });
    expect(await (await fetch(`http://127.0.0.1:${port}/anything`)).text()).toBe('host');
    expect(handled).toEqual(['/anything']);
    const chat = new WebSocket(`ws://127.0.0.1:${port}/chat`);
    expect(String(await new Promise((resolve) => chat.once('message', resolve)))).toBe('chat says hi');
    chat.close();

    const { client, reply } = await login(port, '/weft', 'ann', 'letmein');
    expect(reply).toEqual({ command: 'login' });
    expect(seen[0]).toMatchObject({ login: 'ann', password: 'letmein', token: null, via: 'bryntum', address: '127.0.0.1' });
    expect((await client.nextOf('users')).users).toEqual(['ANN']);
    client.send({ command: 'dataset', project: 1 });
    expect((await client.nextOf('dataset')).dataset.tasksData).toEqual([]);
    await client.close();
    expect((await login(port, '/weft', 'ann', 'wrong')).reply).toEqual({ command: 'login', error: 'Wrong username/password' });

    // Closing Weft leaves the host serving.
    await weft.close();
    weft = null;
    expect(await (await fetch(`http://127.0.0.1:${port}/healthz`)).text()).toBe('host');
  });

  it('takes its path with or without a trailing slash, answers Yjs peers under it, and leaves a longer path that only starts with it to the host', async () => {
    const { server, port } = await hostApp();
    const hostSockets: string[] = [];
    server.on('upgrade', (req, socket) => {
      if (req.url === '/weftish') {
        hostSockets.push(req.url);
        socket.end('HTTP/1.1 418 Teapot\r\nConnection: close\r\n\r\n');
      }
    });
    dir = await tempDir();
    weft = await startWeft({
      config: { dataDir: join(dir, 'db'), projects: [{ id: 1, name: 'One' }], anonymous: { enabled: true, projects: [1] } },
      server,
      path: '/weft//',
      log: () => {},
    });
    const { client, reply } = await login(port, '/weft', 'ann', '');
    expect(reply).toEqual({ command: 'login' });
    await client.close();

    // Weft's Yjs endpoint under the path: it answers (a peer without a login is refused by Weft, not left to the host).
    const peer = new WebSocket(`ws://127.0.0.1:${port}/weft/yjs/1`);
    expect(await new Promise((resolve) => peer.once('unexpected-response', (_req, res) => resolve(res.statusCode)))).toBe(401);

    const other = new WebSocket(`ws://127.0.0.1:${port}/weftish`);
    const status = await new Promise((resolve) => other.once('unexpected-response', (_req, res) => resolve(res.statusCode)));
    expect(status).toBe(418);
    expect(hostSockets).toEqual(['/weftish']);
  });

  it('leaves a WebSocket outside its path to the host, even one the host answers later, and refuses a malformed target itself', async () => {
    const { server, port } = await hostApp();
    server.on('upgrade', (req, socket) => {
      if (req.url === '/weftish') setTimeout(() => socket.end('HTTP/1.1 418 Teapot\r\nConnection: close\r\n\r\n'), 100);
    });
    dir = await tempDir();
    weft = await startWeft({ config: { dataDir: join(dir, 'db') }, server, path: '/weft', log: () => {} });
    /** The status line answering a WebSocket upgrade of `target`. */
    const statusLine = (target: string) =>
      new Promise<string>((resolve, reject) => {
        const socket = connect(port, '127.0.0.1', () =>
          socket.write(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`),
        );
        let text = '';
        socket.setEncoding('utf8');
        socket.on('data', (chunk) => {
          text += chunk;
          if (text.includes('\r\n')) socket.destroy();
        });
        socket.on('close', () => resolve(text.split('\r\n')[0]!));
        socket.on('error', reject);
      });
    expect(await statusLine('/weftish')).toBe('HTTP/1.1 418 Teapot');
    expect(await statusLine('//[')).toBe('HTTP/1.1 400 Bad Request');
  });

  it('says not ready on /readyz once closed, while the host still passes requests on to it', async () => {
    const { server, port } = await hostApp();
    dir = await tempDir();
    weft = await startWeft({ config: { dataDir: join(dir, 'db') }, server, log: () => {} });
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
    expect([ready.status, await ready.json()]).toEqual([200, { status: 'ready' }]);
    const closed = weft;
    await closed.close();
    try {
      const after = await fetch(`http://127.0.0.1:${port}/readyz`);
      expect([after.status, await after.json()]).toEqual([503, { status: 'not ready' }]);
    } finally {
      weft = null;
    }
  });

  it('starts from no projects, users or anonymous logins, and refuses an invalid configuration readably', async () => {
    dir = await tempDir();
    await expect(startWeft({ config: { port: 0 } as never, log: () => {} })).rejects.toThrow(/dataDir/);
    await expect(startWeft({ config: { dataDir: join(dir, 'db'), port: 0, limits: { maxMessageBytes: -1 } }, log: () => {} })).rejects.toThrow(/limits\.maxMessageBytes/);
    weft = await startWeft({ config: { dataDir: join(dir, 'db'), port: 0, host: '127.0.0.1' }, log: () => {} });
    expect(await weft.manage.projects.list()).toEqual([]);
    expect((await login(weft.port, '/', 'someone', '')).reply).toEqual({ command: 'login', error: 'Wrong username/password' });
    expect((await login(weft.port, '/', 'admin', 'admin')).reply).toEqual({ command: 'login', error: 'Wrong username/password' });
  });

  it('manages projects in-process as the admin API does', async () => {
    dir = await tempDir();
    weft = await startWeft({ config: { dataDir: join(dir, 'db'), port: 0, host: '127.0.0.1' }, log: () => {} });
    await weft.manage.projects.import({ id: 'p', name: 'P' }, { tasks: [{ id: 1, name: 'A', children: [{ id: 2, name: 'B' }] }] });
    expect((await weft.manage.projects.list()).map((p) => [p.id, p.name])).toEqual([['p', 'P']]);
    const exported = await weft.manage.projects.export('p');
    expect((exported.tasksData as any[])[0]).toMatchObject({ id: 1, name: 'A', children: [{ id: 2, name: 'B' }] });
    expect(await weft.manage.history.list('p')).toEqual([]);
    await weft.manage.projects.delete('p');
    expect(await weft.manage.projects.list()).toEqual([]);
  });

  it('tells onCommit of each change as clients receive it and who made it (no user for the server\'s own), and onLoad / onUnload of projects', async () => {
    dir = await tempDir();
    const commits: CommittedChange[] = [];
    const events: string[] = [];
    weft = await startWeft({
      config: { dataDir: join(dir, 'db'), port: 0, host: '127.0.0.1', projects: [{ id: 1, name: 'One' }], users: { ann: { password: 'pw', group: 'team' } }, groups: { team: ['*'] } },
      log: () => {},
      hooks: {
        onCommit: (change) => void commits.push(change),
        onLoad: (project) => void events.push(`load ${project}`),
        onUnload: (project) => void events.push(`unload ${project}`),
        // Left to the configured users.
        authenticate: () => undefined,
      },
    });
    const { client, reply } = await login(weft.port, '/', 'ann', 'pw');
    expect(reply).toEqual({ command: 'login' });
    client.send({ command: 'dataset', project: 1 });
    await client.nextOf('dataset');
    client.send({ command: 'projectChange', project: 1, changes: { tasks: { added: [{ $PhantomId: 'a', name: 'Hooked' }] } } });
    const echo = await client.nextOf('projectChange');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(commits).toHaveLength(1);
    expect(commits[0]).toMatchObject({ project: 1, revision: 'server-1', client: expect.stringMatching(/^client-/), user: 'ann' });
    expect((commits[0].changes as any).tasks.added).toEqual(echo.changes.tasks.added);
    // A version the server takes is told to clients as the server's change: made by no user.
    await weft.manage.history.create('1', 'Hooked version');
    await client.nextOf('projectChange');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(commits).toHaveLength(2);
    expect(commits[1]).toMatchObject({ project: 1, revision: 'server-2', client: 'weft-server', user: null });
    await client.close();
    await weft.close();
    weft = null;
    expect(events.filter((e) => e.endsWith(' 1'))).toEqual(['load 1', 'unload 1']);
  });

  it('keeps serving when a hook throws: the login is refused, a commit stands', async () => {
    dir = await tempDir();
    const logged: string[] = [];
    const errors: string[] = [];
    weft = await startWeft({
      config: { dataDir: join(dir, 'db'), port: 0, host: '127.0.0.1', projects: [{ id: 1, name: 'One' }] },
      log: (line, fields) => {
        logged.push(line);
        if (fields?.level === 'error') errors.push(line);
      },
      hooks: {
        authenticate: async (request) => {
          if (request.login === 'boom') throw new Error('directory down');
          return { user: request.login, projects: '*' };
        },
        onCommit: () => {
          throw new Error('audit down');
        },
      },
    });
    expect((await login(weft.port, '/', 'boom', 'x')).reply).toEqual({ command: 'login', error: 'Authentication failed' });
    const { client } = await login(weft.port, '/', 'ann', 'x');
    client.send({ command: 'dataset', project: 1 });
    await client.nextOf('dataset');
    client.send({ command: 'projectChange', project: 1, changes: { tasks: { added: [{ $PhantomId: 'a', name: 'Stands' }] } } });
    expect((await client.nextOf('projectChange')).changes.tasks.added[0].name).toBe('Stands');
    client.send({ command: 'dataset', project: 1 });
    expect((await client.nextOf('dataset')).dataset.tasksData.map((t: any) => t.name)).toEqual(['Stands']);
    await client.close();
    // Each failure is an error line naming the hook, with the host's own error and its stack.
    expect(errors.filter((l) => l.startsWith('authenticate hook failed: Error: directory down\n    at '))).toHaveLength(1);
    expect(errors.filter((l) => l.startsWith('onCommit hook failed: Error: audit down\n    at '))).toHaveLength(1);
    expect(logged.filter((l) => l.includes('hook failed'))).toHaveLength(2);
  });

  it('authenticates a Yjs peer whose first message carries a token through the hook', async () => {
    dir = await tempDir();
    const seen: AuthRequest[] = [];
    weft = await startWeft({
      config: { dataDir: join(dir, 'db'), port: 0, host: '127.0.0.1', projects: [{ id: 1, name: 'One' }] },
      log: () => {},
      hooks: {
        authenticate: (request) => {
          seen.push(request);
          return request.token === 'app-session-42' ? { user: 'peer', projects: [1], write: false } : null;
        },
      },
    });
    const ws = new WebSocket(`ws://127.0.0.1:${weft.port}/yjs/1`);
    const frames: Buffer[] = [];
    ws.on('message', (data) => frames.push(data as Buffer));
    await new Promise((resolve) => ws.once('open', resolve));
    ws.send(encodeAuthToken('app-session-42'));
    ws.send(syncStep1Frame(Y.encodeStateVector(new Y.Doc())));
    for (let i = 0; i < 100 && frames.length < 2; i++) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(frames.length).toBeGreaterThanOrEqual(2);
    expect(Buffer.from(frames[0]).toString('latin1')).toContain('readonly');
    expect(seen[0]).toMatchObject({ login: '', token: 'app-session-42', via: 'yjs' });
    ws.close();
    const refused = new WebSocket(`ws://127.0.0.1:${weft.port}/yjs/1`);
    await new Promise((resolve) => refused.once('open', resolve));
    refused.send(encodeAuthToken('stolen'));
    expect(await new Promise((resolve) => refused.once('close', resolve))).toBe(4401);
  });
});
