/**
 * The revisions a project's owner hands another node for a catch-up (`loggedRevisions`, asked over
 * the cluster's RPC): the ones asked for, never past the last one logged, however far the request
 * reaches.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProjectRoom } from '../src/server/room.js';
import { revisionsLogin, type TestClient } from './support/client.js';
import { startServer, type TestServer } from './support/server.js';

let s: TestServer;
let client: TestClient & { clientId: string };
/** Number of the first of the three revisions made below. */
let first = 0;

beforeAll(async () => {
  s = await startServer();
  client = await revisionsLogin(s.port);
  client.send({ command: 'dataset', data: { project: 1 } });
  await client.nextOf('dataset', 5000);
  for (let i = 1; i <= 3; i++) {
    client.send({ command: 'project_change', data: { project: 1, revisions: [{ revision: `local-${i}`, clientId: client.clientId, changes: { tasks: { updated: [{ id: 11, name: `logged ${i}` }] } } }] } });
    const echo = await client.nextOf('project_change', 5000);
    const n = Number(String(echo.data.revisions[0].revision).slice('server-'.length));
    if (i === 1) first = n;
    expect(n).toBe(first + i - 1);
  }
});
afterAll(async () => {
  await client?.close();
  await s?.dispose();
});

const room = async () => (await s.server.projects.open(1)) as ProjectRoom;
const names = (texts: string[] | null) => texts?.map((t) => (JSON.parse(t) as { changes: { tasks: { updated: { name: string }[] } } }).changes.tasks.updated[0].name);

describe('revisions logged for another node', () => {
  it('are the ones asked for, and no more when more were logged since', async () => {
    expect(names(await (await room()).loggedRevisions(first, first + 1))).toEqual(['logged 1', 'logged 2']);
    expect(names(await (await room()).loggedRevisions(first + 1, first + 2))).toEqual(['logged 2', 'logged 3']);
  });

  it('end at the last one logged when the request reaches far beyond it, without walking the numbers in between', async () => {
    const started = performance.now();
    expect(names(await (await room()).loggedRevisions(first, Number.MAX_SAFE_INTEGER))).toEqual(['logged 1', 'logged 2', 'logged 3']);
    expect(performance.now() - started).toBeLessThan(5000);
  });
});
