/**
 * Projects as data: the list in LevelDB seeded from the configuration, created, imported,
 * exported, renamed and deleted at runtime (admin API and `weft projects`), and created on demand.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { WebSocket } from 'ws';
import { Level } from 'level';
import { readSidecar } from '../src/server/sidecar.js';
import { runProjects } from '../src/cli/projects.js';
import { UsageError } from '../src/cli/command.js';
import { classicLogin, revisionsLogin, TestClient } from './support/client.js';
import { seedPath, idTree, type ServedTask } from './support/document.js';
import { startServer, type TestServer } from './support/server.js';

let s: TestServer;
afterEach(async () => s?.dispose());

const SECRET = 'a-shared-secret-of-at-least-32-characters!';
const signed = (claims: Record<string, unknown>) =>
  new SignJWT({ exp: Math.floor(Date.now() / 1000) + 600, ...claims }).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(SECRET));

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const admin = basic('admin', 'admin');
const dbDir = () => join(s.dataDir, 'db');
const cliToken = async () => `Bearer ${(await readSidecar(dbDir()))!.token}`;

async function call(path: string, auth: string | undefined, method = 'GET', body?: unknown): Promise<{ status: number; body: any }> {
  const response = await fetch(`http://127.0.0.1:${s.port}${path}`, {
    method,
    headers: { ...(auth ? { authorization: auth } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

/** The project as a classic client with access to every project loads it. */
async function load(project: number | string, client?: TestClient): Promise<any> {
  const c = client ?? (await classicLogin(s.port));
  c.send({ command: 'dataset', project });
  const reply = await c.nextOf('dataset', 10_000);
  if (!client) await c.close();
  return reply;
}

const io = () => {
  const out = { stdout: '', stderr: '', out: (t: string) => void (out.stdout += t), err: (t: string) => void (out.stderr += t) };
  return out;
};

/** Keys of the data directory under a prefix (the server must be stopped). */
async function keysUnder(prefix: string): Promise<string[]> {
  const db = new Level<string, string>(dbDir());
  const keys: string[] = [];
  for await (const key of db.keys({ gte: prefix, lt: `${prefix}\xff` })) keys.push(key);
  await db.close();
  return keys;
}

const everyProject = { groups: { admin: ['*'], user: [1, 2] } };

describe('the project list', () => {
  it('is seeded from the configured projects and kept in the data directory after that', async () => {
    s = await startServer(everyProject);
    expect((await call('/api/projects', admin)).body.map((p: any) => [p.id, p.name])).toEqual([
      [1, 'SaaS'],
      [2, 'Website'],
      [3, 'Backend'],
    ]);
    expect((await call('/api/projects', admin, 'POST', { id: 'extra', name: 'Extra' })).status).toBe(200);
    expect((await call('/api/projects/3', admin, 'DELETE')).status).toBe(200);
    s = await s.restart();
    // The deleted configured project is not taken in again; the created one stays.
    expect((await call('/api/projects', admin)).body.map((p: any) => p.id)).toEqual([1, 2, 'extra']);
    const c = await classicLogin(s.port);
    c.send({ command: 'projects' });
    expect((await c.nextOf('projects')).projects.map((p: any) => p.id)).toEqual([1, 2, 'extra']);
    await c.close();
  });
});

