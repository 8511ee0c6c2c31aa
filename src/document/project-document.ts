/**
 * One project's Y.Doc with what is derived from it: the task tree index and the dataset cache.
 * Every write goes through here (the adapter for Bryntum changes, `replaceWith` for resets,
 * `applyUpdate` for Yjs updates), so the derived state cannot drift from the document.
 */
import * as Y from 'yjs';
import { applyChange, type AppliedChange, type ChangeContext } from './adapter.js';
import { changesOfTransaction, unreadRoots } from './doc-changes.js';
import { repair, scopeOf, syncTree } from './integrity.js';
import { DatasetCache, datasetObject, type DatasetTexts } from './dataset.js';
import { allStoreNames, BASE_FIELD, DEPENDENCIES, EXTRA_STORES_MAP, extraStoreNames, projectMap, readField, recordIdProblem, recordKey, storeMap, TASKS, type RecordId, type StoreMap } from './layout.js';
import { seedParts, writeSeed, type SeedData } from './seed.js';
import { TreeIndex } from './tree.js';
import { DependencyIndex } from './schedule-cycles.js';
import { Pacer } from './pacer.js';
import { RefusedChange } from './refused.js';
import { checkPeerUpdate } from './peer-update-check.js';

type Changes = Record<string, unknown>;

/** Longest stretch of loading a document between pauses (see Pacer). */
const LOAD_STRETCH_MS = 4;
/** Stored parts applied in one transaction while loading, at most (by bytes and by count). */
const LOAD_GROUP_BYTES = 64 * 1024;
const LOAD_GROUP_PARTS = 64;
/** A new peer's whole state is kept with at most this many updates after it (see missingFrom). */
const MAX_UPDATES_AFTER_WHOLE = 256;

/** Origin of the adapter's own transactions: the tree index is already current after them. */
export const ADAPTER_ORIGIN = Symbol('weft.adapter');

/**
 * Every record of a store is a map (layout.ts). An update that puts anything else under a store's
 * key is refused: it would be stored, and every later dataset of the project would fail on it.
 * A store it names in `$stores` is checked whole: its map may hold what an earlier update wrote
 * there while it was not a store yet.
 */
function refuseNonRecords(tr: Y.Transaction): void {
  const doc = tr.doc;
  // A top-level type nothing had asked for yet (a document fresh from storage) is a plain type
  // that the update wrote into; getMap then makes a map of it, another object with the same entries.
  const named = new Map<unknown, string>();
  for (const name of [...allStoreNames(doc), EXTRA_STORES_MAP]) {
    const before = doc.share.get(name);
    if (before) named.set(before, name);
    named.set(doc.getMap(name), name);
  }
  const refuse = (store: string, key: string, value: unknown) => {
    if (value === undefined) return;
    const where = `${store} ${JSON.stringify(key.slice(0, 80))}`;
    if (!(value instanceof Y.Map)) throw new RefusedChange(`${where}: a record must be a map`);
    checkId(where, key, value);
  };
  for (const [type, keys] of tr.changed) {
    const name = named.get(type);
    if (name === undefined) {
      // A record's own fields: its id may not change into something else than its key says.
      if (!(type instanceof Y.Map) || !type._item || type._item.deleted || !(keys.has('id') || keys.has(BASE_FIELD))) continue;
      const store = named.get(type._item.parent);
      const key = type._item.parentSub;
      if (store !== undefined && store !== EXTRA_STORES_MAP && key !== null) checkId(`${store} ${JSON.stringify(key.slice(0, 80))}`, key, type);
      continue;
    }
    if (name === EXTRA_STORES_MAP) {
      for (const store of keys) if (store !== null && extraStoreNames(doc).includes(store)) for (const [key, value] of storeMap(doc, store)) refuse(store, key, value);
      continue;
    }
    const map = storeMap(doc, name);
    for (const key of keys) if (key !== null) refuse(name, key, map.get(key));
  }
}

/** A record's id as `recordIdProblem` (layout.ts) wants it. */
function checkId(where: string, key: string, record: Y.Map<unknown>): void {
  const problem = recordIdProblem(key, readField(record, 'id'));
  if (problem) throw new RefusedChange(`${where}: ${problem}`);
}

