/**
 * The replication data path: a committed change as a stream entry (entry.ts) and a node following
 * a project it does not own (follower.ts), against a real redis-server started here. The "owner"
 * is a real ProjectDocument changed as a room changes it, appending each commit with a held lease.
 */
import { Redis } from 'ioredis';
import * as Y from 'yjs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { committedOf, decodeEntry, encodeEntry, MalformedEntry, type Committed } from '../src/cluster/entry.js';
import { entryStep, ProjectFollower } from '../src/cluster/follower.js';
import { ProjectLease } from '../src/cluster/lease.js';
import { ProjectStream, type EntryFieldsInput } from '../src/cluster/project-stream.js';
import { StreamReader, type EntriesListener } from '../src/cluster/stream-reader.js';
import { ProjectDocument } from '../src/document/project-document.js';
import { recordKey } from '../src/document/layout.js';
import type { ProjectMeta } from '../src/persistence/storage.js';
import type { ProjectId } from '../src/protocol/schemas.js';
import { seededProject, type TestProject } from './support/document.js';
import { hasRedisServer, noticeIfRedisMissing, startRedis, type TestRedis } from './support/redis.js';
import { waitFor } from './support/wait.js';
import { sleep } from '../src/simulate/random.js';

/** from, from+1, ..., to. */
const seqs = (from: number, to: number) => Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);


const META: ProjectMeta = { nextId: 5000, nextRevision: 4, phantomEpoch: 0, firstLoggedRevision: 1, createdAt: '2026-01-01T00:00:00.000Z' };

/** A revision log entry as the room makes it (revisionText: JSON of the revision, `revision` first). */
const logEntry = (n: number, changes: Record<string, unknown> = { tasks: { updated: [{ id: 11, name: `n${n}` }] } }, client = 'c1') => ({
  n,
  text: JSON.stringify({ revision: `server-${n}`, client, changes }),
});

/** A small real V2 update. */
function someUpdate(text = 'hello'): Uint8Array {
  const doc = new Y.Doc();
  const updates: Uint8Array[] = [];
  doc.on('updateV2', (u: Uint8Array) => updates.push(u));
  doc.getMap('tasks').set('k', text);
  doc.getMap('tasks').set('j', { nested: [1, 2, 3], text });
  return Y.mergeUpdatesV2(updates);
}

/** What a stream read gives back for these fields: bytes per field. */
const asRead = (fields: EntryFieldsInput): Map<string, Buffer> => new Map(Object.entries(fields).map(([k, v]) => [k, Buffer.isBuffer(v) ? v : Buffer.from(v, 'utf8')]));

const fullChange = (): Committed => ({
  update: someUpdate(),
  revisions: [logEntry(2), logEntry(3, { tasks: { added: [{ id: 'tasks-7', name: 'é ✓ \u2028 "q"', $PhantomId: '_generatedModel1' }] } }, 'c 2')],
  meta: META,
  phantoms: [{ user: 'ann', store: 'tasks', phantom: '_generatedModel1', id: 'tasks-7', connection: 'c 2', at: 1_700_000_000_000 }],
  versionContents: [['version-1', { tasks: [1, 2] }]],
  removedVersions: ['version-0'],
  author: 'ann',
});

function refusal(fields: Map<string, Buffer>): MalformedEntry {
  try {
    decodeEntry(fields);
  } catch (error) {
    expect(error).toBeInstanceOf(MalformedEntry);
    return error as MalformedEntry;
  }
  throw new Error(`accepted: ${JSON.stringify(Object.fromEntries([...fields].map(([k, v]) => [k, v.toString('latin1')])))}`);
}

describe('What to do with an entry given the last seq applied', () => {
  it('applies the next seq, skips one already applied and calls anything further a gap', () => {
    expect(entryStep(0, 1)).toBe('apply');
    expect(entryStep(41, 42)).toBe('apply');
    expect(entryStep(42, 42)).toBe('duplicate');
    expect(entryStep(42, 7)).toBe('duplicate');
    expect(entryStep(42, 44)).toBe('gap');
    expect(entryStep(0, 2)).toBe('gap');
  });
});