describe('creating and importing', () => {
  it('makes a new empty project that clients can open and change at once', async () => {
    s = await startServer(everyProject);
    const created = await call('/api/projects', admin, 'POST', { id: 42, name: 'Answer' });
    expect(created).toMatchObject({ status: 200, body: { id: 42, name: 'Answer', loaded: true } });
    const c = await classicLogin(s.port);
    expect((await load(42, c)).dataset.tasksData).toEqual([]);
    c.send({ command: 'projectChange', project: 42, changes: { tasks: { added: [{ $PhantomId: 'p1', name: 'First' }] } } });
    const reply = await c.nextOf('projectChange');
    expect(reply.changes.tasks.added[0]).toMatchObject({ $PhantomId: 'p1', id: expect.any(Number) });
    await c.close();
    s = await s.restart();
    expect((await load(42)).dataset.tasksData.map((t: any) => t.name)).toEqual(['First']);
  });

  it('refuses an id that exists, bad ids and names, with clear errors', async () => {
    s = await startServer(everyProject);
    expect(await call('/api/projects', admin, 'POST', { id: 1 })).toMatchObject({ status: 409, body: { error: 'project 1 already exists' } });
    expect((await call('/api/projects', admin, 'POST', { id: '' })).status).toBe(400);
    expect((await call('/api/projects', admin, 'POST', { id: 1.5 })).status).toBe(400);
    expect((await call('/api/projects', admin, 'POST', { id: 'x', name: '  ' })).status).toBe(400);
    expect((await call('/api/projects', admin, 'POST', { id: 'x', owner: 'me' })).status).toBe(400);
    const bad = await call('/api/projects', admin, 'POST', { id: 'x', data: [1, 2] });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatch(/cannot import/);
    // Nothing was left behind by the refused import.
    expect((await call('/api/projects', admin)).body.map((p: any) => p.id)).toEqual([1, 2, 3]);
  });

  it('refuses data a change could not hold, and a tree that is none, saying why, and keeps serving', async () => {
    s = await startServer(everyProject);
    const refusals: [unknown, RegExp][] = [
      [{ tasks: [{ id: { x: 1 }, name: 'a' }] }, /tasks\[0\]: a record id must be/],
      [{ tasks: [{ id: '\u0000root' }] }, /without U\+0000/],
      [{ tasks: [{ id: 1, children: [{ id: 1 }] }] }, /id 1 appears twice/],
      [{ tasks: [{ id: 1, parentId: 2 }, { id: 2, parentId: 1 }] }, /is its own ancestor/],
      [{ tasks: [{ id: 1, parentId: 7 }] }, /has parent 7, which is not a task of the import/],
      [{ tasks: [{ id: 1, constructor: 5 }] }, /"constructor" may not be used as a field name/],
      [{ tasks: [{ id: 1, x: JSON.parse('['.repeat(100) + ']'.repeat(100)) }] }, /nested at most 64 levels/],
      [{ tasks: [{ name: 'no id' }] }, /a record id must be/],
    ];
    for (const [data, message] of refusals) {
      const result = await call('/api/projects', admin, 'POST', { id: 'h', data });
      expect(result.status, JSON.stringify(data).slice(0, 60)).toBe(400);
      expect(result.body.error).toMatch(message);
    }
    expect((await call('/api/projects', admin)).body.map((p: any) => p.id)).toEqual([1, 2, 3]);
    expect((await load(1)).dataset.tasksData.length).toBeGreaterThan(0);
  });

  it('reads a dataset as a dataset reply holds it, as loadInlineData takes it, a demo project file and a CrudManager load response', async () => {
    s = await startServer(everyProject);
    const file = JSON.parse(await readFile(seedPath('website'), 'utf8'));
    const original = (await load(2)).dataset;
    const inline = { project: original.project, tasks: original.tasksData, resources: original.resourcesData, dependencies: original.dependenciesData, assignments: original.assignmentsData, calendars: original.calendarsData };
    const crud = { success: true, requestId: 7, project: file.project, tasks: { rows: file.tasks.rows }, resources: { rows: file.resources.rows }, dependencies: { rows: file.dependencies.rows }, assignments: { rows: file.assignments.rows }, calendars: { rows: file.calendars.rows } };
    const inputs: [string, unknown, string][] = [
      ['reply', { command: 'dataset', project: 2, dataset: original }, 'dataset'],
      ['inline', inline, 'dataset'],
      ['file', file, 'rows'],
      ['crud', crud, 'rows'],
    ];
    for (const [id, data, format] of inputs) {
      const result = await call('/api/projects', admin, 'POST', { id, data });
      expect(result.status, id).toBe(200);
      expect(result.body.format).toBe(format);
      expect(result.body.records.tasks).toBeGreaterThan(5);
      const imported = (await load(id)).dataset;
      expect(idTree(imported.tasksData as ServedTask[]), id).toEqual(idTree(original.tasksData as ServedTask[]));
      expect(imported.assignmentsData.length).toBe(original.assignmentsData.length);
    }
  });

  it('keeps every record, field, tree order and id through export and import, and a reset goes back to the imported state', async () => {
    s = await startServer(everyProject);
    const c = await classicLogin(s.port);
    const o = await classicLogin(s.port);
    // A classic sender gets no echo of an update: the other client shows when it is done.
    const change = async (project: number | string, changes: unknown) => {
      c.send({ command: 'projectChange', project, changes });
      await o.nextOf('projectChange');
    };
    await load(1, c);
    await load(1, o);
    await change(1, { tasks: { updated: [{ id: 11, name: 'Renamed before export', note: 'kept' }] } });
    const exported = await call('/api/projects/1/export', admin);
    expect(exported.status).toBe(200);
    expect(await call('/api/projects', admin, 'POST', { id: 'copy', name: 'Copy', data: exported.body })).toMatchObject({ status: 200 });
    const again = await call('/api/projects/copy/export', admin);
    expect(again.body).toEqual(exported.body);
    // The export of a version is the state then.
    const version = await call('/api/projects/1/versions', await cliToken(), 'POST', { label: 'v' });
    await change(1, { tasks: { updated: [{ id: 11, name: 'After the version' }] } });
    const then = await call(`/api/projects/1/export?version=${version.body.n}`, admin);
    expect(then.body).toEqual(exported.body);
    // A reset of the copy brings back what was imported.
    await load('copy', c);
    await load('copy', o);
    await change('copy', { tasks: { removed: [{ id: 11 }] } });
    expect((await call('/api/projects/copy/export', admin)).body).not.toEqual(exported.body);
    c.send({ command: 'reset', project: 'copy' });
    await c.nextOf('reset', 10_000);
    expect((await call('/api/projects/copy/export', admin)).body).toEqual(exported.body);
    await c.close();
    await o.close();
  });
});