export class ProjectDocument {
  readonly doc: Y.Doc;
  tree!: TreeIndex;
  private linkIndex: DependencyIndex | null = null;
  private readonly cache: DatasetCache;
  private v1Listener: ((update: Uint8Array) => void) | null = null;
  private readonly counts = new Map<StoreMap, { n: number }>();
  /** The whole state as a V1 update as of some transaction, and the V1 updates of those since (see missingFrom). */
  private whole: { state: Uint8Array; after: Uint8Array[]; bytes: number } | null = null;
  private readonly followWhole = (update: Uint8Array) => {
    const whole = this.whole!;
    whole.after.push(update);
    whole.bytes += update.byteLength;
    // Past this the peer would get more in pieces than the whole state once: encode it again.
    if (whole.after.length > MAX_UPDATES_AFTER_WHOLE || whole.bytes > whole.state.byteLength / 2) this.dropWhole();
  };

  /** `tree`: the task tree index when the caller built it already (see `load`). */
  constructor(doc: Y.Doc = new Y.Doc({ gc: true }), tree?: TreeIndex) {
    this.doc = doc;
    if (tree) this.tree = tree;
    else this.reindex();
    this.cache = new DatasetCache(doc, this);
  }

  /** Build from a stored state (a Yjs V2 update), without running observers on a half-built index. */
  static fromUpdate(update: Uint8Array | null, more: Uint8Array[] = []): ProjectDocument {
    // Stryker disable next-line ObjectLiteral: gc is Yjs' default; said here since deleted content must not be kept
    const doc = new Y.Doc({ gc: true });
    if (update) Y.applyUpdateV2(doc, update);
    for (const u of more) Y.applyUpdateV2(doc, u);
    return new ProjectDocument(doc);
  }

  /**
   * Build from stored parts (snapshot chunks, then updates), handing the event loop back between
   * parts so loading a large project does not hold up other projects' traffic. Parts may be read
   * as they are applied (a stream from storage), so only one is held at a time.
   */
  static async load(parts: Iterable<Uint8Array> | AsyncIterable<Uint8Array>, clientID?: number): Promise<ProjectDocument> {
    const doc = new Y.Doc({ gc: true });
    // Shorter stretches than other long work: a large project's first clients are usually served
    // its stored dataset texts meanwhile, and other projects' changes wait behind each stretch.
    const pacer = new Pacer(LOAD_STRETCH_MS);
    // Small parts (logged updates) are applied several to a transaction: each transaction reads
    // the document's state vector twice, which costs as much as the project has Yjs clients.
    let group: Uint8Array[] = [];
    let bytes = 0;
    const applyGroup = () => {
      const parts = group;
      doc.transact(() => parts.forEach((part) => Y.applyUpdateV2(doc, part)));
      group = [];
      bytes = 0;
    };
    for await (const part of parts) {
      group.push(part);
      bytes += part.byteLength;
      if (bytes < LOAD_GROUP_BYTES && group.length < LOAD_GROUP_PARTS) continue;
      applyGroup();
      await pacer.tick();
    }
    // Stryker disable next-line ConditionalExpression: an empty group is an empty transaction, which writes nothing
    if (group.length) applyGroup();
    // Only now: Yjs takes a stored update holding structs of its own client id for another
    // client's, and picks a new id.
    if (clientID !== undefined) doc.clientID = clientID;
    return new ProjectDocument(doc, await TreeIndex.build(storeMap(doc, TASKS), pacer));
  }

  /**
   * Write a seed into this (empty) document in parts of `batch` records, one transaction each,
   * yielding after each so the caller can persist it and other work can run in between.
   */
  async *importSeed(seed: SeedData, batch = 500): AsyncGenerator<void> {
    const parts = seedParts(seed, batch);
    for (const part of parts) {
      this.doc.transact(() => writeSeed(this.doc, part), ADAPTER_ORIGIN);
      yield;
    }
    this.reindex();
    this.cache.clear();
  }

  /**
   * A Bryntum change set, with the integrity repairs it made necessary, in one transaction.
   * `loops`: dependencies the repairs removed because they closed a scheduling cycle.
   */
  applyChange(change: Record<string, unknown>, ctx: Omit<ChangeContext, 'origin'>): AppliedChange & { repairs: Changes | null; loops: number } {
    let applied!: AppliedChange;
    let repairs: Changes | null = null;
    const notes = { loops: 0 };
    this.doc.transact((tr) => {
      applied = applyChange(this, change, { ...ctx, origin: ADAPTER_ORIGIN });
      repairs = repair(this, scopeOf(tr), notes);
    }, ADAPTER_ORIGIN);
    return { ...applied, repairs, loops: notes.loops };
  }