describe('A committed change as a stream entry', () => {
  it('round-trips every part of a commit through short fields, revision texts unchanged', () => {
    const change = fullChange();
    const fields = encodeEntry(change);
    expect(Object.keys(fields).sort()).toEqual(['a', 'm', 'p', 'r', 'u', 'v', 'x']);
    expect(Buffer.isBuffer(fields.u)).toBe(true);
    const back = decodeEntry(asRead(fields));
    expect(Buffer.from(back.update!).equals(Buffer.from(change.update!))).toBe(true);
    expect(back.revisions).toEqual(change.revisions);
    expect(back).toEqual({ ...change, update: back.update });
  });

  it('leaves out what a commit does not have: a counters-only commit is the meta alone', () => {
    const fields = encodeEntry({ update: null, revisions: [], meta: META, phantoms: [], versionContents: [], removedVersions: [] });
    expect(Object.keys(fields)).toEqual(['m']);
    expect(decodeEntry(asRead(fields))).toEqual({ update: null, revisions: [], meta: META, phantoms: [], versionContents: [], removedVersions: [] });
  });

  it('takes a room commit with several updates as one merged update that gives the same state', () => {
    const doc = new Y.Doc();
    const updates: Uint8Array[] = [];
    doc.on('updateV2', (u: Uint8Array) => updates.push(u));
    for (let i = 0; i < 5; i++) doc.getMap('tasks').set(`k${i}`, i);
    const committed = committedOf({ update: updates, meta: META, revisions: [logEntry(3)] }, 'bob');
    const back = decodeEntry(asRead(encodeEntry(committed)));
    const copy = new Y.Doc();
    Y.applyUpdateV2(copy, back.update!);
    expect(copy.getMap('tasks').toJSON()).toEqual(doc.getMap('tasks').toJSON());
    expect(back.author).toBe('bob');
    expect(() => committedOf({ update: null })).toThrow(/without counters/);
  });

  it('refuses to encode revision texts that are not the JSON of their numbered revision', () => {
    const base = { update: null, meta: META, phantoms: [], versionContents: [], removedVersions: [] };
    expect(() => encodeEntry({ ...base, revisions: [{ n: 2, text: logEntry(3).text }] })).toThrow(/server-2/);
    expect(() => encodeEntry({ ...base, revisions: [logEntry(1), logEntry(3)] })).toThrow(/consecutive/);
    expect(() => encodeEntry({ ...base, update: new Uint8Array(0), revisions: [] })).toThrow(/empty update/);
  });

  it('refuses an entry with a truncated update, naming the update field', () => {
    const fields = asRead(encodeEntry(fullChange()));
    const bytes = fields.get('u')!;
    for (let length = 0; length < bytes.length; length++) {
      const error = refusal(new Map([...fields, ['u', bytes.subarray(0, length)]]));
      expect(error.field).toBe('u');
      expect(error.message).toMatch(/field "u": update: /);
    }
  });

  it.each<[string, string, Buffer | null, RegExp]>([
    ['no meta', 'm', null, /missing/],
    ['junk JSON meta', 'm', Buffer.from('{"nextId":'), /not JSON/],
    ['meta that is not UTF-8', 'm', Buffer.from([0x7b, 0xff, 0x7d]), /not UTF-8/],
    ['a counter of the wrong type', 'm', Buffer.from(JSON.stringify({ ...META, nextRevision: '4' })), /nextRevision/],
    ['a negative counter', 'm', Buffer.from(JSON.stringify({ ...META, phantomEpoch: -1 })), /phantomEpoch/],
    ['an unsafe counter', 'm', Buffer.from(JSON.stringify({ ...META, nextId: 2 ** 60 })), /nextId/],
    ['a meta with a field it does not have', 'm', Buffer.from(JSON.stringify({ ...META, evil: 1 })), /evil/],
    ['a meta that is an array', 'm', Buffer.from('[]'), /meta/],
    ['junk JSON revisions', 'r', Buffer.from('[{"revision":'), /not JSON/],
    ['revisions that are not an array', 'r', Buffer.from('{"revision":"server-2"}'), /array/],
    ['a revision without a revision id', 'r', Buffer.from('[{"client":"c","changes":{}}]'), /revision 0: revision/],
    ['a revision id of another form', 'r', Buffer.from('[{"revision":"server-02","client":"c","changes":{}}]'), /server-<n>/],
    ['a revision that is null', 'r', Buffer.from('[null]'), /revision 0/],
    ['changes that are a string', 'r', Buffer.from('[{"revision":"server-2","client":"c","changes":"x"}]'), /changes/],
    ['revisions not in sequence', 'r', Buffer.from(`[${logEntry(2).text},${logEntry(2).text}]`), /does not follow/],
    ['a revision at or past nextRevision', 'r', Buffer.from(`[${logEntry(4).text}]`), /nextRevision/],
    ['an author that is not UTF-8', 'a', Buffer.from([0xc3, 0x28]), /not UTF-8/],
    ['an author far too long', 'a', Buffer.alloc(5000, 0x61), /longer than/],
    ['a phantom mapping of the wrong shape', 'p', Buffer.from('[["ann","tasks","_g1",7,"c"]]'), /phantoms/],
    ['a phantom mapping with a record id that is an object', 'p', Buffer.from('[["ann","tasks","_g1",{},"c",1]]'), /phantoms/],
    ['version contents that are not pairs', 'v', Buffer.from('{"version-1":{}}'), /version contents/],
    ['removed versions that are numbers', 'x', Buffer.from('[1,2]'), /removed versions/],
    ['an update that is empty', 'u', Buffer.alloc(0), /empty/],
    ['an update of random bytes', 'u', Buffer.from('not a yjs update at all, just text'), /not a Yjs V2 update/],
    ['a field it does not know', 'z', Buffer.from('x'), /not a field/],
  ])('refuses %s, naming the field', (_what, field, value, pattern) => {
    const fields = asRead(encodeEntry(fullChange()));
    if (value === null) fields.delete(field);
    else fields.set(field, value);
    const error = refusal(fields);
    expect(error.field).toBe(field);
    expect(error.message).toContain(`field "${field}"`);
    expect(error.message).toMatch(pattern);
  });
});

