/**
 * Cold opens of large projects: the dataset texts stored when a project was unloaded are served to
 * its first clients while its document loads again, only when they are of the state its log holds.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DATASET_TEXT_FORMAT, ENCODE_SLICE, ProjectStorage, Storage, utf8InSlices } from '../src/persistence/storage.js';
import { storageReport } from '../src/history/storage-report.js';
import { revisionsLogin, type Msg } from './support/client.js';
import { recordingLog, startServer, tempDir, type TestServer } from './support/server.js';

/** Above the record count from which a project keeps its dataset texts when unloaded (5,000). */
const TASKS = 5200;

let servers: TestServer[] = [];
afterEach(async () => {
  for (const s of servers) await s.stop();
  servers = [];
});

async function setUp(): Promise<{ dir: string; overrides: Record<string, unknown> }> {
  const dir = await tempDir();
  // Notes with characters outside the BMP: the texts are over a megabyte, stored in encoded slices.
  const rows = Array.from({ length: TASKS }, (_, i) => ({ id: i + 1, name: `Task ${i + 1}`, note: `é🙂${'x'.repeat(i % 300)}`, startDate: '2026-01-05', duration: 1 }));
  await writeFile(join(dir, 'big.json'), JSON.stringify({ project: { startDate: '2026-01-05' }, tasks: { rows } }));
  await writeFile(join(dir, 'small.json'), JSON.stringify({ tasks: { rows: rows.slice(0, 10) } }));
  return {
    dir,
    overrides: {
      projects: [
        { id: 1, name: 'Big', seed: join(dir, 'big.json') },
        { id: 2, name: 'Small', seed: join(dir, 'small.json') },
      ],
      groups: { admin: [1, 2], user: [1, 2] },
    },
  };
}

async function start(overrides: Record<string, unknown>, dir: string): Promise<TestServer> {
  const s = await startServer(overrides, dir);
  servers.push(s);
  return s;
}

/** A revisions client's dataset reply for a project. */
async function load(port: number, project: number): Promise<{ data: Msg; client: Awaited<ReturnType<typeof revisionsLogin>> }> {
  const client = await revisionsLogin(port);
  client.send({ command: 'dataset', data: { project } });
  const reply = await client.nextOf('dataset', 10_000);
  expect(reply.data.error).toBeUndefined();
  return { data: reply.data, client };
}

const taskName = (dataset: Msg, id: number) => (dataset.tasksData as Msg[]).find((t) => t.id === id)?.name;

/** What a project's stored dataset texts are of (undefined: none stored). */
async function storedTextsSeq(dir: string, project: number): Promise<number | undefined> {
  const storage = await Storage.open(join(dir, 'db'));
  try {
    return (await storage.project(project).getJson<{ seq: number }>(storage.project(project).keys.datasetSeq()))?.seq;
  } finally {
    await storage.close();
  }
}

