/**
 * `weft storage check` over real LevelDB data directories written by a real server, damaged by
 * hand with the server stopped; and what a server then answers for a damaged project.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import * as Y from 'yjs';
import { Level } from 'level';
import { runStorage } from '../src/cli/storage.js';
import { Storage } from '../src/persistence/storage.js';
import { UpdateLog } from '../src/persistence/update-log.js';
import { checkStorage } from '../src/persistence/storage-check.js';
import { KNOWN_STORES } from '../src/document/layout.js';
import { UsageError } from '../src/cli/command.js';
import { classicLogin, revisionsLogin, type TestClient } from './support/client.js';
import { startServer, type TestServer } from './support/server.js';
import { capture, type Captured } from './support/cli.js';

let s: TestServer | undefined;
const clients: TestClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await s?.dispose();
  s = undefined;
});

const db = () => join(s!.dataDir, 'db');

async function check(...args: string[]): Promise<Captured & { code: number }> {
  const io = capture();
  const code = await runStorage(['check', ...args, '--data-dir', db()], io);
  return { ...io, code };
}

/** A server that stored projects 1 and 2 (the demo seeds) with a change each, stopped. */
async function storedProjects(): Promise<void> {
  s = await startServer();
  const c = await revisionsLogin(s.port, 'admin');
  clients.push(c);
  for (const project of [1, 2]) {
    c.send({ command: 'dataset', data: { project } });
    await c.nextOf('dataset', 10_000);
    c.send({ command: 'project_change', data: { project, revisions: [{ revision: `l${project}`, clientId: c.clientId, changes: { tasks: { updated: [{ id: 11, name: 'Edited' }] } } }] } });
    await c.nextOf('project_change', 10_000);
  }
  await c.close();
  clients.length = 0;
  await s.stop();
}

/** Work on the stopped server's database directly. */
async function withDb(work: (db: Level<string, Uint8Array>) => Promise<void>): Promise<void> {
  const level = new Level<string, Uint8Array>(db(), { keyEncoding: 'utf8', valueEncoding: 'view' });
  await level.open();
  try {
    await work(level);
  } finally {
    await level.close();
  }
}

async function keysOf(level: Level<string, Uint8Array>, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const key of level.keys({ gte: prefix, lt: `${prefix.slice(0, -1)};` })) keys.push(key);
  return keys;
}

/**
 * Append `count` updates to project 1's log, each overwriting the same key of a map the project
 * does not use, so each one builds on the one before (as a project's own changes do).
 */
async function appendUpdates(count: number): Promise<void> {
  const storage = await Storage.open(db());
  try {
    const project = storage.project(1);
    const stored = await project.load();
    const log = new UpdateLog(project);
    log.reset(stored);
    const doc = new Y.Doc();
    for await (const part of log.read()) Y.applyUpdateV2(doc, part);
    const updates: Uint8Array[] = [];
    doc.on('updateV2', (update: Uint8Array) => updates.push(update));
    for (let i = 0; i < count; i++) doc.getMap('check-test').set('value', i);
    for (const update of updates) await log.write({ update });
  } finally {
    await storage.close();
  }
}

