/**
 * The admin HTTP API for project history on the server's port, its authentication (HTTP Basic
 * for admin-group users, the sidecar's bearer token for the CLI) and the sidecar file itself.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { HistoryService } from '../src/history/service.js';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { rm, writeFile } from 'node:fs/promises';
import { loadConfig } from '../src/config/load.js';
import { readSidecar } from '../src/server/sidecar.js';
import { revisionsLogin } from './support/client.js';
import { startServer, tempDir, type TestServer } from './support/server.js';

let s: TestServer;
afterEach(async () => s?.dispose());

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

async function call(path: string, auth?: string, init: RequestInit = {}): Promise<{ status: number; body: any; headers: Headers }> {
  const response = await fetch(`http://127.0.0.1:${s.port}${path}`, { ...init, headers: { ...(auth ? { authorization: auth } : {}), ...(init.headers ?? {}) } });
  return { status: response.status, body: await response.json(), headers: response.headers };
}

const dbDir = () => join(s.dataDir, 'db');
const token = async () => `Bearer ${(await readSidecar(dbDir()))!.token}`;
const admin = basic('admin', 'admin');

describe('the sidecar file', () => {
  it('names the server URL and a token, readable by the owner only, and goes away on close', async () => {
    s = await startServer();
    const path = join(dbDir(), 'weft-server.json');
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const sidecar = await readSidecar(dbDir());
    expect(sidecar).toMatchObject({ url: `http://127.0.0.1:${s.port}`, pid: process.pid });
    expect(sidecar!.token.length).toBeGreaterThanOrEqual(32);
    await s.stop();
    expect(existsSync(path)).toBe(false);
  });
});

describe('reading a sidecar file', () => {
  it('takes only a whole one (a URL, a token of 16 characters or more, a whole pid) and nothing else', async () => {
    const dir = await tempDir();
    try {
      const write = (value: unknown) => writeFile(join(dir, 'weft-server.json'), typeof value === 'string' ? value : JSON.stringify(value));
      expect(await readSidecar(dir)).toBeUndefined();
      const good = { url: 'http://127.0.0.1:8080', token: 'x'.repeat(16), pid: 42 };
      await write(good);
      expect(await readSidecar(dir)).toEqual(good);
      for (const bad of [{ ...good, url: 'not a url' }, { ...good, token: 'x'.repeat(15) }, { ...good, pid: 4.2 }, { token: good.token, pid: 42 }, {}, '{"url":']) {
        await write(bad);
        expect(await readSidecar(dir)).toBeUndefined();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('authentication', () => {
  it('asks for credentials, refuses wrong ones with 401 and users outside admin groups with 403', async () => {
    s = await startServer();
    const none = await call('/api/projects/1/versions');
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toContain('Basic');
    expect((await call('/api/projects/1/versions', basic('admin', 'wrong'))).status).toBe(401);
    expect((await call('/api/projects/1/versions', basic('nobody', 'x'))).status).toBe(401);
    expect((await call('/api/projects/1/versions', 'Bearer not-the-token')).status).toBe(401);
    const alex = await call('/api/projects/1/versions', basic('alex', 'alex'));
    expect(alex.status).toBe(403);
    expect(alex.body.error).toContain('admin group');
    expect(await call('/api/projects/1/versions', admin)).toMatchObject({ status: 200, body: [] });
    expect(await call('/api/projects/1/versions', await token())).toMatchObject({ status: 200, body: [] });
    expect((await call('/api/storage', basic('ben', 'ben'))).status).toBe(403);
  });

  it('refuses a wrong bearer token with 401 and says the token is invalid', async () => {
    s = await startServer();
    const wrong = await call('/api/projects/1/versions', 'Bearer not-the-token');
    expect(wrong.status).toBe(401);
    expect(wrong.body).toEqual({ error: 'invalid token' });
    expect(wrong.headers.get('www-authenticate')).toContain('Basic');
  });

  it('answers /api/cluster on a server running alone with 404 and says why', async () => {
    s = await startServer();
    const reply = await call('/api/cluster', admin);
    expect(reply.status).toBe(404);
    expect(JSON.stringify(reply.body)).toContain('not part of a cluster');
  });

  it('takes the admin groups from the configuration', async () => {
    s = await startServer({ adminGroups: ['user'] });
    expect((await call('/api/projects/1/versions', basic('alex', 'alex'))).status).toBe(200);
    expect((await call('/api/projects/1/versions', admin)).status).toBe(403);
  });

  it('leaves creating and restoring versions to the CLI token', async () => {
    s = await startServer();
    const refused = await call('/api/projects/1/versions', admin, { method: 'POST', body: '{}' });
    expect(refused.status).toBe(403);
    const created = await call('/api/projects/1/versions', await token(), { method: 'POST', body: JSON.stringify({ label: 'From the CLI' }) });
    expect(created).toMatchObject({ status: 200, body: { n: 1, label: 'From the CLI', reason: 'manual' } });
    expect((await call('/api/projects/1/versions/1/restore', admin, { method: 'POST' })).status).toBe(403);
    expect((await call('/api/projects/1/versions/1/restore', await token(), { method: 'POST' })).status).toBe(200);
  });
});

describe('endpoints', () => {
  it('list, show (a version or current) and diff versions, and report storage', async () => {
    s = await startServer();
    const bearer = await token();
    const v1 = (await call('/api/projects/1/versions', bearer, { method: 'POST', body: '{}' })).body;
    const client = await revisionsLogin(s.port, 'alex');
    client.send({ command: 'dataset', data: { project: 1 } });
    await client.nextOf('dataset');
    client.send({ command: 'project_change', data: { project: 1, revisions: [{ revision: 'l1', clientId: client.clientId, changes: { tasks: { updated: [{ id: 11, name: 'Changed over WebSocket' }] } } }] } });
    await client.nextOf('project_change');
    await client.close();

    const list = await call('/api/projects/1/versions', admin);
    expect(list).toMatchObject({ status: 200, body: [v1] });

    const shown = await call('/api/projects/1/versions/1', admin);
    expect(shown.status).toBe(200);
    expect(shown.body.version).toEqual(v1);
    expect(Object.keys(shown.body.dataset)).toEqual(['tasksData', 'resourcesData', 'dependenciesData', 'assignmentsData', 'calendarsData', 'versionsData', 'changelogsData', 'project']);
    expect((await call('/api/projects/1/versions/weft-1', admin)).body).toEqual(shown.body);
    const current = await call('/api/projects/1/versions/current', admin);
    expect(current.body.version).toBeNull();

    const diff = await call('/api/projects/1/diff?from=1&to=current', admin);
    expect(diff.status).toBe(200);
    expect(diff.body).toEqual({
      from: 'version 1',
      to: 'current',
      diff: { stores: { tasksData: { added: [], removed: [], changed: [{ id: 11, name: 'Changed over WebSocket', fields: { name: { before: 'Install Apache', after: 'Changed over WebSocket' } } }] } }, project: {} },
    });
    expect((await call('/api/projects/1/diff?from=current', admin)).body.diff).toEqual({ stores: {}, project: {} });

    const storage = await call('/api/storage', admin);
    expect(storage.status).toBe(200);
    const project1 = storage.body.find((p: any) => p.project === 1);
    expect(project1.parts.serverVersions.keys).toBeGreaterThanOrEqual(2);
    expect(project1.parts.document.bytes).toBeGreaterThan(0);
    expect(project1.parts.revisionLog.keys).toBeGreaterThanOrEqual(2);
    expect(project1.total.bytes).toBe(Object.values(project1.parts).reduce((n: number, p: any) => n + p.bytes, 0));
  });

  it('answer unknown projects and versions with 404, bad input with 400 and wrong methods with 405', async () => {
    s = await startServer();
    expect((await call('/api/projects/1/versions/3', admin)).status).toBe(404);
    expect((await call('/api/projects/nope/versions', admin)).status).toBe(404);
    expect((await call('/api/projects/1/versions/latest', admin)).status).toBe(400);
    expect((await call('/api/projects/1/diff', admin)).status).toBe(400);
    expect((await call('/api/projects/1/versions/1/restore', admin)).status).toBe(405);
    expect((await call('/api/nothing', admin)).status).toBe(404);
    expect(await call('/api/projects/%E0%A4%A', admin)).toMatchObject({ status: 400, body: { error: 'malformed path segment "%E0%A4%A"' } });
    // Only the paths themselves: nothing below /api/storage or /api/cluster.
    expect((await call('/api/storage/more', admin)).status).toBe(404);
    expect((await call('/api/cluster/more', admin)).status).toBe(404);
    const badBody = await call('/api/projects/1/versions', await token(), { method: 'POST', body: JSON.stringify({ label: 5 }) });
    expect(badBody.status).toBe(400);
    expect((await call('/api/projects/1/versions/current/restore', await token(), { method: 'POST' })).status).toBe(400);
    // A label of at most 200 characters, and nothing but a label.
    const long = await call('/api/projects/1/versions', await token(), { method: 'POST', body: JSON.stringify({ label: 'x'.repeat(201) }) });
    expect(long.status).toBe(400);
    expect(long.body.error).toMatch(/label/);
    expect((await call('/api/projects/1/versions', await token(), { method: 'POST', body: JSON.stringify({ label: 'ok', extra: 1 }) })).status).toBe(400);
    expect(await call('/api/projects/1/versions', await token(), { method: 'POST', body: JSON.stringify({ label: 'x'.repeat(200) }) })).toMatchObject({ status: 200, body: { n: 1 } });
    // Each read-only path takes GET only, and says so.
    for (const path of ['/api/storage', '/api/cluster', '/api/projects/1/versions/1', '/api/projects/1/export', '/api/projects/1/diff?from=1']) {
      const wrong = await call(path, admin, { method: 'PUT' });
      expect([path, wrong.status, wrong.headers.get('allow')]).toEqual([path, 405, 'GET']);
      expect(wrong.body.error).toBe('use GET');
    }
    // Other paths still answer as before.
    expect((await fetch(`http://127.0.0.1:${s.port}/health`)).status).toBe(200);
  });

  it('answer a failure of the server itself with 500 and its message, as JSON', async () => {
    s = await startServer();
    const list = vi.spyOn(HistoryService.prototype, 'list').mockRejectedValue(new Error('disk gone (injected)'));
    try {
      const failed = await call('/api/projects/1/versions', admin);
      expect([failed.status, failed.body, failed.headers.get('content-type')]).toEqual([500, { error: 'disk gone (injected)' }, 'application/json']);
    } finally {
      list.mockRestore();
    }
    expect((await call('/api/projects/1/versions', admin)).status).toBe(200);
  });

  it('say in each error what is wrong, as JSON that is never cached', async () => {
    s = await startServer({ limits: { maxFailedLoginsPerAddress: 3 } as never });
    const challenge = 'Basic realm="weft", charset="UTF-8"';
    const none = await call('/api/projects/1/versions');
    expect([none.status, none.body, none.headers.get('www-authenticate')]).toEqual([401, { error: 'authentication required' }, challenge]);
    expect([none.headers.get('content-type'), none.headers.get('cache-control')]).toEqual(['application/json', 'no-store']);
    const alex = await call('/api/projects/1/versions', basic('alex', 'alex'));
    expect(alex.body).toEqual({ error: 'user "alex" is not in an admin group' });
    expect(await call('/api/nothing', admin)).toMatchObject({ status: 404, body: { error: 'not found' } });
    const project = await call('/api/projects/1', admin);
    expect([project.status, project.body, project.headers.get('allow')]).toEqual([405, { error: 'use PATCH (rename) or DELETE' }, 'PATCH, DELETE']);
    expect(await call('/api/projects/1/versions', admin, { method: 'POST', body: '{}' })).toMatchObject({ status: 403, body: { error: 'creating and restoring versions is for the weft CLI' } });
    const bearer = await token();
    expect(await call('/api/projects/1/versions', bearer, { method: 'POST', body: '{ label' })).toMatchObject({ status: 400, body: { error: 'request body is not JSON' } });
    expect((await call('/api/projects/1/versions', bearer, { method: 'POST', body: JSON.stringify({ label: 5 }) })).body.error).toMatch(/^invalid request body: .*label/);
    expect((await call('/api/projects/1/diff', admin)).body.error).toMatch(/^invalid query: .*from/);
    expect((await call('/api/projects/1/export?version=', admin)).body.error).toMatch(/^invalid query: .*version/);
    const huge = await call('/api/projects/1/versions/1/restore', bearer, { method: 'POST', body: JSON.stringify({ pad: 'x'.repeat(100 * 1024) }) });
    expect(huge.status).toBe(413);
    expect(huge.body.error).toMatch(/^request body over \d+ bytes$/);
    // Wrong passwords, up to the address's limit: then 429 with when to try again, and the connection closed.
    const wrong = await call('/api/projects/1/versions', basic('admin', 'wrong'));
    expect([wrong.status, wrong.body, wrong.headers.get('www-authenticate')]).toEqual([401, { error: 'wrong user name or password' }, challenge]);
    await call('/api/projects/1/versions', basic('admin', 'wrong'));
    await call('/api/projects/1/versions', basic('nobody', 'x'));
    const blocked = await call('/api/projects/1/versions', admin);
    expect(blocked.status).toBe(429);
    expect(blocked.body.error).toMatch(/^too many failed logins: try again in \d+ s$/);
    expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(blocked.headers.get('connection')).toBe('close');
  });

  it('restore only at versions/<n>/restore: other paths below a project answer 404 and leave its history alone', async () => {
    s = await startServer();
    const bearer = await token();
    const v1 = (await call('/api/projects/1/versions', bearer, { method: 'POST', body: '{}' })).body;
    expect(v1).toMatchObject({ n: 1 });
    const post = { method: 'POST', body: '{}' };
    for (const path of [
      '/api/projects/1/versions/1/restore/extra',
      '/api/projects/1/versions/1/other',
      '/api/projects/1/something/1/restore',
      '/api/projects/1/something/1/other',
      '/api/projects/1/diff/1',
    ]) {
      const reply = await call(path, bearer, post);
      expect([path, reply.status, reply.body]).toEqual([path, 404, { error: 'not found' }]);
    }
    const diffBelow = await call('/api/projects/1/diff/extra?from=1', admin);
    expect([diffBelow.status, diffBelow.body]).toEqual([404, { error: 'not found' }]);
    // Nothing was restored: no version was taken before a restore.
    expect(await call('/api/projects/1/versions', admin)).toMatchObject({ status: 200, body: [v1] });
    // The one restore path still restores.
    const restored = await call('/api/projects/1/versions/1/restore', bearer, post);
    expect(restored).toMatchObject({ status: 200, body: { restored: { n: 1 } } });
  });
});

describe('configuration', () => {
  it('has history and admin defaults, and a config file may change part of them', async () => {
    const defaults = await loadConfig({ env: {} });
    expect(defaults.history).toEqual({ autoEveryChanges: 500, autoEveryMinutes: 10, keepLast: 50, keepDaily: 30 });
    expect(defaults.adminGroups).toEqual(['admin']);
    const dir = await tempDir();
    const file = join(dir, 'weft.json');
    await writeFile(file, JSON.stringify({ history: { keepLast: 5 }, adminGroups: ['user'] }));
    const config = await loadConfig({ file, env: {} });
    expect(config.history).toEqual({ autoEveryChanges: 500, autoEveryMinutes: 10, keepLast: 5, keepDaily: 30 });
    expect(config.adminGroups).toEqual(['user']);
    await writeFile(file, JSON.stringify({ history: { keepLast: 0 } }));
    await expect(loadConfig({ file, env: {} })).rejects.toThrow('history.keepLast');
    await rm(dir, { recursive: true, force: true });
  });
});
