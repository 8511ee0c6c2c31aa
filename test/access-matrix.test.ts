/**
 * Logins with tokens the host application signs, and who may do what: every command that touches
 * a project, in both generations and on the Yjs endpoint, for every kind of caller, on a project
 * they may open, one they may not, and one that does not exist.
 */
import { SignJWT } from 'jose';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUTHENTICATION_REQUIRED, AUTHORIZATION_REQUIRED, READ_ONLY, SUBSCRIPTION_REQUIRED } from '../src/server/commands.js';
import { TestClient, type Msg } from './support/client.js';
import { startServer, type TestServer } from './support/server.js';

const SECRET = 'a-shared-secret-of-at-least-32-characters!';
const seconds = () => Math.floor(Date.now() / 1000);
const sign = (claims: Record<string, unknown>, key = SECRET) => new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(key));

type Generation = 'classic' | 'revisions';
const CHANGE = { classic: 'projectChange', revisions: 'project_change' } as const;

/** A message of `command` in the generation's framing. */
function message(generation: Generation, command: string, payload: Msg): Msg {
  return generation === 'classic' ? { command, ...payload } : { command, data: payload };
}

let s: TestServer;
const logs: string[] = [];
beforeAll(async () => {
  // Project 3's users: admin only. alex's group opens 1 and 2; anonymous users open 1.
  s = await startServer({ tokens: { secret: SECRET, requireExpiry: true } }, undefined, (line) => logs.push(line));
});
afterAll(async () => s.dispose());

interface Role {
  name: string;
  /** How it logs in: a password, a token, or not at all. */
  login: (() => Promise<Msg>) | null;
  /** Its project it may open, and what it may do there. */
  allowed: number | null;
  writes: boolean;
  /** A project of the server it may not open. */
  forbidden: number;
}

const ROLES: Role[] = [
  { name: 'no login', login: null, allowed: null, writes: false, forbidden: 1 },
  { name: 'anonymous', login: async () => ({ login: 'foo', password: '' }), allowed: 1, writes: true, forbidden: 3 },
  { name: 'user without access', login: async () => ({ login: 'alex', password: 'alex' }), allowed: 1, writes: true, forbidden: 3 },
  { name: 'read-only token', login: async () => ({ login: 'rita', password: await sign({ sub: 'rita', projects: [1], write: false, exp: seconds() + 600 }) }), allowed: 1, writes: false, forbidden: 2 },
  { name: 'writer token', login: async () => ({ login: 'will', token: await sign({ sub: 'will', projects: [1, 3], exp: seconds() + 600 }) }), allowed: 3, writes: true, forbidden: 2 },
  { name: 'admin', login: async () => ({ login: 'admin', password: 'admin' }), allowed: 2, writes: true, forbidden: 99 },
  { name: 'expired token', login: async () => ({ login: 'old', token: await sign({ sub: 'old', projects: '*', exp: seconds() - 60 }) }), allowed: null, writes: false, forbidden: 1 },
  { name: 'token for another project', login: async () => ({ login: 'otto', token: await sign({ sub: 'otto', projects: [2], exp: seconds() + 600 }) }), allowed: 2, writes: true, forbidden: 1 },
];

/** What the server answered within a moment: the error, `dataset`, or `ok` (nothing refused); every message goes to `log`. */
async function answer(c: TestClient, command: string, ms: number, log: Msg[]): Promise<string> {
  const deadline = Date.now() + ms;
  let reply: Msg | undefined;
  while (!reply && Date.now() < deadline) {
    const m = await c.next(deadline - Date.now()).catch(() => undefined);
    if (m) log.push(m);
    if (m?.command === command) reply = m;
  }
  log.push(...(await c.drain(20)));
  const known = new Map([
    [AUTHENTICATION_REQUIRED, 'authentication required'],
    [AUTHORIZATION_REQUIRED, 'forbidden'],
    [READ_ONLY, 'read-only'],
    [SUBSCRIPTION_REQUIRED, 'subscription required'],
  ]);
  if (typeof reply?.error === 'string') return known.get(reply.error) ?? `error: ${reply.error}`;
  if (command === 'dataset') return (reply?.dataset ?? reply?.data?.dataset) !== undefined ? 'dataset' : 'no answer';
  // A classic sender gets no echo of an accepted update.
  return 'ok';
}