describe('cold open of a large project', () => {
  it('encodes texts in slices without cutting a character in two', async () => {
    for (const text of ['a'.repeat(ENCODE_SLICE - 1) + '🙂b', '🙂'.repeat(ENCODE_SLICE + 3), 'é'.repeat(2 * ENCODE_SLICE + 1), 'short 🙂']) {
      expect(Buffer.from(await utf8InSlices(text)).equals(Buffer.from(text, 'utf8'))).toBe(true);
    }
  });

  it('serves the texts stored at unload before the document is loaded, the same dataset as before, and misses no revision', async () => {
    const { dir, overrides } = await setUp();
    const first = await start(overrides, dir);
    const { client: writer } = await load(first.port, 1);
    writer.send({ command: 'project_change', data: { project: 1, revisions: [{ revision: 'local-1', changes: { tasks: { updated: [{ id: 7, name: 'Renamed before the restart' }] } } }] } });
    await writer.nextOf('project_change', 5000);
    const before = (await load(first.port, 1)).data;
    await load(first.port, 2);
    await first.stop();
    expect(await storedTextsSeq(dir, 1)).toBeGreaterThan(0);
    const storage = await Storage.open(join(dir, 'db'));
    const usage = await storageReport(storage).finally(() => storage.close());
    // One key per store (7), the project fields and the sequence they are of; counted apart in `weft storage`.
    expect(usage.find((u) => u.project === 1)?.parts.datasetTexts.keys).toBe(9);
    expect(usage.find((u) => u.project === 2)?.parts.datasetTexts.keys).toBe(0);
    // A small project loads faster than its texts would be read: none are kept for it.
    expect(await storedTextsSeq(dir, 2)).toBeUndefined();

    const second = await start(overrides, dir);
    const room = (await second.server.projects.open(1, undefined, 'readable'))!;
    let loaded = false;
    void room.loaded.then(() => (loaded = true));
    const early = await load(second.port, 1);
    // Reading the texts is one step; the document takes many more (chunks from storage, the tree index).
    expect(loaded).toBe(false);
    expect(early.data.revision).toBe(before.revision);
    expect(early.data.dataset).toEqual(before.dataset);
    expect(taskName(early.data.dataset, 7)).toBe('Renamed before the restart');

    // A change sent meanwhile waits for the document, then reaches the client that got the early dataset as the next revision.
    const { client: other } = await load(second.port, 1);
    other.send({ command: 'project_change', data: { project: 1, revisions: [{ revision: 'local-2', changes: { tasks: { updated: [{ id: 8, name: 'After the restart' }] } } }] } });
    const seen = await early.client.nextOf('project_change', 5000);
    expect(seen.data.revisions[0].revision).toBe(`server-${Number(String(before.revision).slice('server-'.length)) + 1}`);
    expect(seen.data.revisions[0].changes.tasks.updated[0]).toMatchObject({ id: 8, name: 'After the restart' });
  });

  it('does not write the texts again at an unload when those of the same state are stored', async () => {
    const { dir, overrides } = await setUp();
    const first = await start(overrides, dir);
    await load(first.port, 1);
    await first.stop();
    const stored = await storedTextsSeq(dir, 1);
    expect(stored).toBeGreaterThan(0);
    // Opened and unloaded again without a change: serializing the project again would be wasted.
    const second = await start(overrides, dir);
    await load(second.port, 1);
    const write = vi.spyOn(ProjectStorage.prototype, 'storeDatasetTexts');
    try {
      await second.stop();
      expect(write).not.toHaveBeenCalled();
    } finally {
      write.mockRestore();
    }
    expect(await storedTextsSeq(dir, 1)).toBe(stored);
  });

  it('warns naming the project when its texts cannot be stored, still unloads it, and loads it from its log next time', async () => {
    const { dir, overrides } = await setUp();
    const { lines, log } = recordingLog();
    const first = await startServer(overrides, dir, log);
    servers.push(first);
    const { client: writer } = await load(first.port, 1);
    writer.send({ command: 'project_change', data: { project: 1, revisions: [{ revision: 'local-1', changes: { tasks: { updated: [{ id: 7, name: 'Kept in the log' }] } } }] } });
    await writer.nextOf('project_change', 5000);
    const write = vi.spyOn(ProjectStorage.prototype, 'storeDatasetTexts').mockRejectedValue(new Error('no space left (injected)'));
    try {
      await first.stop();
    } finally {
      write.mockRestore();
    }
    expect(lines.filter(({ msg }) => msg.includes('dataset texts'))).toEqual([
      { msg: 'project 1: cannot store its dataset texts: no space left (injected)', fields: { level: 'warn', project: 1 } },
    ]);
    expect(await storedTextsSeq(dir, 1)).toBeUndefined();
    const second = await start(overrides, dir);
    expect(taskName((await load(second.port, 1)).data.dataset, 7)).toBe('Kept in the log');
  });

  it('does not serve texts older than the log: a change stored after them is in the first dataset', async () => {
    const { dir, overrides } = await setUp();
    const first = await start(overrides, dir);
    await load(first.port, 1);
    await first.stop();
    const stale = await storedTextsSeq(dir, 1);
    expect(stale).toBeGreaterThan(0);

    // The next process stores a change, then ends without storing texts again (as a crash would).
    const second = await start(overrides, dir);
    const { client } = await load(second.port, 1);
    client.send({ command: 'project_change', data: { project: 1, revisions: [{ revision: 'local-1', changes: { tasks: { updated: [{ id: 9, name: 'Stored after the texts' }] } } }] } });
    await client.nextOf('project_change', 5000);
    const store = ProjectStorage.prototype.storeDatasetTexts;
    ProjectStorage.prototype.storeDatasetTexts = async () => undefined;
    try {
      await second.stop();
    } finally {
      ProjectStorage.prototype.storeDatasetTexts = store;
    }
    expect(await storedTextsSeq(dir, 1)).toBe(stale);

    const third = await start(overrides, dir);
    const { data } = await load(third.port, 1);
    expect(taskName(data.dataset, 9)).toBe('Stored after the texts');
    expect(taskName(data.dataset, 10)).toBe('Task 10');
    await third.stop();
    // Stale texts are dropped when found; the clean stop stored new ones of the current state.
    expect(await storedTextsSeq(dir, 1)).toBeGreaterThan(stale!);
  });

  it('does not serve texts written in another format, even of the current state', async () => {
    const { dir, overrides } = await setUp();
    const first = await start(overrides, dir);
    await load(first.port, 1);
    await first.stop();
    const storage = await Storage.open(join(dir, 'db'));
    const keys = storage.project(1).keys;
    const seq = (await storage.project(1).getJson<{ seq: number }>(keys.datasetSeq()))!.seq;
    // Of the current state, but as a release that wrote them differently would have (marked here by an empty task list).
    await storage.write([
      { key: keys.datasetSeq(), value: { seq, format: DATASET_TEXT_FORMAT + 1 } },
      { key: keys.datasetText('tasks'), value: Buffer.from('[]') },
    ]);
    await storage.close();
    const second = await start(overrides, dir);
    const { data } = await load(second.port, 1);
    expect(data.dataset.tasksData).toHaveLength(TASKS);
  });

  it('closes a room whose load fails after it served the stored texts: its subscribers are told, what was queued is refused and not stored', async () => {
    const { dir, overrides } = await setUp();
    const first = await start(overrides, dir);
    await load(first.port, 1);
    await first.stop();

    const drop = vi.spyOn(ProjectStorage.prototype, 'dropPhantomsExcept').mockRejectedValueOnce(new Error('disk error (injected)'));
    const second = await start(overrides, dir);
    const { client } = await load(second.port, 1);
    client.send({ command: 'project_change', data: { project: 1, revisions: [{ revision: 'local-1', changes: { tasks: { updated: [{ id: 11, name: 'Queued behind a failing load' }] } } }] } });
    const messages: Msg[] = [];
    while (messages.filter((m) => m.command === 'error' || m.data?.error || m.error).length < 2) messages.push(await client.next(5000));
    const texts = messages.map((m) => JSON.stringify(m));
    expect(texts.some((t) => t.includes('cannot be loaded: open it again'))).toBe(true);
    expect(texts.some((t) => t.includes('refused'))).toBe(true);
    expect(messages.some((m) => m.command === 'project_change' && m.data?.revisions?.length)).toBe(false);
    drop.mockRestore();

    const { data } = await load(second.port, 1);
    expect(taskName(data.dataset, 11)).toBe('Task 11');
  });
});
