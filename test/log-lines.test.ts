/**
 * The server's log lines of logins, disconnects and projects, with their fields: each names its
 * connection, user and project where it has one (README, Operations), so a log store can filter
 * by them. The executable's JSON lines are checked in cli.test.ts; these are the lines themselves.
 */
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import WebSocket from 'ws';
import { encodeAuthToken } from '../src/protocol/yjs-wire.js';
import { afterEach, describe, expect, it } from 'vitest';
import { TestClient, classicLogin } from './support/client.js';
import { recordingLog, startServer, tempDir, type TestServer } from './support/server.js';

const SECRET = 'a-shared-secret-of-at-least-32-characters!';

let s: TestServer | null = null;
afterEach(async () => {
  await s?.dispose();
  s = null;
});

/** A log function for startServer that keeps every line with its fields, and looks them up. */
function recording() {
  const { lines, log } = recordingLog();
  const find = (pattern: RegExp) => lines.filter(({ msg }) => pattern.test(msg));
  const waitFor = async (pattern: RegExp, ms = 5000) => {
    const end = Date.now() + ms;
    while (find(pattern).length === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    return find(pattern);
  };
  return { lines, log, find, waitFor };
}

describe('the server log', () => {
  it('names the connection and user of a login and of its disconnect, and the project loaded and unloaded', async () => {
    const rec = recording();
    s = await startServer({ storage: { compactAfterUpdates: 500, unloadAfterSeconds: 0, sync: false } as never }, undefined, rec.log);
    const c = await classicLogin(s.port, 'alex');
    c.send({ command: 'dataset', project: 1 });
    await c.nextOf('dataset', 5000);
    await c.close();
    const unloaded = await rec.waitFor(/^project 1 unloaded$/);

    const login = rec.find(/ logged in as "alex"$/);
    expect(login).toHaveLength(1);
    const id = /^(\S+): logged in as "alex"$/.exec(login[0].msg)![1];
    expect(id).toMatch(/^client-/);
    expect(login[0].fields).toEqual({ connection: id, user: 'alex' });
    const loaded = rec.find(/^project 1 loaded in \d+ ms$/);
    expect(loaded).toHaveLength(1);
    expect(loaded[0].fields).toEqual({ project: 1 });
    const gone = rec.find(/ disconnected$/);
    expect(gone.map(({ msg }) => msg)).toEqual([`${id}: "alex" disconnected`]);
    expect(gone[0].fields).toEqual({ connection: id, user: 'alex' });
    expect(unloaded).toHaveLength(1);
    expect(unloaded[0].fields).toEqual({ project: 1 });
  });

  it('says when a login came with a token', async () => {
    const rec = recording();
    s = await startServer({ tokens: { secret: SECRET } as never }, undefined, rec.log);
    const token = await new SignJWT({ sub: 'tess', projects: [1], exp: Math.floor(Date.now() / 1000) + 600 }).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(SECRET));
    const c = await TestClient.connect(s.port);
    c.send({ command: 'login', login: 'tess', token });
    expect(await c.nextOf('login', 5000)).toEqual({ command: 'login' });
    const login = rec.find(/logged in as "tess"/);
    expect(login.map(({ msg }) => msg.replace(/^\S+: /, ''))).toEqual(['logged in as "tess" with a token']);
    expect(login[0].fields).toMatchObject({ user: 'tess' });
    await c.close();
  });

  it('warns of each plain-text password in the configuration, naming its user and never the password', async () => {
    const rec = recording();
    s = await startServer({ users: { bob: { password: 'bob-secret', group: 'admin' } } as never }, undefined, rec.log);
    const warned = rec.find(/plain-text password/);
    // The configured users replace the demo users: one line, for bob.
    expect(warned).toHaveLength(1);
    expect(warned[0].msg).toBe('warning: users.bob has a plain-text password; put a hash from `weft hash-password` in the config instead');
    expect(warned[0].fields).toEqual({ level: 'warn', user: 'bob' });
    expect(rec.lines.some(({ msg }) => msg.includes('bob-secret'))).toBe(false);
  });

  it('logs a configured project whose seed cannot be read as an error naming it, seeds the others, and closes a Yjs peer of it with 1011', async () => {
    const rec = recording();
    const dir = await tempDir();
    try {
      await writeFile(join(dir, 'broken.json'), '{ "tasks": ');
      await writeFile(join(dir, 'fine.json'), JSON.stringify({ tasks: { rows: [{ id: 1, name: 'Seeded' }] } }));
      const projects = [
        { id: 1, name: 'Broken', seed: join(dir, 'broken.json') },
        { id: 2, name: 'Fine', seed: join(dir, 'fine.json') },
      ];
      s = await startServer({ projects, groups: { admin: [1, 2], user: [1, 2] }, tokens: { secret: SECRET } } as never, undefined, rec.log);
      const seeded = await rec.waitFor(/^project 2 seeded$/);
      expect(seeded).toHaveLength(1);
      const failed = rec.find(/cannot seed/);
      expect(failed).toHaveLength(1);
      expect(failed[0].msg).toMatch(/^project 1: cannot seed: Project 1 cannot be loaded: .+/);
      expect(failed[0].fields).toEqual({ level: 'error', project: 1 });

      // A Yjs peer logging in with a token to the project that cannot be loaded: closed (1011), the reason logged.
      const peer = new WebSocket(`ws://127.0.0.1:${s.port}/yjs/1`);
      peer.on('error', () => undefined);
      await new Promise((resolve) => peer.once('open', resolve));
      const closed = new Promise<[number, string]>((resolve) => peer.once('close', (code, reason) => resolve([code, reason.toString()])));
      const token = await new SignJWT({ sub: 'tess', projects: [1], exp: Math.floor(Date.now() / 1000) + 600 }).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(SECRET));
      peer.send(encodeAuthToken(token));
      expect(await closed).toEqual([1011, 'login failed']);
      const refused = rec.find(/^Yjs peer at \S+: login failed: /);
      expect(refused).toHaveLength(1);
      expect(refused[0].msg).toContain('Project 1 cannot be loaded');
      expect(refused[0].fields).toEqual({ level: 'error' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
