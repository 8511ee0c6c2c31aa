/**
 * The update log (src/persistence/update-log.ts) and the merging behind its folds
 * (src/persistence/merger.ts), over a real LevelDB: sequence numbers, chunk sizes, what a fold
 * leaves in storage, and that large merges run in the worker thread.
 */
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as Y from 'yjs';
import { Storage, type ProjectMeta, type ProjectStorage } from '../src/persistence/storage.js';
import { CHUNK_BYTES, UpdateLog } from '../src/persistence/update-log.js';
import { mergeUpdates, stopMerger, warmUpMerger } from '../src/persistence/merger.js';

vi.mock('yjs', async (importOriginal) => {
  const actual = await importOriginal<typeof import('yjs')>();
  return { ...actual, mergeUpdatesV2: vi.fn(actual.mergeUpdatesV2) };
});

let dir = '';
let storage: Storage;
let project: ProjectStorage;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'weft-update-log-'));
  storage = await Storage.open(join(dir, 'db'));
  project = storage.project(1);
  vi.mocked(Y.mergeUpdatesV2).mockClear();
});
afterEach(async () => {
  await storage.close();
  await rm(dir, { recursive: true, force: true });
});
afterAll(() => stopMerger());

const meta: ProjectMeta = { nextId: 1, nextRevision: 1, phantomEpoch: 0, firstLoggedRevision: 1, createdAt: '2026-01-01T00:00:00.000Z' };

/** A document and updates to it of about `bytes` each (text that does not compress). */
function edits(count: number, bytes: number): { doc: Y.Doc; updates: Uint8Array[] } {
  const doc = new Y.Doc();
  const updates: Uint8Array[] = [];
  doc.on('updateV2', (u: Uint8Array) => updates.push(u));
  let n = 1;
  for (let i = 0; i < count; i++) {
    let text = '';
    while (text.length < bytes) text += (n = (n * 48271) % 2147483647).toString(36);
    doc.getMap('tasks').set(`t${i}`, text);
  }
  return { doc, updates };
}

async function stateOf(log: UpdateLog): Promise<unknown> {
  const doc = new Y.Doc();
  for (const part of await log.parts()) Y.applyUpdateV2(doc, part);
  return doc.getMap('tasks').toJSON();
}

const chunkSizes = async () => {
  const sizes: number[] = [];
  for await (const chunk of project.chunks()) sizes.push(chunk.byteLength);
  return sizes;
};