// ---- the follower, against a real redis-server --------------------------------------------------

/** Bryntum-like changes, several kinds in turn: field edits, new records by phantom id, moves. */
function changeFor(i: number): Record<string, unknown> {
  switch (i % 6) {
    case 0:
      return { tasks: { updated: [{ id: 11, name: `Install Apache ${i}` }] } };
    case 1:
      return { tasks: { added: [{ $PhantomId: `_generatedModel_${i}`, name: `Task ${i}`, parentId: [1, 2, 3][i % 3], duration: 1 + (i % 4) }] } };
    case 2:
      return { tasks: { updated: [{ id: 4, percentDone: i % 100 }] }, resources: { updated: [{ id: 1, name: `Celia ${i}` }] } };
    case 3:
      return { tasks: { updated: [{ id: 12, parentId: i % 4 === 3 ? 2 : 1 }] } };
    case 4:
      return { resources: { added: [{ $PhantomId: `_generatedResource_${i}`, name: `R ${i}` }] } };
    default:
      return { timeRanges: { updated: [{ id: 1, name: `Date ${i}` }] }, project: { calendar: 'general' } };
  }
}

/** The node that sequences the project: a real document, its V2 updates, a held lease. */
class Owner {
  seq = 0;
  meta: ProjectMeta;
  private taken: Uint8Array[] = [];
  private changes = 0;

  constructor(
    readonly t: TestProject,
    readonly stream: ProjectStream,
    readonly project: ProjectId,
    readonly epoch: number,
  ) {
    t.project.onUpdate((u) => this.taken.push(u));
    this.meta = { nextId: t.ids.nextValue, nextRevision: 1, phantomEpoch: 0, firstLoggedRevision: 1, createdAt: '2026-12-04T00:00:00.000Z' };
  }

  get document(): ProjectDocument {
    return this.t.project;
  }