  /** Refuse a peer's update before it is applied, where that can be told (peer-update-check.ts). */
  checkPeerUpdate(update: Uint8Array, limits: { maxDepth: number }): void {
    checkPeerUpdate(this.doc, update, limits);
  }

  /** The Yjs client id this document writes with (a rebuild goes on with it: see `load`). */
  get clientID(): number {
    return this.doc.clientID;
  }

  /**
   * A Yjs update from elsewhere (a peer, another node), repaired in the same transaction.
   * Returns what changed as a Bryntum change set (null when the update changed nothing).
   */
  applyUpdate(update: Uint8Array, origin: unknown, v2 = false): Changes | null {
    let changes: Changes | null = null;
    this.doc.transact((tr) => {
      if (v2) Y.applyUpdateV2(this.doc, update, origin);
      else Y.applyUpdate(this.doc, update, origin);
      const newStores = unreadRoots(this.doc);
      refuseNonRecords(tr);
      // Applying an update marks the transaction remote; the repairs below are this replica's own
      // writes, and Yjs would otherwise take them for another client using our client id.
      tr.local = true;
      syncTree(tr, this.tree);
      repair(this, scopeOf(tr));
      changes = changesOfTransaction(tr, this.tree, newStores);
    }, origin);
    return changes;
  }

  /** Replace all content with the seed, as forward changes (Yjs peers see normal updates). */
  replaceWith(seed: SeedData): void {
    for (const _ of this.replaceInParts(seed)) void _;
  }

  /**
   * The same in transactions of at most `batch` records (removals, then the seed), yielding after
   * each so the caller can let other work run: a 100k-task project took seconds in one. The
   * document is only consistent again once the generator is done.
   */
  *replaceInParts(seed: SeedData, batch = 500): Generator<void> {
    for (const name of allStoreNames(this.doc)) {
      const map = storeMap(this.doc, name);
      const keys = [...map.keys()];
      for (let i = 0; i < keys.length; i += batch) {
        this.doc.transact(() => {
          for (const key of keys.slice(i, i + batch)) map.delete(key);
        }, ADAPTER_ORIGIN);
        yield;
      }
    }
    const parts = seedParts(seed, batch);
    const first = parts.next();
    this.doc.transact(() => {
      const project = projectMap(this.doc);
      for (const key of [...project.keys()]) project.delete(key);
      if (!first.done) writeSeed(this.doc, first.value);
    }, ADAPTER_ORIGIN);
    for (const part of parts) {
      yield;
      this.doc.transact(() => writeSeed(this.doc, part), ADAPTER_ORIGIN);
    }
    this.reindex();
    this.cache.clear();
  }

  /** Build the indexes from the document as it is (after a load or a wholesale write). */
  private reindex(): void {
    this.tree = new TreeIndex(storeMap(this.doc, TASKS));
    this.linkIndex = null;
  }

  /**
   * Dependencies by the tasks they link, for scheduling-cycle checks; built when the first change
   * that adds or moves something needs it, so a project that is only read never pays for it.
   * Built now, it leaves out `pending` (what the current transaction changed), so that `update`
   * reports those as new like it would have with an index built earlier.
   */
  links(pending: Iterable<string> = []): DependencyIndex {
    return (this.linkIndex ??= new DependencyIndex(storeMap(this.doc, DEPENDENCIES), pending));
  }

  /** Take `texts` as the dataset of the document as it is now (stored with this very state). */
  primeDataset(texts: DatasetTexts): void {
    this.cache.prime(texts);
  }

  datasetTexts(yielding = true): Promise<DatasetTexts> {
    return this.cache.texts_(yielding);
  }

  /** The dataset as plain objects; `yielding` paces the serialization of large stores. */
  dataset(yielding = false): Promise<Record<string, unknown>> {
    return datasetObject(this.cache, yielding);
  }

  recordKeys(store: string): string[] {
    return [...storeMap(this.doc, store).keys()];
  }

  has(store: string, id: RecordId): boolean {
    return storeMap(this.doc, store).has(recordKey(id));
  }

