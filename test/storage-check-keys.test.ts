/**
 * `checkStorage` over keys written by hand into a real LevelDB directory: each kind of damage a
 * load would trip over is named with its key, and what is whole passes.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as Y from 'yjs';
import { Level } from 'level';
import { checkStorage, type CheckProgress } from '../src/persistence/storage-check.js';
import { ProjectKeys } from '../src/persistence/keys.js';
import { writeSeed, parseSeed } from '../src/document/seed.js';

let dir = '';
let db: Level<string, Uint8Array>;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'weft-check-keys-'));
  db = new Level<string, Uint8Array>(join(dir, 'db'), { keyEncoding: 'utf8', valueEncoding: 'view' });
  await db.open();
});
afterEach(async () => {
  await db.close();
  await rm(dir, { recursive: true, force: true });
});

const text = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
const META = { nextId: 10, nextRevision: 5, phantomEpoch: 0, firstLoggedRevision: 1 };

/** A project's state as three V2 updates, each building on the one before. */
function projectUpdates(): Uint8Array[] {
  const doc = new Y.Doc();
  const updates: Uint8Array[] = [];
  doc.on('updateV2', (u: Uint8Array) => updates.push(u));
  doc.transact(() => writeSeed(doc, parseSeed({ project: { name: 'P' }, tasks: [{ id: 1, name: 'A' }] })));
  doc.transact(() => writeSeed(doc, parseSeed({ project: { name: 'Q' } })));
  doc.getMap('check-test').set('value', 2);
  return updates;
}

/** Project `id` stored whole: counters, the first update as snapshot chunk 0, the others as log entries. */
async function storeProject(id: number | string, chunks = 1): Promise<ProjectKeys> {
  const keys = new ProjectKeys(id);
  const [first, ...rest] = projectUpdates();
  await db.put(keys.meta(), text(META));
  const parts = [first, ...rest.slice(0, chunks - 1)];
  for (let i = 0; i < parts.length; i++) await db.put(keys.snapChunk(i), parts[i]);
  await db.put(keys.snapSeq(), text(0));
  const logged = rest.slice(chunks - 1);
  for (let i = 0; i < logged.length; i++) await db.put(keys.update(i + 1), logged[i]);
  return keys;
}