  /** The seed the document held before the owner listened, as the first commit. */
  seedCommit(): Promise<number> {
    return this.append({ update: this.t.project.encodeState(), revisions: [], meta: this.meta, phantoms: [], versionContents: [], removedVersions: [] });
  }

  /** One Bryntum change as one committed transaction, appended (`spoil`: its fields spoiled first). */
  async change(spoil?: (fields: EntryFieldsInput) => EntryFieldsInput): Promise<number> {
    const i = this.changes++;
    const applied = this.t.apply(changeFor(i));
    const updates = this.taken.splice(0);
    const n = this.meta.nextRevision;
    this.meta = { ...this.meta, nextId: this.t.ids.nextValue, nextRevision: n + 1 };
    const phantoms = [...applied.newPhantoms.entries()].map((p) => ({ ...p, user: 'user', connection: 'c1', at: 1_000 + i }));
    const revision = { revision: `server-${n}`, client: 'c1', changes: applied.outgoing };
    const fields = encodeEntry(committedOf({ update: updates, meta: this.meta, phantoms, revisions: [{ n, text: JSON.stringify(revision) }] }, 'ann'));
    return this.appendRaw(spoil ? spoil(fields) : fields);
  }

  async changeMany(count: number): Promise<void> {
    for (let k = 0; k < count; k++) await this.change();
  }

  async append(c: Committed): Promise<number> {
    return this.appendRaw(encodeEntry(c));
  }

  async appendRaw(fields: EntryFieldsInput): Promise<number> {
    const seq = this.seq + 1;
    expect(await this.stream.append(this.project, this.epoch, seq, fields)).toBe('appended');
    this.seq = seq;
    return seq;
  }

  /** Folds the log: the state up to now shipped, the stream trimmed below it. */
  async ship(): Promise<void> {
    expect(await this.stream.shipSnapshot(this.project, this.epoch, this.seq, this.t.project.encodeState())).toBe('shipped');
  }
}

async function expectSameDocument(follower: ProjectDocument, owner: ProjectDocument): Promise<void> {
  expect(Buffer.from(follower.stateVector()).equals(Buffer.from(owner.stateVector()))).toBe(true);
  expect(await follower.dataset()).toEqual(await owner.dataset());
}

noticeIfRedisMissing();

