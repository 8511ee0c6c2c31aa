/**
 * A project with the id 1 and another with the id "1" are two projects (the protocol tells numbers
 * from strings): each loads, takes changes and keeps versions of its own, their keys in storage
 * differ, and a restart keeps them apart.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../src/config/schema.js';
import { VersionStore } from '../src/history/versions.js';
import { ProjectKeys } from '../src/persistence/keys.js';
import { classicLogin, type Msg, type TestClient } from './support/client.js';
import { startServer, type TestServer } from './support/server.js';

const CONFIG: Partial<ConfigInput> = {
  projects: [
    { id: 1, name: 'Numbered', ids: 'number' },
    { id: '1', name: 'Lettered', ids: 'number' },
  ],
  users: { both: { password: 'both', group: 'both' }, numbered: { password: 'numbered', group: 'numbered' } },
  groups: { both: [1, '1'], numbered: [1] },
  anonymous: { enabled: false, projects: [], readOnly: false },
};

let s: TestServer;
const clients: TestClient[] = [];

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await s?.dispose();
});

async function login(name = 'both'): Promise<TestClient> {
  const c = await classicLogin(s.port, name, name);
  clients.push(c);
  return c;
}

/** Task names of a project as a fresh classic load shows them. */
async function taskNames(project: number | string): Promise<string[]> {
  const c = await login();
  c.send({ command: 'dataset', project });
  const reply = await c.nextOf('dataset', 5000);
  expect(reply.error).toBeUndefined();
  const names: string[] = [];
  const walk = (rows: Msg[]) => rows.forEach((r) => (names.push(r.name), walk(r.children ?? [])));
  walk(reply.dataset.tasksData);
  return names.sort();
}

/** Subscribe a client to a project (by loading it). */
async function subscriber(project: number | string): Promise<TestClient> {
  const c = await login();
  c.send({ command: 'dataset', project });
  await c.nextOf('dataset', 5000);
  return c;
}

async function addTask(c: TestClient, project: number | string, name: string): Promise<Msg> {
  c.send({ command: 'projectChange', project, changes: { tasks: { added: [{ $PhantomId: `_generated_${name}`, name }] } } });
  const reply = await c.nextOf('projectChange', 5000);
  expect(reply.error).toBeUndefined();
  return reply;
}

/** Nothing of a project's content reaches `c` for a while (presence messages may). */
async function expectNoChange(c: TestClient): Promise<void> {
  const got = await c.drain(300);
  expect(got.filter((m) => m.command !== 'login' && m.command !== 'logout' && m.command !== 'users')).toEqual([]);
}

describe('the project ids 1 and "1"', () => {
  it('are two projects: a change to one is stored, sent and loaded in it only', async () => {
    s = await startServer(CONFIG);
    const numbered = await subscriber(1);
    const lettered = await subscriber('1');

    const reply = await addTask(numbered, 1, 'in number');
    expect(reply.project).toBe(1);
    await expectNoChange(lettered);
    expect(await taskNames(1)).toEqual(['in number']);
    expect(await taskNames('1')).toEqual([]);

    const other = await addTask(lettered, '1', 'in text');
    expect(other.project).toBe('1');
    await expectNoChange(numbered);
    expect(await taskNames(1)).toEqual(['in number']);
    expect(await taskNames('1')).toEqual(['in text']);
  });

  it('are granted apart: access to 1 does not open "1"', async () => {
    s = await startServer(CONFIG);
    const c = await login('numbered');
    c.send({ command: 'dataset', project: '1' });
    const refused = await c.nextOf('dataset', 5000);
    expect(refused.error).toBeTruthy();
    c.send({ command: 'dataset', project: 1 });
    expect((await c.nextOf('dataset', 5000)).error).toBeUndefined();
  });

  it('keep their own keys, versions and state in storage, over a restart', async () => {
    expect(new ProjectKeys(1).prefix).not.toBe(new ProjectKeys('1').prefix);
    s = await startServer(CONFIG);
    await addTask(await subscriber(1), 1, 'in number');
    await addTask(await subscriber('1'), '1', 'in text');
    const numberedRoom = (await s.server.projects.open(1))!;
    const letteredRoom = (await s.server.projects.open('1'))!;
    expect(numberedRoom).not.toBe(letteredRoom);
    await numberedRoom.createVersion('numbered version');
    const labels = async (id: number | string) => (await new VersionStore(s.server.storage.project(id)).list()).map((v) => v.label);
    expect(await labels(1)).toEqual(['numbered version']);
    expect(await labels('1')).toEqual([]);
    await letteredRoom.createVersion('lettered version');
    expect(await labels('1')).toEqual(['lettered version']);
    expect(await labels(1)).toEqual(['numbered version']);

    await Promise.all(clients.splice(0).map((c) => c.close()));
    s = await s.restart();
    expect((await s.server.storage.projectIds()).sort()).toEqual([1, '1']);
    expect(s.server.projects.catalog.list().map((p) => [p.id, p.name])).toEqual(expect.arrayContaining([[1, 'Numbered'], ['1', 'Lettered']]));
    expect(await taskNames(1)).toEqual(['in number']);
    expect(await taskNames('1')).toEqual(['in text']);
    expect(await labels(1)).toEqual(['numbered version']);
    expect(await labels('1')).toEqual(['lettered version']);
  });
});