describe('checkStorage over hand-made keys', () => {
  it('passes whole projects of both id kinds and counts every key', async () => {
    await storeProject(1);
    await storeProject('a b');
    const report = await checkStorage(db);
    expect(report).toEqual({ projects: 2, keys: 10, damage: [] });
  });

  it('names one missing snapshot chunk in the middle, and a run of them', async () => {
    const keys = await storeProject(1, 3);
    await db.del(keys.snapChunk(1));
    const two = await storeProject(2, 3);
    await db.put(two.snapChunk(5), (await db.get(two.snapChunk(2)))!);
    await db.del(two.snapChunk(1));
    await db.del(two.snapChunk(2));
    const { damage } = await checkStorage(db);
    expect(damage.filter((d) => d.key !== keys.prefix && d.key !== two.prefix)).toEqual([
      { project: 1, key: keys.snapChunk(2), problem: 'snapshot chunk 1 is missing' },
      { project: 2, key: two.snapChunk(5), problem: 'snapshot chunks 1 to 4 are missing' },
    ]);
    // Without the chunks the state needs, the logged state is incomplete too.
    expect(damage).toContainEqual({ project: 1, key: keys.prefix, problem: expect.stringMatching(/^the logged state refers to changes that are not stored/) });
  });

  it('names a gap in the update log by the entries missing, and skips entries already folded', async () => {
    const keys = await storeProject(1);
    await db.put(keys.update(4), (await db.get(keys.update(2)))!);
    await db.del(keys.update(2));
    const report = await checkStorage(db);
    expect(report.damage[0]).toEqual({ project: 1, key: keys.update(4), problem: 'update-log entries 2 to 3 are missing' });

    // Entries at or below the snapshot sequence are left by an interrupted fold and never read.
    const two = await storeProject(2, 2);
    await db.put(two.update(2), (await db.get(two.update(1)))!);
    await db.put(two.update(1), new Uint8Array([9, 9, 9]));
    await db.put(two.snapSeq(), text(1));
    const again = await checkStorage(db);
    expect(again.damage.filter((d) => d.project === 2)).toEqual([]);
  });

  it('names counters that are missing or not numbers, and a snapshot sequence that is not a whole number', async () => {
    const keys = await storeProject(1);
    await db.put(keys.meta(), text({ nextId: 1, nextRevision: 'x', phantomEpoch: null }));
    await db.put(keys.snapSeq(), text(-1));
    const two = await storeProject(2);
    await db.put(two.meta(), text(null));
    await db.put(two.snapSeq(), text(1.5));
    const { damage } = await checkStorage(db);
    expect(damage).toEqual([
      { project: 1, key: keys.meta(), problem: 'counters missing or not numbers: nextRevision, phantomEpoch, firstLoggedRevision' },
      { project: 1, key: keys.snapSeq(), problem: 'snapshot sequence is not a whole number: -1' },
      { project: 2, key: two.meta(), problem: 'counters missing or not numbers: nextId, nextRevision, phantomEpoch, firstLoggedRevision' },
      { project: 2, key: two.snapSeq(), problem: 'snapshot sequence is not a whole number: 1.5' },
    ]);
  });

  it('names revisions at or above the next revision, but not below it', async () => {
    const keys = await storeProject(1);
    for (const n of [4, 5, 6]) await db.put(keys.revision(n), text({}));
    const { damage } = await checkStorage(db);
    expect(damage).toEqual([
      { project: 1, key: keys.revision(5), problem: 'revision 5 is at or above the counter\'s next revision 5' },
      { project: 1, key: keys.revision(6), problem: 'revision 6 is at or above the counter\'s next revision 5' },
    ]);
  });

  it('names JSON records that do not parse and version states that do not decode', async () => {
    const keys = await storeProject(1);
    await db.put(keys.versionContent('v1'), new TextEncoder().encode('{"a":'));
    await db.put(keys.versionState(1), new Uint8Array([1, 2, 3]));
    await db.put(keys.versionState(2), Y.encodeStateAsUpdateV2(new Y.Doc()));
    await db.put(keys.datasetSeq(), new Uint8Array([0xff, 0xfe]));
    const { damage } = await checkStorage(db);
    expect(damage.map((d) => [d.key, d.problem.replace(/\(.*\)/, '(…)')])).toEqual([
      [keys.datasetSeq(), 'not valid JSON (…)'],
      [keys.versionContent('v1'), 'not valid JSON (…)'],
      [keys.versionState(1), 'server version state does not decode (…)'],
    ]);
  });

  it('stops applying a project\'s log after the first part that does not decode, and reports only that part', async () => {
    const keys = await storeProject(1);
    await db.put(keys.update(1), new Uint8Array([0, 0, 0]));
    await db.put(keys.update(2), new Uint8Array([1, 1]));
    const { damage } = await checkStorage(db);
    expect(damage).toEqual([{ project: 1, key: keys.update(1), problem: expect.stringMatching(/^update-log entry does not decode \(3 bytes: /) }]);
  });

  it('reports a gap and a part after it that does not decode, not also the state they leave incomplete', async () => {
    const keys = await storeProject(1);
    await db.del(keys.update(1));
    await db.put(keys.update(3), new Uint8Array([0, 0, 0]));
    const { damage } = await checkStorage(db);
    expect(damage).toEqual([
      { project: 1, key: keys.update(2), problem: 'update-log entry 1 is missing' },
      { project: 1, key: keys.update(3), problem: expect.stringMatching(/^update-log entry does not decode \(3 bytes: /) },
    ]);
  });

  it('passes over keys named like a numbered section alone, which a load does not read, whatever they hold', async () => {
    const keys = await storeProject(1);
    const junk = new Uint8Array([0xff, 0x00, 0x13, 0x37]);
    for (const section of ['snap', 'u', 'vs']) await db.put(`${keys.prefix}${section}`, junk);
    const report = await checkStorage(db);
    expect(report).toEqual({ projects: 1, keys: 8, damage: [] });
  });

  it('names a state that does not load as a project', async () => {
    const keys = new ProjectKeys(1);
    const doc = new Y.Doc();
    doc.getMap('tasks').set('x', 1);
    await db.put(keys.meta(), text(META));
    await db.put(keys.snapChunk(0), Y.encodeStateAsUpdateV2(doc));
    const { damage } = await checkStorage(db);
    expect(damage).toHaveLength(1);
    expect(damage[0]).toMatchObject({ project: 1, key: keys.prefix, problem: expect.stringMatching(/^the logged state does not load as a project \(/) });
  });

  it('does not check the state of a project without counters', async () => {
    const keys = new ProjectKeys(1);
    const doc = new Y.Doc();
    doc.getMap('tasks').set('x', 1);
    await db.put(keys.update(1), Y.encodeStateAsUpdateV2(doc));
    expect((await checkStorage(db)).damage).toEqual([]);
  });

  it('names keys outside any project and project parts that do not decode', async () => {
    await storeProject(1);
    await db.put('p:stray', text(1));
    await db.put('p:s%E0%A4%A:meta', text(META));
    const { damage, projects } = await checkStorage(db);
    expect(damage).toEqual([
      { project: 'p:s%E0%A4%A:', key: 'p:s%E0%A4%A:meta', problem: 'the project part of the key does not decode' },
      { project: 'p:stray', key: 'p:stray', problem: 'a key outside any project' },
    ]);
    expect(projects).toBe(1);
  });

  it('reads only project keys: keys sorting before or after them are neither counted nor named', async () => {
    await storeProject(1);
    await db.put('a:other', text(1));
    await db.put('q:other', text(1));
    expect(await checkStorage(db)).toEqual({ projects: 1, keys: 5, damage: [] });
  });

  it('lists at most 20 findings per project and says more were left out', async () => {
    const keys = await storeProject(1);
    for (let n = 10; n < 40; n++) await db.put(keys.revision(n), text({}));
    const { damage } = await checkStorage(db);
    expect(damage).toHaveLength(21);
    expect(damage[19].key).toBe(keys.revision(29));
    expect(damage[20]).toEqual({ project: 1, key: keys.revision(30), problem: 'more damage in this project not listed' });
  });

  it('reports progress every given number of keys', async () => {
    await storeProject(1);
    await storeProject(2);
    const seen: CheckProgress[] = [];
    await checkStorage(db, (p) => seen.push(p), 4);
    expect(seen).toEqual([
      { keys: 4, projects: 1 },
      { keys: 8, projects: 2 },
    ]);
  });
});