describe.skipIf(!hasRedisServer())('Following a project through its stream on a real redis-server', () => {
  let redis: TestRedis;
  const clients: Redis[] = [];
  const readers: StreamReader[] = [];
  const followers: ProjectFollower[] = [];
  let counter = 0;

  const connect = () => {
    const client = new Redis(redis.url, { retryStrategy: () => 50 });
    client.on('error', () => {});
    clients.push(client);
    return client;
  };
  const newReader = () => {
    const reader = new StreamReader(connect(), { blockMs: 1_000 });
    readers.push(reader);
    return reader;
  };

  async function newOwner(): Promise<Owner> {
    const project = `follow-${++counter}`;
    const client = connect();
    const lease = new ProjectLease(client, { nodeId: 'owner', leaseMs: 60_000 });
    const acquired = await lease.acquire(project);
    if (!acquired.owned) throw new Error('not owner');
    return new Owner(await seededProject('saas'), new ProjectStream(client, { nodeId: 'owner' }), project, acquired.epoch);
  }

  /** A follower on a node of its own (own clients and reader), recording what it is told. */
  async function follow(owner: Owner, reader: Pick<StreamReader, 'subscribe' | 'unsubscribe'> = newReader()) {
    const committed: number[] = [];
    const errors: Error[] = [];
    const rebuilt: [number, number][] = [];
    const follower = await ProjectFollower.open({
      stream: new ProjectStream(connect(), { nodeId: `node-${++counter}` }),
      reader: reader as StreamReader,
      project: owner.project,
      pageSize: 7,
      onCommitted: (seq) => committed.push(seq),
      onError: (error) => errors.push(error),
      onRebuilt: (from, seq) => rebuilt.push([from, seq]),
    });
    followers.push(follower);
    return { follower, committed, errors, rebuilt };
  }

  const caughtUp = (follower: ProjectFollower, owner: Owner, what: string) => waitFor(() => follower.seq === owner.seq, 10_000, what);

  /** Seqs strictly increasing, none twice. */
  const expectInOrderOnce = (seqs: number[]) => {
    for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBeGreaterThan(seqs[i - 1]);
  };

  beforeAll(async () => {
    redis = await startRedis();
  });
  afterEach(async () => {
    for (const follower of followers.splice(0)) await follower.close();
    for (const reader of readers.splice(0)) await reader.close();
    for (const client of clients.splice(0)) client.disconnect();
  });
  afterAll(async () => {
    await redis?.dispose();
  });

  it('keeps a follower opened before the first change and one opened midway equal to the owner, each entry delivered once in order', async () => {
    const owner = await newOwner();
    const early = await follow(owner);
    expect(early.follower.seq).toBe(0);
    expect(early.follower.meta).toBeNull();
    await owner.seedCommit();
    await owner.changeMany(20);
    const midway = await follow(owner);
    // Built from the stream alone: nothing delivered one by one, the counters of the last entry.
    expect(midway.follower.seq).toBe(owner.seq);
    expect(midway.follower.meta).toEqual(owner.meta);
    for (let k = 0; k < 25; k++) {
      await owner.change();
      if (k % 5 === 0) await sleep(5);
    }
    await caughtUp(early.follower, owner, 'the early follower');
    await caughtUp(midway.follower, owner, 'the midway follower');
    await expectSameDocument(early.follower.document, owner.document);
    await expectSameDocument(midway.follower.document, owner.document);
    expect(early.committed).toEqual(Array.from({ length: owner.seq }, (_, i) => i + 1));
    expect(midway.committed).toEqual(Array.from({ length: 25 }, (_, i) => owner.seq - 24 + i));
    expect(early.follower.meta).toEqual(owner.meta);
    expect(midway.follower.meta).toEqual(owner.meta);
    for (const f of [early, midway]) {
      expect(f.errors).toEqual([]);
      expect(f.rebuilt).toEqual([]);
      expect(f.follower.builds).toBe(1);
    }
    // The follower's tree index followed the moves: the same children, in the same order.
    expect(early.follower.document.tree.childrenOf(recordKey(1))).toEqual(owner.document.tree.childrenOf(recordKey(1)));
  });

  it('starts a new follower from the shipped snapshot after the stream was trimmed, and it ends equal', async () => {
    const owner = await newOwner();
    await owner.seedCommit();
    await owner.changeMany(30);
    await owner.ship();
    const shippedAt = owner.seq;
    await owner.changeMany(5);
    // Entries up to the snapshot are gone: the follower cannot have read them.
    expect((await owner.stream.read(owner.project, 0, 1))[0].seq).toBe(shippedAt + 1);
    const late = await follow(owner);
    expect(late.follower.seq).toBe(owner.seq);
    expect(late.follower.meta).toEqual(owner.meta);
    await expectSameDocument(late.follower.document, owner.document);
    await owner.changeMany(10);
    await caughtUp(late.follower, owner, 'the late follower');
    await expectSameDocument(late.follower.document, owner.document);
    expect(late.committed).toEqual(Array.from({ length: 10 }, (_, i) => owner.seq - 9 + i));
    // Folded to the last entry: the snapshot alone, no counters until the next entry.
    await owner.ship();
    const fresh = await follow(owner);
    expect(fresh.follower.seq).toBe(owner.seq);
    expect(fresh.follower.meta).toBeNull();
    await expectSameDocument(fresh.follower.document, owner.document);
    await owner.change();
    await caughtUp(fresh.follower, owner, 'the follower of a folded stream');
    expect(fresh.follower.meta).toEqual(owner.meta);
    expect(fresh.errors).toEqual([]);
  });

  it('rebuilds a paused follower whose missed entries were folded and trimmed, delivering no seq twice or out of order', async () => {
    const owner = await newOwner();
    await owner.seedCommit();
    const lagging = await follow(owner);
    await owner.changeMany(10);
    await caughtUp(lagging.follower, owner, 'the follower before its pause');
    lagging.follower.pause();
    const pausedAt = lagging.follower.seq;
    await owner.changeMany(15);
    await owner.ship();
    // Nothing appended after the fold: the stream holds nothing after the follower's seq.
    expect(await owner.stream.read(owner.project, pausedAt, 10)).toEqual([]);
    await lagging.follower.resume();
    expect(lagging.follower.seq).toBe(owner.seq);
    expect(lagging.rebuilt).toEqual([[pausedAt, owner.seq]]);
    await expectSameDocument(lagging.follower.document, owner.document);
    // Following again after the rebuild, then a second lag with entries after the fold.
    await owner.changeMany(4);
    await caughtUp(lagging.follower, owner, 'the follower after the first rebuild');
    lagging.follower.pause();
    const second = lagging.follower.seq;
    await owner.changeMany(8);
    await owner.ship();
    const shipped = owner.seq;
    await owner.changeMany(6);
    await lagging.follower.resume();
    await caughtUp(lagging.follower, owner, 'the follower after the second rebuild');
    expect(lagging.rebuilt).toEqual([[pausedAt, shipped - 12], [second, shipped]]);
    await expectSameDocument(lagging.follower.document, owner.document);
    expectInOrderOnce(lagging.committed);
    // Delivered: everything after the seed (built at open) up to the first pause, the 4 after the first rebuild, the 6 after the second fold.
    expect(lagging.committed).toEqual([...seqs(2, pausedAt), ...[1, 2, 3, 4].map((k) => shipped - 12 + k), ...[1, 2, 3, 4, 5, 6].map((k) => shipped + k)]);
    expect(lagging.errors).toEqual([]);
    expect(lagging.follower.builds).toBe(3);
  });

  it('notices a jump in seq delivered by the reader after a fold it lagged behind, rebuilds instead of applying past it', async () => {
    const owner = await newOwner();
    await owner.seedCommit();
    const real = newReader();
    // A reader that stops reading for this follower while held, and reads on from where it was.
    const state: { wanted: [ProjectId, EntriesListener] | null; held: boolean } = { wanted: null, held: false };
    const holding = {
      subscribe(project: ProjectId, afterSeq: number, listener: EntriesListener) {
        state.wanted = [project, listener];
        if (!state.held) real.subscribe(project, afterSeq, listener);
      },
      unsubscribe(project: ProjectId) {
        state.wanted = null;
        real.unsubscribe(project);
      },
    };
    const lagging = await follow(owner, holding);
    await owner.changeMany(12);
    await caughtUp(lagging.follower, owner, 'the follower before the reader is held');
    state.held = true;
    const heldAt = real.position(owner.project)!;
    real.unsubscribe(owner.project);
    await owner.changeMany(10);
    await owner.ship();
    const shipped = owner.seq;
    await owner.changeMany(5);
    expect(lagging.follower.seq).toBe(heldAt);
    state.held = false;
    real.subscribe(state.wanted![0], heldAt, state.wanted![1]);
    await caughtUp(lagging.follower, owner, 'the follower after the jump');
    expect(lagging.rebuilt).toEqual([[heldAt, shipped]]);
    await expectSameDocument(lagging.follower.document, owner.document);
    expectInOrderOnce(lagging.committed);
    expect(lagging.committed).toEqual([...seqs(2, heldAt), ...[1, 2, 3, 4, 5].map((k) => shipped + k)]);
    // And it follows on.
    await owner.changeMany(3);
    await caughtUp(lagging.follower, owner, 'the follower after the rebuild');
    await expectSameDocument(lagging.follower.document, owner.document);
    expect(lagging.errors).toEqual([]);
  });

  it.each<[string, (good: EntryFieldsInput) => EntryFieldsInput, string]>([
    ['junk JSON meta', (good) => ({ ...good, m: '{"nextId":' }), 'm'],
    ['a counter of the wrong type', (good) => ({ ...good, m: JSON.stringify({ ...JSON.parse(String(good.m)), nextRevision: 'many' }) }), 'm'],
    ['truncated update bytes', (good) => ({ ...good, u: (good.u as Buffer).subarray(0, (good.u as Buffer).length - 3) }), 'u'],
    ['revisions that are not revisions', (good) => ({ ...good, r: '[1,2,3]' }), 'r'],
  ])('reports an entry with %s and applies nothing of it, also to a follower opened after it', async (_what, spoil, field) => {
    const owner = await newOwner();
    await owner.seedCommit();
    const live = await follow(owner);
    await owner.changeMany(4);
    await caughtUp(live.follower, owner, 'the follower before the bad entry');
    const before = owner.document.encodeState();
    const goodSeq = owner.seq;
    // The owner commits its next change; the entry that reaches the stream is spoiled in one field.
    await owner.change(spoil);
    await waitFor(() => live.errors.length > 0, 10_000, 'the error report');
    expect(live.errors[0].message).toContain(`entry ${goodSeq + 1} refused`);
    expect(live.errors[0].message).toContain(`field "${field}"`);
    expect(live.follower.halted).toBe(live.errors[0]);
    expect(live.follower.seq).toBe(goodSeq);
    expect(live.committed).toEqual(seqs(2, goodSeq));
    const expected = ProjectDocument.fromUpdate(before);
    await expectSameDocument(live.follower.document, expected);
    // A node opening the project now stops before it too, and says why.
    const later = await follow(owner);
    expect(later.follower.seq).toBe(goodSeq);
    expect(later.errors).toHaveLength(1);
    expect(later.errors[0].message).toContain(`field "${field}"`);
    await expectSameDocument(later.follower.document, expected);
    // Once a snapshot covers it (the owner's state, with that change), both go on from it.
    await owner.ship();
    await owner.changeMany(2);
    await live.follower.rebuild();
    await later.follower.rebuild();
    for (const f of [live, later]) {
      expect(f.follower.halted).toBeNull();
      await caughtUp(f.follower, owner, 'a follower after its rebuild');
      await expectSameDocument(f.follower.document, owner.document);
      expectInOrderOnce(f.committed);
    }
    expect(live.committed.slice(-2)).toEqual([owner.seq - 1, owner.seq]);
  });

  it('skips entries a reader delivers again from an earlier seq, delivering each seq once', async () => {
    const owner = await newOwner();
    await owner.seedCommit();
    const real = newReader();
    const state: { listener: EntriesListener | null } = { listener: null };
    const recording = {
      subscribe(project: ProjectId, afterSeq: number, listener: EntriesListener) {
        state.listener = listener;
        real.subscribe(project, afterSeq, listener);
      },
      unsubscribe(project: ProjectId) {
        real.unsubscribe(project);
      },
    };
    const f = await follow(owner, recording);
    await owner.changeMany(6);
    await caughtUp(f.follower, owner, 'the follower');
    // The same subscription read again from the start: every entry so far arrives a second time.
    real.subscribe(owner.project, 0, state.listener!);
    await waitFor(() => real.position(owner.project) === owner.seq, 10_000, 'the entries read again');
    await owner.changeMany(3);
    await caughtUp(f.follower, owner, 'the follower after the repeat');
    await sleep(200);
    expect(f.committed).toEqual(seqs(2, owner.seq));
    expect(f.follower.seq).toBe(owner.seq);
    await expectSameDocument(f.follower.document, owner.document);
    expect(f.errors).toEqual([]);
  });

  it('applies and delivers nothing after close()', async () => {
    const owner = await newOwner();
    await owner.seedCommit();
    const f = await follow(owner);
    await owner.changeMany(3);
    await caughtUp(f.follower, owner, 'the follower');
    await f.follower.close();
    const vector = f.follower.document.stateVector();
    await owner.changeMany(3);
    await sleep(300);
    expect(f.follower.seq).toBe(4);
    expect(f.committed).toEqual([2, 3, 4]);
    expect(Buffer.from(f.follower.document.stateVector()).equals(Buffer.from(vector))).toBe(true);
  });
});