describe('renaming and deleting', () => {
  it('renames a project: clients see the new name, the id stays', async () => {
    s = await startServer(everyProject);
    expect(await call('/api/projects/2', admin, 'PATCH', { name: 'Relaunch' })).toMatchObject({ status: 200, body: { id: 2, name: 'Relaunch' } });
    expect((await call('/api/projects/2', admin, 'PATCH', { name: '' })).status).toBe(400);
    s = await s.restart();
    const c = await classicLogin(s.port);
    c.send({ command: 'projects' });
    expect((await c.nextOf('projects')).projects).toContainEqual({ id: 2, name: 'Relaunch' });
    await c.close();
  });

  it('ends the subscription of every client with an error, closes Yjs peers, and removes all its keys', async () => {
    s = await startServer(everyProject);
    const classic = await classicLogin(s.port);
    await load(2, classic);
    const revisions = await revisionsLogin(s.port);
    revisions.send({ command: 'dataset', data: { project: 2 } });
    await revisions.nextOf('dataset');
    const peer = new WebSocket(`ws://127.0.0.1:${s.port}/yjs/2?login=admin&password=admin`);
    const peerClosed = new Promise<number>((resolve) => peer.on('close', (code) => resolve(code)));
    await new Promise((resolve) => peer.on('open', resolve));
    await call('/api/projects/2/versions', await cliToken(), 'POST', {});

    const deleted = await call('/api/projects/2', admin, 'DELETE');
    expect(deleted).toMatchObject({ status: 200, body: { project: 2, keys: expect.any(Number) } });
    expect(deleted.body.keys).toBeGreaterThan(3);
    expect(await classic.nextOf('error')).toMatchObject({ project: 2, message: 'Project 2 was deleted' });
    expect(await revisions.nextOf('error')).toMatchObject({ project: 2, message: 'Project 2 was deleted' });
    expect(await peerClosed).toBe(4404);
    // Nothing more reaches the project: a change is answered as for a project not subscribed to.
    classic.send({ command: 'projectChange', project: 2, changes: { tasks: { updated: [{ id: 11, name: 'x' }] } } });
    expect((await classic.nextOf('projectChange')).error).toMatch(/subscri/i);
    classic.send({ command: 'dataset', project: 2 });
    expect((await classic.nextOf('dataset')).error).toBeTruthy();
    // The others keep working.
    expect((await load(1, classic)).dataset.tasksData.length).toBeGreaterThan(0);
    await classic.close();
    await revisions.close();
    expect(await call('/api/projects/2/versions', admin)).toMatchObject({ status: 404 });
    await s.stop();
    expect(await keysUnder('p:n2:')).toEqual([]);
    expect(await keysUnder('c:p:n2')).toEqual([]);
    expect((await keysUnder('p:n1:')).length).toBeGreaterThan(0);
  });
});

describe('who may manage projects', () => {
  it('is an admin-group user or the CLI token; others get 401 or 403', async () => {
    s = await startServer(everyProject);
    expect((await call('/api/projects', undefined, 'POST', { id: 'a' })).status).toBe(401);
    expect((await call('/api/projects', basic('alex', 'alex'), 'POST', { id: 'a' })).status).toBe(403);
    expect((await call('/api/projects/1', basic('alex', 'alex'), 'DELETE')).status).toBe(403);
    expect((await call('/api/projects', await cliToken(), 'POST', { id: 'a' })).status).toBe(200);
    expect((await call('/api/projects/1', undefined, 'PATCH', { name: 'x' })).status).toBe(401);
  });
});