describe('the update log', () => {
  it('hands out one sequence number per update, none for a commit without one', async () => {
    const { updates } = edits(3, 10);
    const log = new UpdateLog(project);
    // Before anything is read into it, a log holds nothing.
    const parts: Uint8Array[] = [];
    for await (const part of log.read()) parts.push(part);
    expect([parts.length, log.unfoldedCount]).toEqual([0, 0]);
    log.reset(null);
    await log.write({ update: updates[0], meta });
    await log.write({ update: null, meta });
    await log.write({ update: [updates[1], updates[2]], meta });
    expect(log.lastSeq).toBe(3);
    expect(log.unfoldedCount).toBe(3);
    const stored = (await project.load())!;
    expect(stored.updates.map((u) => [...u])).toEqual(updates.map((u) => [...u]));
  });

  it('folds into chunks of about 64 KB, leaving no update behind, and reads back the same state', async () => {
    const { doc, updates } = edits(5, 30_000);
    const log = new UpdateLog(project);
    log.reset(null);
    for (const update of updates) await log.write({ update, meta });
    await log.fold();
    expect(log.unfoldedCount).toBe(0);
    expect(log.lastSeq).toBe(5);
    // 30 KB updates: a chunk takes updates until it holds 64 KB or more, so three, then two.
    const sizes = await chunkSizes();
    expect(sizes).toHaveLength(2);
    expect(sizes[0]).toBeGreaterThan(3 * 30_000);
    expect(sizes[1]).toBeGreaterThan(2 * 30_000);
    expect(sizes[1]).toBeLessThan(3 * 30_000);
    const stored = (await project.load())!;
    expect(stored.updates).toEqual([]);
    expect(stored.snapshotSeq).toBe(5);
    expect(stored.lastChunk?.index).toBe(1);
    expect(await stateOf(log)).toEqual(doc.getMap('tasks').toJSON());
  });

  it('extends a small last chunk and starts a new one after a full one', async () => {
    const { doc, updates } = edits(4, 1_000);
    const log = new UpdateLog(project);
    log.reset(null);
    await log.write({ update: updates[0], meta });
    await log.fold();
    await log.write({ update: updates[1], meta });
    await log.fold();
    expect(await chunkSizes()).toHaveLength(1);
    expect((await project.load())!.lastChunk?.index).toBe(0);

    // A restart: the log continues from what was stored.
    const again = new UpdateLog(project);
    again.reset(await project.load());
    expect(again.lastSeq).toBe(2);
    expect(again.unfoldedCount).toBe(0);
    const big = edits(3, 70_000).updates;
    await again.write({ update: big[0], meta });
    await again.fold();
    // The small chunk took the big update: it is now full, so the next fold starts chunk 1.
    expect(await chunkSizes()).toHaveLength(1);
    await again.write({ update: updates[2], meta });
    await again.fold();
    const sizes = await chunkSizes();
    expect(sizes).toHaveLength(2);
    expect((await project.load())!.lastChunk?.index).toBe(1);
    expect(again.lastSeq).toBe(4);
    const expected = new Y.Doc();
    for (const u of [updates[0], updates[1], big[0], updates[2]]) Y.applyUpdateV2(expected, u);
    expect(await stateOf(again)).toEqual(expected.getMap('tasks').toJSON());
    void doc;
  });

  /** A document whose one update is exactly CHUNK_BYTES long (a fixed client id: its length is part of the size). */
  function fullUpdate(): { doc: Y.Doc; update: Uint8Array } {
    for (let length = CHUNK_BYTES - 100; length < CHUNK_BYTES; length++) {
      const doc = new Y.Doc();
      doc.clientID = 1;
      let update: Uint8Array = new Uint8Array();
      doc.on('updateV2', (u: Uint8Array) => (update = u));
      doc.getMap('tasks').set('big', 'x'.repeat(length));
      if (update.byteLength === CHUNK_BYTES) return { doc, update };
    }
    throw new Error('no text length gives an update of exactly CHUNK_BYTES');
  }

  it('starts a new chunk after a last chunk of exactly the chunk size, and writes that full chunk again never', async () => {
    const full = fullUpdate();
    const log = new UpdateLog(project);
    log.reset(null);
    await log.write({ update: full.update, meta });
    await log.fold();
    expect(await chunkSizes()).toEqual([CHUNK_BYTES]);
    const next: Uint8Array[] = [];
    full.doc.on('updateV2', (u: Uint8Array) => next.push(u));
    full.doc.getMap('tasks').set('small', 'y');
    await log.write({ update: next[0], meta });
    const compact = vi.spyOn(project, 'compact');
    await log.fold();
    expect(compact.mock.calls.map(([chunks]) => chunks.map((c) => c.index))).toEqual([[1]]);
    expect(await chunkSizes()).toEqual([CHUNK_BYTES, next[0].byteLength]);
    expect(await stateOf(log)).toEqual(full.doc.getMap('tasks').toJSON());
  });

  it('closes a chunk within one fold once its updates reach exactly the chunk size', async () => {
    const full = fullUpdate();
    const next: Uint8Array[] = [];
    full.doc.on('updateV2', (u: Uint8Array) => next.push(u));
    full.doc.getMap('tasks').set('small', 'y');
    const log = new UpdateLog(project);
    log.reset(null);
    await log.write({ update: full.update, meta });
    await log.write({ update: next[0], meta });
    await log.fold();
    expect(await chunkSizes()).toEqual([CHUNK_BYTES, next[0].byteLength]);
    expect(await stateOf(log)).toEqual(full.doc.getMap('tasks').toJSON());
  });

  it('runs one fold at a time, keeps what is written during it for the next, and does nothing with nothing to fold', async () => {
    const { doc, updates } = edits(3, 100);
    const log = new UpdateLog(project);
    log.reset(null);
    const compact = vi.spyOn(project, 'compact');
    await log.fold();
    expect(compact).not.toHaveBeenCalled();
    await log.write({ update: updates[0], meta });
    const first = log.fold();
    expect(log.fold()).toBe(first);
    const writing = log.write({ update: updates[1], meta });
    await first;
    await writing;
    await log.settled();
    expect(compact).toHaveBeenCalledTimes(1);
    expect(log.unfoldedCount).toBe(1);
    await log.write({ update: updates[2], meta });
    await log.fold();
    expect(compact).toHaveBeenCalledTimes(2);
    expect(log.unfoldedCount).toBe(0);
    expect(await stateOf(log)).toEqual(doc.getMap('tasks').toJSON());
  });
});

describe('merging updates', () => {
  it('hands a single update back as it is', async () => {
    const { updates } = edits(1, 10);
    expect(await mergeUpdates(updates)).toBe(updates[0]);
    expect(Y.mergeUpdatesV2).not.toHaveBeenCalled();
  });

  it('merges small updates in this thread and large ones in the worker, to the same state', async () => {
    warmUpMerger();
    const small = edits(3, 100);
    const merged = await mergeUpdates(small.updates);
    expect(Y.mergeUpdatesV2).toHaveBeenCalledTimes(1);
    const large = edits(3, 12_000);
    const mergedLarge = await mergeUpdates(large.updates);
    expect(Y.mergeUpdatesV2).toHaveBeenCalledTimes(1);
    for (const [bytes, source] of [[merged, small.doc], [mergedLarge, large.doc]] as const) {
      const doc = new Y.Doc();
      Y.applyUpdateV2(doc, bytes);
      expect(doc.getMap('tasks').toJSON()).toEqual(source.getMap('tasks').toJSON());
    }
  });

  it('holds the process only while a merge is under way in the worker', async () => {
    warmUpMerger();
    const ports = () => process.getActiveResourcesInfo().filter((r) => r === 'MessagePort').length;
    await mergeUpdates(edits(3, 12_000).updates);
    const idle = ports();
    const pending = mergeUpdates(edits(3, 12_000).updates);
    expect(ports()).toBe(idle + 1);
    await pending;
    expect(ports()).toBe(idle);
    // Two at once: held until the last is back.
    const [first, second] = [mergeUpdates(edits(3, 12_000).updates), mergeUpdates(edits(3, 13_000).updates)];
    await first;
    expect(ports()).toBe(idle + 1);
    await second;
    expect(ports()).toBe(idle);
  });

  it('merges in this thread when the worker fails', async () => {
    const garbage = [new Uint8Array(20_000).fill(7), new Uint8Array(20_000).fill(9)];
    // Bytes the worker cannot merge: its error comes back, and the merge here throws the same way.
    await expect(mergeUpdates(garbage)).rejects.toThrow();
    expect(Y.mergeUpdatesV2).toHaveBeenCalledTimes(1);
  });
});