describe('weft storage check', () => {
  it('passes an undamaged store: exit 0, every project counted, no finding', async () => {
    await storedProjects();
    await appendUpdates(3);
    const out = await check();
    expect(out.stdout).toMatch(/^\d+ projects, \d+ keys checked in .*: no damage found\n$/);
    expect(out.code).toBe(0);
    const json = await check('--json');
    const report = JSON.parse(json.stdout);
    expect(report.damage).toEqual([]);
    expect(report.projects).toBeGreaterThanOrEqual(2);
  });

  it('names the project and key of a truncated snapshot chunk, exits 1, and leaves the other projects out', async () => {
    await storedProjects();
    let chunk = '';
    await withDb(async (level) => {
      const chunks = await keysOf(level, 'p:n1:snap:');
      expect(chunks.length).toBeGreaterThan(0);
      chunk = chunks[chunks.length - 1];
      const bytes = (await level.get(chunk))!;
      await level.put(chunk, bytes.slice(0, bytes.byteLength >> 1));
    });
    const out = await check();
    expect(out.code).toBe(1);
    expect(out.stdout).toContain(`project 1: ${chunk}: snapshot chunk does not decode (`);
    expect(out.stdout).not.toMatch(/^project 2:/m);
    expect(out.stdout).toMatch(/: 1 damaged \(1 findings\)\n$/);
  });

  it('names an update-log entry that does not decode', async () => {
    await storedProjects();
    await appendUpdates(3);
    await withDb(async (level) => {
      const [, second] = await keysOf(level, 'p:n1:u:');
      await level.put(second, new Uint8Array([0, 0, 0]));
    });
    const out = await check('--json');
    expect(out.code).toBe(1);
    const report = JSON.parse(out.stdout);
    expect(report.damage).toEqual([{ project: 1, key: expect.stringMatching(/^p:n1:u:\d{12}$/), problem: expect.stringMatching(/^update-log entry does not decode \(3 bytes: /) }]);
  });

  it('finds a missing update-log entry, and the state that needs it', async () => {
    await storedProjects();
    await appendUpdates(3);
    let lost = '';
    await withDb(async (level) => {
      [lost] = await keysOf(level, 'p:n1:u:');
      await level.del(lost);
    });
    const seq = Number(lost.slice(lost.lastIndexOf(':') + 1));
    const out = await check();
    expect(out.code).toBe(1);
    expect(out.stdout).toContain(`update-log entry ${seq} is missing`);
    expect(out.stdout).toContain('project 1: p:n1:: the logged state refers to changes that are not stored');
  });

  it('reports counters and JSON records that do not parse', async () => {
    await storedProjects();
    await withDb(async (level) => {
      await level.put('p:n2:meta', new TextEncoder().encode('{"nextId": "many"'));
      await level.put('p:n1:meta', new TextEncoder().encode('{"nextId": 5}'));
    });
    const out = await check();
    expect(out.code).toBe(1);
    expect(out.stdout).toMatch(/^project 2: p:n2:meta: not valid JSON \(/m);
    expect(out.stdout).toContain('project 1: p:n1:meta: counters missing or not numbers: nextRevision, phantomEpoch, firstLoggedRevision');
  });

  it('reports counters stored as null, or as a number too large to be one', async () => {
    await storedProjects();
    await withDb(async (level) => {
      await level.put('p:n2:meta', new TextEncoder().encode('null'));
      // Valid JSON that parses to Infinity.
      await level.put('p:n1:meta', new TextEncoder().encode('{"nextId": 1e999, "nextRevision": 3, "phantomEpoch": 0, "firstLoggedRevision": 1}'));
    });
    const out = await check();
    expect(out.code).toBe(1);
    expect(out.stdout).toContain('project 2: p:n2:meta: counters missing or not numbers: nextId, nextRevision, phantomEpoch, firstLoggedRevision');
    expect(out.stdout).toContain('project 1: p:n1:meta: counters missing or not numbers: nextId\n');
  });

  it('reports progress as it goes', async () => {
    await storedProjects();
    const progress: number[] = [];
    await withDb(async (level) => {
      const report = await checkStorage(level, (p) => progress.push(p.keys), 5);
      expect(progress.length).toBe(Math.floor(report.keys / 5));
      expect(progress[0]).toBe(5);
    });
  });

  it('refuses a data directory a running server holds, with exit 2', async () => {
    s = await startServer();
    const out = await check();
    expect(out.code).toBe(2);
    expect(out.stderr).toMatch(/^weft storage check: cannot open data directory .*stop it first\)\n$/);
  });

  it('has its own help, and refuses stray arguments', async () => {
    const io = capture();
    expect(await runStorage(['check', '--help'], io)).toBe(0);
    expect(io.stdout).toMatch(/^Usage: weft storage check /);
    expect(io.stdout).toContain('Exit code: 0 when nothing is damaged, 1 when damage was found');
    await expect(runStorage(['check', 'extra'], capture())).rejects.toThrow(UsageError);
  });
});

describe('a damaged project at load', () => {
  it('is refused by name, in the protocol error shape and in the log, while the other projects load and take changes', async () => {
    await storedProjects();
    await withDb(async (level) => {
      const chunks = await keysOf(level, 'p:n1:snap:');
      const bytes = (await level.get(chunks[0]))!;
      await level.put(chunks[0], bytes.slice(0, bytes.byteLength >> 1));
    });
    const lines: string[] = [];
    s = await startServer({}, s!.dataDir, (line) => lines.push(line));
    const c = await classicLogin(s.port, 'admin');
    clients.push(c);
    c.send({ command: 'dataset', project: 1 });
    const answer = await c.nextOf('error', 10_000);
    expect(answer).toEqual({ command: 'error', message: expect.stringMatching(/^dataset failed: Project 1 cannot be loaded: its stored data is damaged \(.+\)$/) });
    expect(lines.some((line) => line.includes('Project 1 cannot be loaded: its stored data is damaged'))).toBe(true);

    c.send({ command: 'dataset', project: 2 });
    expect((await c.nextOf('dataset', 10_000)).dataset.tasksData.length).toBeGreaterThan(0);
    c.send({ command: 'projectChange', project: 2, changes: { tasks: { updated: [{ id: 11, name: 'Still writable' }] } } });
    const other = await classicLogin(s.port, 'admin');
    clients.push(other);
    other.send({ command: 'dataset', project: 2 });
    const reloaded = await other.nextOf('dataset', 10_000);
    expect(JSON.stringify(reloaded.dataset.tasksData)).toContain('Still writable');
  });

  it('served from its stored dataset texts while it loads tells that subscriber by name when the load fails, and ends the subscription', async () => {
    await storedProjects();
    const storage = await Storage.open(db());
    try {
      const project = storage.project(1);
      const stored = (await project.load())!;
      const stores = new Map(KNOWN_STORES.map((name) => [name, name === 'tasks' ? '[{"id":1,"name":"Early"}]' : '[]'] as [string, string]));
      await project.storeDatasetTexts(stored.lastSeq, { stores, project: '{}' });
    } finally {
      await storage.close();
    }
    await withDb(async (level) => {
      const chunks = await keysOf(level, 'p:n1:snap:');
      await level.put(chunks[0], (await level.get(chunks[0]))!.slice(0, 3));
    });
    s = await startServer({}, s!.dataDir);
    const c = await classicLogin(s.port, 'admin');
    clients.push(c);
    c.send({ command: 'dataset', project: 1 });
    expect((await c.nextOf('dataset', 10_000)).dataset.tasksData).toEqual([{ id: 1, name: 'Early' }]);
    const told = await c.nextOf('error', 10_000);
    expect(told).toEqual({ command: 'error', project: 1, message: 'Project 1 cannot be loaded: open it again' });
    // No longer subscribed: its change is refused, and the connection keeps working.
    c.send({ command: 'projectChange', project: 1, changes: { tasks: { updated: [{ id: 1, name: 'Lost' }] } } });
    expect((await c.next(10_000)).error).toBeDefined();
  });

  it('failing to load while the server shuts down does not keep the shutdown from finishing', async () => {
    await storedProjects();
    await withDb(async (level) => {
      const chunks = await keysOf(level, 'p:n1:snap:');
      await level.put(chunks[0], (await level.get(chunks[0]))!.slice(0, 3));
    });
    const lines: string[] = [];
    s = await startServer({}, s!.dataDir, (line) => lines.push(line));
    // Opening starts the load at once; the shutdown meets it under way.
    const opening = s.server.projects.open(1).then(
      () => null,
      (e: Error) => e,
    );
    await expect(s.stop()).resolves.toBeUndefined();
    const error = await opening;
    expect(error?.message).toMatch(/^Project 1 cannot be loaded: its stored data is damaged/);
    // What Yjs said stays reachable as the cause, for a host that logs the error it was given.
    const damaged = error!.cause as Error;
    expect(damaged.message).toMatch(/^its stored data is damaged \(.+\)$/);
    expect(damaged.cause).toBeInstanceOf(Error);
    expect(`its stored data is damaged (${(damaged.cause as Error).message})`).toBe(damaged.message);
    expect(lines.filter((line) => /unload failed|"level":50/.test(line))).toEqual([]);
  });

  it('with a lost update-log entry is refused by name, not loaded without it', async () => {
    await storedProjects();
    await appendUpdates(3);
    await withDb(async (level) => {
      const [first] = await keysOf(level, 'p:n1:u:');
      await level.del(first);
    });
    s = await startServer({}, s!.dataDir);
    const c = await revisionsLogin(s.port, 'admin');
    clients.push(c);
    c.send({ command: 'dataset', data: { project: 1 } });
    const answer = await c.nextOf('error', 10_000);
    expect(answer.message).toMatch(/^dataset failed: Project 1 cannot be loaded: its stored data is damaged \(update-log entry \d+ is missing\)$/);
  });
});