  /** Current values of some fields of a record (`project` store = project fields). */
  readFields(store: string, key: string, fields: string[]): Record<string, unknown> | null {
    const source = store === 'project' ? projectMap(this.doc) : storeMap(this.doc, store).get(key);
    if (!source) return null;
    const out: Record<string, unknown> = {};
    for (const f of fields) out[f] = (store === 'project' ? source.get(f) : readField(source as Y.Map<unknown>, f)) ?? null;
    return out;
  }

  /** How many records the project holds, in all stores. */
  recordCount(): number {
    let n = 0;
    for (const name of allStoreNames(this.doc)) n += this.countOf(storeMap(this.doc, name));
    return n;
  }

  /**
   * A store's record count, taken once and then kept by the map's own events: Y.Map#size walks
   * every entry, and the project-size check asks for it on every change that adds records.
   */
  private countOf(map: StoreMap): number {
    let counter = this.counts.get(map);
    if (!counter) {
      const c = { n: map.size };
      map.observe((event) => {
        for (const { action } of event.changes.keys.values()) c.n += action === 'add' ? 1 : action === 'delete' ? -1 : 0;
      });
      this.counts.set(map, (counter = c));
    }
    return counter.n;
  }

  /** Every record id in the project, for id counters. */
  *ids(): Generator<RecordId> {
    for (const name of allStoreNames(this.doc)) {
      for (const record of storeMap(this.doc, name).values()) {
        const id = readField(record, 'id');
        if (typeof id === 'number' || typeof id === 'string') yield id;
      }
    }
  }

  /** Be told of every committed transaction's update, in the V2 encoding (storage). */
  onUpdate(listener: (update: Uint8Array) => void): void {
    this.doc.on('updateV2', listener);
  }

  /**
   * Be told of updates in the V1 encoding too (y-websocket peers), or stop with null. Yjs encodes
   * a transaction once per encoding somebody listens to, so this is off while nobody needs it.
   */
  feedV1(listener: ((update: Uint8Array) => void) | null): void {
    const current = this.v1Listener;
    // Stryker disable next-line ConditionalExpression: observers are a set: off and on again leaves one
    if (current === listener) return;
    // Stryker disable next-line ConditionalExpression: off('update', null) removes nothing
    if (current) this.doc.off('update', current);
    if (listener) this.doc.on('update', listener);
    this.v1Listener = listener;
  }

  static mergeUpdates(updates: Uint8Array[], encoding: 'v1' | 'v2' = 'v2'): Uint8Array {
    return encoding === 'v1' ? Y.mergeUpdates(updates) : Y.mergeUpdatesV2(updates);
  }

  stateVector(): Uint8Array {
    return Y.encodeStateVector(this.doc);
  }

  /**
   * What a peer with this state vector lacks, as V1 updates (y-websocket's encoding): the first
   * holds what the rest build on. A peer that holds nothing of the document (a new one, or a vector
   * of other clients only) gets the whole state as encoded once, plus the updates made since: a crowd of peers
   * joining a large project, or one asking again and again, would otherwise each cost an encoding
   * of all of it, even while the project keeps changing.
   */
  missingFrom(stateVector: Uint8Array): Uint8Array[] {
    if (!this.knowsAnyOf(stateVector)) {
      if (!this.whole) {
        this.whole = { state: Y.encodeStateAsUpdate(this.doc), after: [], bytes: 0 };
        this.doc.on('update', this.followWhole);
      }
      return [this.whole.state, ...this.whole.after];
    }
    return [Y.encodeStateAsUpdate(this.doc, stateVector)];
  }

  /** Whether a state vector holds anything of this document (else the peer lacks all of it). */
  private knowsAnyOf(stateVector: Uint8Array): boolean {
    if (stateVector.length === 1 && stateVector[0] === 0) return false;
    const clients = this.doc.store.clients;
    for (const [client, clock] of Y.decodeStateVector(stateVector)) if (clock > 0 && clients.has(client)) return true;
    return false;
  }

  private dropWhole(): void {
    this.doc.off('update', this.followWhole);
    this.whole = null;
  }

  encodeState(): Uint8Array {
    return Y.encodeStateAsUpdateV2(this.doc);
  }

  destroy(): void {
    this.doc.destroy();
  }
}