/** What a role gets for dataset, a change and reset on one project, on a fresh connection; every message it got goes to `seen`. */
async function cell(generation: Generation, role: Role, project: number, seen: Msg[]): Promise<string[]> {
  const c = await TestClient.connect(s.port);
  if (role.login) {
    c.send(message(generation, 'login', await role.login()));
    await c.nextOf('login');
    await c.drain(30);
  }
  const out: string[] = [];
  c.send(message(generation, 'dataset', { project }));
  out.push(await answer(c, 'dataset', 2000, seen));
  const change = { tasks: { updated: [{ id: 11, name: `${role.name} was here` }] } };
  c.send(message(generation, CHANGE[generation], generation === 'classic' ? { project, changes: change } : { project, revisions: [{ revision: 'local-1', changes: change }] }));
  out.push(await answer(c, CHANGE[generation], generation === 'classic' && role.writes && project === role.allowed ? 300 : 2000, seen));
  c.send(message(generation, 'reset', { project }));
  out.push(await answer(c, 'reset', 2000, seen));
  await c.close();
  return out;
}

const expected = (role: Role, which: 'allowed' | 'forbidden' | 'missing'): string[] => {
  if (role.allowed === null) return ['authentication required', 'authentication required', 'authentication required'];
  if (which !== 'allowed') return ['forbidden', 'forbidden', 'forbidden'];
  return role.writes ? ['dataset', 'ok', 'ok'] : ['dataset', 'read-only', 'read-only'];
};

describe('the access matrix', () => {
  for (const generation of ['classic', 'revisions'] as const) {
    it(`answers every ${generation} command as each role may, and never sends a byte of a project it may not open`, async () => {
      const got: Record<string, string[]> = {};
      const want: Record<string, string[]> = {};
      const leaked: Record<string, Msg[]> = {};
      for (const role of ROLES) {
        for (const [which, project] of [['allowed', role.allowed ?? 1], ['forbidden', role.forbidden], ['missing', 99]] as const) {
          const key = `${role.name} / ${which} ${project}`;
          const seen: Msg[] = [];
          got[key] = await cell(generation, role, project, seen);
          want[key] = expected(role, which);
          // Where it may not look: no dataset, no change, no reset of anyone's reached it.
          const data = seen.filter((m) => ['dataset', 'projectChange', 'project_change', 'reset'].includes(m.command) && m.error === undefined);
          if (which !== 'allowed' || role.allowed === null) leaked[key] = data;
        }
      }
      expect(got).toEqual(want);
      for (const key of Object.keys(leaked)) expect(leaked[key], key).toEqual([]);
    }, 60_000);
  }

  it('lets a token for every project open any that exists, and answers one that does not as one it may not open', async () => {
    const c = await TestClient.connect(s.port);
    c.send({ command: 'login', login: 'root', token: await sign({ sub: 'root', projects: '*', exp: seconds() + 600 }) });
    expect((await c.nextOf('login')).error).toBeUndefined();
    c.send({ command: 'dataset', project: 3 });
    expect((await c.nextOf('dataset')).dataset).toBeDefined();
    c.send({ command: 'dataset', project: 99 });
    const missing = await c.nextOf('dataset');
    expect(missing.error).toBe(AUTHORIZATION_REQUIRED);
    expect(missing.dataset).toBeUndefined();
    await c.close();
  });

  it('opens the Yjs endpoint as each role may', async () => {
    const status = (path: string) =>
      new Promise<number>((resolve) => {
        const ws = new WebSocket(`ws://127.0.0.1:${s.port}${path}`);
        ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        ws.on('open', () => {
          ws.close();
          resolve(101);
        });
        ws.on('error', () => undefined);
      });
    const token = async (claims: Record<string, unknown>) => encodeURIComponent(await sign({ exp: seconds() + 600, ...claims }));
    // No credentials in the URL: the socket is opened and waits for a token message (test/yjs-token-message.test.ts).
    expect(await status('/yjs/1')).toBe(101);
    expect(await status('/yjs/1?login=foo')).toBe(101);
    expect(await status('/yjs/3?login=foo')).toBe(403);
    expect(await status('/yjs/3?login=alex&password=alex')).toBe(403);
    expect(await status(`/yjs/1?token=${await token({ sub: 'rita', projects: [1], write: false })}`)).toBe(101);
    expect(await status(`/yjs/3?token=${await token({ sub: 'will', projects: [1, 3] })}`)).toBe(101);
    expect(await status(`/yjs/2?token=${await token({ sub: 'will', projects: [1, 3] })}`)).toBe(403);
    expect(await status(`/yjs/1?token=${await token({ sub: 'old', projects: '*', exp: seconds() - 60 })}`)).toBe(401);
    const forged = await sign({ sub: 'eve', projects: '*', exp: seconds() + 60 }, 'some-other-secret-of-32-characters-or-more');
    expect(await status(`/yjs/1?token=${encodeURIComponent(forged)}`)).toBe(401);
    expect(await status('/yjs/99?login=admin&password=admin')).toBe(403);
    expect(await status(`/yjs/99?token=${await token({ sub: 'root', projects: '*' })}`)).toBe(403);
  });
});

