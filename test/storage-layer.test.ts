/**
 * The LevelDB layer on its own (src/persistence/storage.ts, keys.ts): what each read returns and
 * what each write leaves, so that a wrong key bound, a lost update or a phantom of the wrong epoch
 * fails here rather than somewhere behind the server.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ENCODE_SLICE, DATASET_TEXT_FORMAT, Storage, updatesOf, utf8InSlices, type ProjectMeta } from '../src/persistence/storage.js';
import { ProjectKeys, projectIdFromKey, projectKey, seqOf } from '../src/persistence/keys.js';
import type { PhantomRecord } from '../src/document/phantoms.js';

let dir = '';
let storage: Storage;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'weft-storage-layer-'));
  storage = await Storage.open(join(dir, 'db'));
});
afterEach(async () => {
  await storage.close().catch(() => {});
  await rm(dir, { recursive: true, force: true });
});

const meta = (phantomEpoch = 0): ProjectMeta => ({ nextId: 5, nextRevision: 3, phantomEpoch, firstLoggedRevision: 1, createdAt: '2026-01-01T00:00:00.000Z' });
const bytes = (...values: number[]) => new Uint8Array(values);
const phantom = (user: string, name: string, id: string | number): PhantomRecord => ({ user, store: 'tasks', phantom: name, id, connection: 'c1', at: 42 });
const list = async <T>(items: AsyncIterable<T>) => {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
};

describe('project keys', () => {
  it('keeps the number 1 and the string "1" apart and reads both back from their keys', () => {
    expect(projectKey(1)).toBe('n1');
    expect(projectKey('1')).toBe('s1');
    expect(projectKey('a:b/c')).toBe('sa%3Ab%2Fc');
    expect(projectIdFromKey('n12')).toBe(12);
    expect(projectIdFromKey('sa%3Ab%2Fc')).toBe('a:b/c');
  });

  it('pads sequence numbers so keys sort in numeric order, and reads them back', () => {
    const keys = new ProjectKeys(1);
    expect(keys.update(9) < keys.update(10)).toBe(true);
    expect(keys.update(7)).toBe('p:n1:u:000000000007');
    expect(seqOf(keys.update(123))).toBe(123);
    expect(keys.versionState(3)).toBe('p:n1:vs:000000000003');
    expect(keys.versionState(3, 2)).toBe('p:n1:vs:000000000003:000000000002');
  });

  it('bounds a section and a project so that neither reaches into another', () => {
    const one = new ProjectKeys(1);
    const inRange = (key: string, r: { gte: string; lt: string }) => key >= r.gte && key < r.lt;
    expect(inRange(one.update(1), one.range('u'))).toBe(true);
    expect(inRange(one.meta(), one.range('u'))).toBe(false);
    expect(inRange(one.revision(1), one.range('u'))).toBe(false);
    expect(inRange(one.meta(), one.all())).toBe(true);
    expect(inRange(new ProjectKeys(10).meta(), one.all())).toBe(false);
    expect(inRange(new ProjectKeys('1').meta(), one.all())).toBe(false);
  });
});

describe('opening a data directory', () => {
  it('creates one whose parents do not exist, readable by its owner only', async () => {
    const nested = join(dir, 'not', 'there', 'db');
    const opened = await Storage.open(nested);
    try {
      expect((await stat(nested)).mode & 0o777).toBe(0o700);
    } finally {
      await opened.close();
    }
  });
});

describe('storage of a project', () => {
  it('loads nothing for a project without counters, and lists only projects that have them', async () => {
    await storage.project(2).commit({ seq: 1, update: bytes(1) });
    await storage.project('x').commit({ seq: 1, update: null, meta: meta() });
    await storage.project(7).commit({ seq: 1, update: null, meta: meta() });
    expect(await storage.project(2).load()).toBeNull();
    expect((await storage.projectIds()).sort()).toEqual([7, 'x']);
  });

  it('stores several updates of one commit under consecutive sequence numbers and loads them in order', async () => {
    const p = storage.project(1);
    await p.commit({ seq: 1, update: [bytes(1), bytes(2)], meta: meta() });
    await p.commit({ seq: 3, update: bytes(3), meta: meta() });
    const loaded = await p.load();
    expect(loaded?.meta).toEqual(meta());
    expect(loaded?.updates.map((u) => [...u])).toEqual([[1], [2], [3]]);
    expect(loaded?.lastSeq).toBe(3);
    expect(loaded?.snapshotSeq).toBe(0);
    expect(loaded?.lastChunk).toBeNull();
  });

  it('refuses to load a log with a missing entry, naming the entries', async () => {
    const p = storage.project(1);
    await p.commit({ seq: 1, update: bytes(1), meta: meta() });
    await p.commit({ seq: 4, update: bytes(4), meta: meta() });
    await expect(p.load()).rejects.toThrow(/its stored data is damaged \(.*2.*3/);
  });

  it('after a fold loads the last chunk and only the updates after it, and keeps later updates', async () => {
    const p = storage.project(1);
    await p.commit({ seq: 1, update: [bytes(1), bytes(2), bytes(3), bytes(4)], meta: meta() });
    await p.compact([{ index: 0, bytes: bytes(10) }, { index: 1, bytes: bytes(11) }], 2);
    const loaded = await p.load();
    expect(loaded?.lastChunk?.index).toBe(1);
    expect([...loaded!.lastChunk!.bytes]).toEqual([11]);
    expect(loaded?.snapshotSeq).toBe(2);
    expect(loaded?.updates.map((u) => [...u])).toEqual([[3], [4]]);
    expect(loaded?.lastSeq).toBe(4);
    // Folded updates are gone from storage; the later ones stay.
    expect((await p.sizeOf('u')).keys).toBe(2);
    expect((await list(p.chunks())).map((c) => [...c])).toEqual([[10], [11]]);
    expect((await list(p.chunks(1))).map((c) => [...c])).toEqual([[10]]);
  });

  it('replaces a folded state by a new one stored from update 1: no old chunk, update, phantom, revision or dataset text is read back', async () => {
    const p = storage.project(1);
    await p.commit({ seq: 1, update: [bytes(1), bytes(2), bytes(3)], meta: meta(), phantoms: [phantom('ann', 'a', 4)], revisions: [{ n: 1, text: '{}' }] });
    await p.compact([{ index: 0, bytes: bytes(10) }], 2);
    await p.storeDatasetTexts(3, { stores: new Map([['tasks', '[]']]), project: '{}' });
    await p.replaceState({ update: [bytes(7), bytes(8)], meta: { ...meta(), nextId: 99 } });
    const loaded = await p.load();
    expect(loaded?.meta.nextId).toBe(99);
    expect(loaded?.lastChunk).toBeNull();
    expect(loaded?.snapshotSeq).toBe(0);
    expect(loaded?.updates.map((u) => [...u])).toEqual([[7], [8]]);
    expect(loaded?.lastSeq).toBe(2);
    expect(loaded?.phantoms).toEqual([]);
    expect(await p.revisions(1)).toEqual([]);
    expect(await p.hasDatasetTexts(3)).toBe(false);
  });

  it('ignores updates at or below the snapshot sequence left by an interrupted fold', async () => {
    const p = storage.project(1);
    await p.commit({ seq: 1, update: [bytes(1), bytes(2), bytes(3)], meta: meta() });
    await p.write([{ key: p.keys.snapSeq(), value: 2 }, { key: p.keys.snapChunk(0), value: bytes(9) }]);
    const loaded = await p.load();
    expect(loaded?.updates.map((u) => [...u])).toEqual([[3]]);
    expect(loaded?.lastSeq).toBe(3);
  });

  it('loads the phantom mappings of the current epoch only, skipping malformed ones', async () => {
    const p = storage.project(1);
    await p.commit({ seq: 1, update: null, meta: meta(0), phantoms: [phantom('ann', 'old', 1)] });
    await p.commit({ seq: 1, update: null, meta: meta(1), phantoms: [phantom('ann', 'a', 2), phantom('bob', 'b', 'x')] });
    await p.write([
      { key: `${p.keys.prefix}pn:1:not json`, value: { id: 3, c: 'c', t: 1 } },
      { key: p.keys.phantom(1, 'eve', 'tasks', 'bad-id'), value: { id: { nested: true }, c: 'c', t: 1 } },
      { key: p.keys.phantom(1, 'eve', 'tasks', 'no-time'), value: { id: 4, c: 9, t: 'soon' } },
    ]);
    const loaded = await p.load();
    const byName = new Map(loaded!.phantoms.map((r) => [r.phantom, r]));
    expect([...byName.keys()].sort()).toEqual(['a', 'b', 'no-time']);
    expect(byName.get('a')).toEqual(phantom('ann', 'a', 2));
    expect(byName.get('b')).toEqual(phantom('bob', 'b', 'x'));
    expect(byName.get('no-time')).toEqual({ user: 'eve', store: 'tasks', phantom: 'no-time', id: 4, connection: '9', at: 0 });
  });

  it('forgets phantom mappings one by one, and every epoch but one at once', async () => {
    const p = storage.project(1);
    for (const epoch of [0, 1, 2]) await p.commit({ seq: 1, update: null, meta: meta(epoch), phantoms: [phantom('ann', `e${epoch}`, epoch), phantom('ann', `f${epoch}`, 10 + epoch)] });
    await p.write([{ key: `${p.keys.prefix}ph:old`, value: 1 }]);
    await p.forgetPhantoms(1, [phantom('ann', 'e1', 1)]);
    expect((await p.sizeOf('pn:1')).keys).toBe(1);
    await p.dropPhantomsExcept(1);
    expect((await p.sizeOf('pn')).keys).toBe(1);
    expect((await p.sizeOf('pn:1')).keys).toBe(1);
    expect((await p.sizeOf('ph')).keys).toBe(0);
  });

  it('keeps version contents, tells an empty one from a missing one, and removes them', async () => {
    const p = storage.project(1);
    await p.commit({ seq: 1, update: null, meta: meta(), versionContents: [['v1', { a: 1 }], ['v2', undefined]] });
    expect(await p.versionContent('v1')).toEqual({ found: true, content: { a: 1 } });
    expect(await p.versionContent('v2')).toEqual({ found: true, content: undefined });
    expect(await p.versionContent('v3')).toEqual({ found: false });
    await p.commit({ seq: 1, update: null, meta: meta(), removedVersions: ['v1'] });
    expect(await p.versionContent('v1')).toEqual({ found: false });
  });

  it('reads revisions in a range, and prunes those below a number', async () => {
    const p = storage.project(1);
    const revisions = [1, 2, 3, 4].map((n) => ({ n, text: JSON.stringify({ revision: `server-${n}` }) }));
    await p.commit({ seq: 1, update: null, meta: meta(), revisions });
    expect(await p.revisions(2, 3)).toEqual([{ revision: 'server-2' }, { revision: 'server-3' }]);
    expect(await p.revisions(3)).toEqual([{ revision: 'server-3' }, { revision: 'server-4' }]);
    await p.pruneRevisions(3);
    expect(await p.revisions(1)).toEqual([{ revision: 'server-3' }, { revision: 'server-4' }]);
  });

  it('serves dataset texts only for the update sequence and format they were written for', async () => {
    const p = storage.project(1);
    expect(await p.datasetTexts(1, ['tasks'])).toBeNull();
    await p.storeDatasetTexts(5, { stores: new Map([['tasks', '[1]'], ['resources', '[]']]), project: '{"a":1}' });
    expect(await p.hasDatasetTexts(5)).toBe(true);
    expect(await p.hasDatasetTexts(6)).toBe(false);
    expect(await p.datasetTexts(5, ['tasks', 'resources'])).toEqual({ stores: new Map([['tasks', '[1]'], ['resources', '[]']]), project: '{"a":1}' });
    // A store without a text: nothing to serve, but the texts stay.
    expect(await p.datasetTexts(5, ['tasks', 'calendars'])).toBeNull();
    expect(await p.hasDatasetTexts(5)).toBe(true);
    // Stale texts are dropped.
    expect(await p.datasetTexts(6, ['tasks'])).toBeNull();
    expect(await p.hasDatasetTexts(5)).toBe(false);
    expect((await p.sizeOf('dt')).keys).toBe(0);
  });

  it('answers no dataset texts for a project that never stored any, without writing (a cold open must read on a full disk)', async () => {
    const p = storage.project(1);
    await p.commit({ seq: 1, update: bytes(1), meta: meta() });
    const db = (storage as unknown as { db: Record<'del' | 'clear' | 'batch', (...args: unknown[]) => unknown> }).db;
    const writes = [vi.spyOn(db, 'del'), vi.spyOn(db, 'clear'), vi.spyOn(db, 'batch')];
    try {
      expect(await p.datasetTexts(1, ['tasks'])).toBeNull();
      expect(writes.map((w) => w.mock.calls.length)).toEqual([0, 0, 0]);
    } finally {
      writes.forEach((w) => w.mockRestore());
    }
  });

  it('drops dataset texts written in another format', async () => {
    const p = storage.project(1);
    await p.storeDatasetTexts(5, { stores: new Map([['tasks', '[]']]), project: '{}' });
    await p.write([{ key: p.keys.datasetSeq(), value: { seq: 5, format: DATASET_TEXT_FORMAT + 1 } }]);
    expect(await p.hasDatasetTexts(5)).toBe(false);
    expect(await p.datasetTexts(5, ['tasks'])).toBeNull();
    expect((await p.sizeOf('dt')).keys).toBe(0);
    await p.write([{ key: p.keys.datasetSeq(), value: 5 }]);
    expect(await p.hasDatasetTexts(5)).toBe(false);
  });

  it('removes every key of one project and only of it, counting them', async () => {
    const p = storage.project(1);
    await p.commit({ seq: 1, update: [bytes(1), bytes(2)], meta: meta(), revisions: [{ n: 1, text: '{}' }] });
    await storage.project(10).commit({ seq: 1, update: bytes(1), meta: meta() });
    expect(await p.removeAll()).toBe(4);
    expect(await p.load()).toBeNull();
    expect(await storage.project(10).load()).not.toBeNull();
  });

  it('counts keys and bytes per section and in all, and reads bytes and JSON sections back', async () => {
    const p = storage.project(1);
    await p.commit({ seq: 1, update: [bytes(1, 2, 3)], meta: meta() });
    await p.write([{ key: `${p.keys.prefix}ver:1`, value: { n: 1 } }, { key: `${p.keys.prefix}ver:2`, value: { n: 2 } }]);
    const usage = await p.usageBySection();
    expect(usage.get('u')).toEqual({ keys: 1, bytes: p.keys.update(1).length + 3 });
    expect(usage.get('ver')?.keys).toBe(2);
    expect(usage.get('meta')?.keys).toBe(1);
    expect([...usage.keys()].sort()).toEqual(['meta', 'u', 'ver']);
    expect(await p.sizeOf('u')).toEqual({ keys: 1, bytes: p.keys.update(1).length + 3 });
    expect((await p.sizeOf()).keys).toBe(4);
    expect([...(await p.getBytes(p.keys.update(1)))!]).toEqual([1, 2, 3]);
    expect(await p.getBytes(p.keys.update(2))).toBeUndefined();
    expect(await p.jsonSection('ver')).toEqual([{ n: 1 }, { n: 2 }]);
    expect(await p.getJson('missing')).toBeUndefined();
  });

  it('writes and deletes keys of the project list in one batch and reads a range back', async () => {
    await storage.write([{ key: 'c:a', value: { x: 1 } }, { key: 'c:b', value: 2 }, { key: 'c:c', value: 3 }, { key: 'd:a', value: bytes(7) }]);
    await storage.write([], ['c:c']);
    expect(await storage.jsonRange('c:a', 'c:b')).toEqual([['c:a', { x: 1 }]]);
    expect(await storage.jsonRange('c:', 'c;')).toEqual([['c:a', { x: 1 }], ['c:b', 2]]);
    expect([...(await storage.db.get('d:a'))!]).toEqual([7]);
  });

  it('names the data directory and why when it cannot be opened', async () => {
    await expect(Storage.open(join(dir, 'db'))).rejects.toThrow(new RegExp(`^cannot open data directory ${join(dir, 'db')}: .*LOCK: already held`));
    await writeFile(join(dir, 'a-file'), 'x');
    const under = join(dir, 'a-file', 'db');
    await expect(Storage.open(under)).rejects.toThrow(new RegExp(`^cannot open data directory ${under}: ENOTDIR`));
  });
});

describe('encoding', () => {
  it('lists the updates of a commit whatever its shape', () => {
    expect(updatesOf({ update: null })).toEqual([]);
    expect(updatesOf({ update: bytes(1) })).toEqual([bytes(1)]);
    expect(updatesOf({ update: [bytes(1), bytes(2)] })).toEqual([bytes(1), bytes(2)]);
  });

  it('encodes long text in slices without splitting a surrogate pair', async () => {
    const short = 'héllo 😀';
    expect(Buffer.from(await utf8InSlices(short)).toString('utf8')).toBe(short);
    // The pair straddles the first slice boundary.
    const long = 'a'.repeat(ENCODE_SLICE - 1) + '😀' + 'b'.repeat(ENCODE_SLICE + 5);
    const encoded = await utf8InSlices(long);
    expect(Buffer.from(encoded).equals(Buffer.from(long, 'utf8'))).toBe(true);
    const exact = 'c'.repeat(ENCODE_SLICE);
    expect(Buffer.from(await utf8InSlices(exact)).equals(Buffer.from(exact))).toBe(true);
  });
});