describe('projects on demand', () => {
  const tokens = { tokens: { secret: SECRET } };

  it('are off by default: a token naming a project that does not exist gets the authorization error', async () => {
    s = await startServer(tokens);
    const c = await classicLogin(s.port, 'ann', await signed({ sub: 'ann', projects: ['fresh'] }));
    c.send({ command: 'dataset', project: 'fresh' });
    expect((await c.nextOf('dataset')).error).toBe('Authorization required');
    await c.close();
    expect((await call('/api/projects', admin)).body.map((p: any) => p.id)).toEqual([1, 2, 3]);
  });

  it('when on, create a project a token names on its first open, empty, and not for a "*" token nor a user without a token', async () => {
    s = await startServer({ ...tokens, onDemandProjects: true });
    const c = await classicLogin(s.port, 'ann', await signed({ sub: 'ann', projects: ['fresh', 77] }));
    c.send({ command: 'dataset', project: 'fresh' });
    expect((await c.nextOf('dataset')).dataset.tasksData).toEqual([]);
    c.send({ command: 'dataset', project: 77 });
    expect((await c.nextOf('dataset')).dataset.tasksData).toEqual([]);
    c.send({ command: 'dataset', project: 'not-granted' });
    expect((await c.nextOf('dataset')).error).toBe('Authorization required');
    await c.close();
    const all = await classicLogin(s.port, 'root', await signed({ sub: 'root', projects: '*' }));
    all.send({ command: 'dataset', project: 'typo' });
    expect((await all.nextOf('dataset')).error).toBe('Authorization required');
    await all.close();
    // A user logged in with a password holds no token: it opens projects as before and makes none.
    const configured = await classicLogin(s.port, 'admin');
    configured.send({ command: 'dataset', project: 1 });
    expect((await configured.nextOf('dataset')).dataset.tasksData.length).toBeGreaterThan(0);
    configured.send({ command: 'dataset', project: 'made-up' });
    expect((await configured.nextOf('dataset')).error).toBe('Authorization required');
    await configured.close();
    expect((await call('/api/projects', admin)).body.map((p: any) => p.id)).toEqual([1, 2, 3, 'fresh', 77]);
  });
});

describe('weft projects', () => {
  it('creates, imports, exports, renames, lists and deletes directly on a data directory', async () => {
    s = await startServer(everyProject);
    await s.stop();
    const dir = ['--data-dir', dbDir()];
    const out = join(s.dataDir, 'export.json');
    const run = async (...args: string[]) => {
      const o = io();
      await runProjects([...args, ...dir], o);
      return o;
    };
    expect((await run('create', '7', '--name', 'Seven')).stdout).toBe('created project 7 "Seven"\n');
    expect((await run('create', '8', '--string-id')).stdout).toBe('created project "8" "8"\n');
    const exported = await run('export', '1', '-o', out);
    expect(exported.stderr).toContain(`wrote ${out}`);
    expect((await run('import', 'copy', out, '--name', 'Copy')).stdout).toMatch(/^imported project "copy" "Copy" from a dataset: \d+ tasks/);
    expect((await run('export', 'copy')).stdout).toBe(await readFile(out, 'utf8'));
    expect((await run('rename', 'copy', 'The copy')).stdout).toBe('project "copy" is now "The copy"\n');
    await expect(run('delete', '8')).rejects.toThrow(UsageError);
    expect((await run('delete', '8', '--yes')).stdout).toMatch(/^deleted project "8" \(\d+ keys\)\n$/);
    const listed = JSON.parse((await run('list', '--json')).stdout);
    expect(listed.map((p: any) => [p.id, p.name])).toEqual([
      [1, 'SaaS'],
      [2, 'Website'],
      [3, 'Backend'],
      [7, 'Seven'],
      ['copy', 'The copy'],
    ]);
    await expect(run('rename', 'nope', 'x')).rejects.toThrow('unknown project "nope"');
    await expect(run('import', 'bad', join(s.dataDir, 'missing.json'))).rejects.toThrow(/cannot read/);
    await writeFile(join(s.dataDir, 'bad.json'), '{"tasks": 5}');
    await expect(run('import', 'bad', join(s.dataDir, 'bad.json'))).rejects.toThrow(/no stores found/);
  });

  it('goes through the running server, whose clients see the changes at once', async () => {
    s = await startServer(everyProject);
    const dir = ['--data-dir', dbDir()];
    const o = io();
    await runProjects(['create', 'live', '--name', 'Live', ...dir], o);
    expect(o.stderr).toContain('via server');
    expect((await load('live')).dataset.tasksData).toEqual([]);
    const c = await classicLogin(s.port);
    await load('live', c);
    await runProjects(['delete', 'live', '--yes', ...dir], io());
    expect(await c.nextOf('error')).toMatchObject({ project: 'live', message: 'Project "live" was deleted' });
    await c.close();
  });
});