describe('logins with app-issued tokens', () => {
  it('log in as the token\'s user, given as password or as token, in both generations', async () => {
    const c = await TestClient.connect(s.port);
    c.send({ command: 'login', login: 'ann', password: await sign({ sub: 'ann', projects: [1], exp: seconds() + 600 }) });
    expect(await c.nextOf('login')).toEqual({ command: 'login' });
    expect((await c.nextOf('users')).users).toContain('ann');
    c.send({ command: 'projects' });
    expect((await c.nextOf('projects')).projects.map((p: Msg) => p.id)).toEqual([1]);
    const r = await TestClient.connect(s.port);
    r.send({ command: 'login', data: { login: 'bob', token: await sign({ sub: 'bob', projects: '*', exp: seconds() + 600 }) } });
    expect((await r.nextOf('login')).data.userName).toBe('bob');
    for (const x of [c, r]) await x.close();
  });

  it('are refused with the login error when expired, signed with another key, or naming another user', async () => {
    const c = await TestClient.connect(s.port);
    const tries: [Msg, RegExp][] = [
      [{ login: 'ann', token: await sign({ sub: 'ann', projects: '*', exp: seconds() - 5 }) }, /token expired/],
      [{ login: 'ann', token: await sign({ sub: 'ann', projects: '*', exp: seconds() + 60 }, 'some-other-secret-of-32-characters-or-more') }, /invalid token/],
      [{ login: 'mallory', token: await sign({ sub: 'ann', projects: '*', exp: seconds() + 60 }) }, /another user/],
      [{ login: 'ann', token: 42 }, /token must be a string/],
    ];
    for (const [login, error] of tries) {
      c.send({ command: 'login', ...login });
      const reply = await c.nextOf('login');
      expect(Object.keys(reply)).toEqual(['command', 'error']);
      expect(reply.error).toMatch(error);
    }
    c.send({ command: 'dataset', project: 1 });
    expect((await c.nextOf('dataset')).error).toBe(AUTHENTICATION_REQUIRED);
    await c.close();
  });

  it('are closed with 4401 when the token expires, and may log in again with a fresh one', async () => {
    const c = await TestClient.connect(s.port);
    c.send({ command: 'login', login: 'ann', token: await sign({ sub: 'ann', projects: [1], exp: seconds() + 2 }) });
    await c.nextOf('login');
    c.send({ command: 'dataset', project: 1 });
    await c.nextOf('dataset');
    const started = Date.now();
    while (!c.closed && Date.now() - started < 4000) await new Promise((r) => setTimeout(r, 50));
    expect([c.closeCode, c.closeReason]).toEqual([4401, 'token expired']);

    // A new login with a fresh token replaces the old expiry.
    const again = await TestClient.connect(s.port);
    again.send({ command: 'login', login: 'ann', token: await sign({ sub: 'ann', projects: [1], exp: seconds() + 2 }) });
    await again.nextOf('login');
    again.send({ command: 'login', login: 'ann', token: await sign({ sub: 'ann', projects: [1], exp: seconds() + 600 }) });
    await again.nextOf('login');
    await new Promise((r) => setTimeout(r, 3000));
    expect(again.closed).toBe(false);
    await again.close();
  }, 15_000);

  it('are refused where no token key is configured, and plain-text passwords in the config are warned of at start', async () => {
    const plain: string[] = [];
    const other = await startServer({}, undefined, (line) => plain.push(line));
    try {
      const c = await TestClient.connect(other.port);
      c.send({ command: 'login', login: 'ann', token: await sign({ sub: 'ann', projects: '*', exp: seconds() + 60 }) });
      expect((await c.nextOf('login')).error).toMatch(/not accepted/);
      await c.close();
      expect(plain.filter((l) => l.includes('plain-text password')).length).toBe(3);
    } finally {
      await other.dispose();
    }
  });
});
