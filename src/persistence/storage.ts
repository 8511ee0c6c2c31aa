/**
 * LevelDB storage for all projects. One process owns a data directory (LevelDB's own lock).
 * Each accepted change is written as one atomic batch — the Yjs update, the counters, the new
 * phantom mappings, version content and the revision log entry — before anyone is told of it.
 */
import { mkdir } from 'node:fs/promises';
import { Level } from 'level';
import type { ProjectId } from '../protocol/schemas.js';
import { ProjectKeys, missingEntries, projectIdFromKey, seqOf } from './keys.js';
import type { PhantomRecord } from '../document/phantoms.js';
import type { DatasetTexts } from '../document/dataset.js';
import { WriteGate } from './write-gate.js';

export type RecordId = string | number;

export interface ProjectMeta {
  /** Next value of the project's id counter; ids handed out are never below it again. */
  nextId: number;
  /** Next server revision number (revision ids are `server-<n>`). */
  nextRevision: number;
  /** Changes on every reset; phantom mappings of older epochs are forgotten. */
  phantomEpoch: number;
  /** Oldest revision still in the log; catch-up from before it needs a reload. */
  firstLoggedRevision: number;
  createdAt: string;
}

/** One snapshot chunk: a Yjs V2 update, applied in index order. */
export interface StoredChunk {
  index: number;
  bytes: Uint8Array;
}

export interface StoredProject {
  meta: ProjectMeta;
  /**
   * The last snapshot chunk (null: none yet). The chunks before it are read with `chunks(index)`
   * when they are applied, so a load never holds the stored state and the document at once.
   */
  lastChunk: StoredChunk | null;
  /** Updates logged after the snapshot chunks, in order. */
  updates: Uint8Array[];
  lastSeq: number;
  snapshotSeq: number;
  phantoms: PhantomRecord[];
}

export interface Commit {
  /** Sequence number of the (first) update. */
  seq: number;
  /** One Yjs update, several (stored under consecutive sequence numbers), or none. */
  update: Uint8Array | Uint8Array[] | null;
  /** Counters; left out only while a first import is still writing its parts. */
  meta?: ProjectMeta;
  phantoms?: Iterable<PhantomRecord>;
  versionContents?: Iterable<[string, unknown]>;
  removedVersions?: Iterable<string>;
  /** Revision log entries as JSON text. */
  revisions?: { n: number; text: string }[];
}

/** A phantom mapping as stored (its key holds user, store and phantom id). */
interface StoredPhantom {
  id: RecordId;
  c: string;
  t: number;
}

function parsePhantomName(text: string): { user: string; store: string; phantom: string } | null {
  try {
    const [user, store, phantom] = JSON.parse(text) as unknown[];
    return typeof user === 'string' && typeof store === 'string' && typeof phantom === 'string' ? { user, store, phantom } : null;
  } catch {
    return null;
  }
}

type Op =
  | { type: 'put'; key: string; value: unknown; valueEncoding?: string }
  | { type: 'del'; key: string };

export interface StorageOptions {
  /** fsync every commit (survives power loss, not only process crashes). */
  sync?: boolean;
}

/** The updates of a commit as a list. */
export function updatesOf(commit: Pick<Commit, 'update'>): Uint8Array[] {
  return commit.update === null ? [] : Array.isArray(commit.update) ? commit.update : [commit.update];
}

export class Storage {
  private constructor(
    readonly db: Level<string, Uint8Array>,
    private readonly options: StorageOptions,
    private readonly gate: WriteGate,
  ) {}

  static async open(dir: string, options: StorageOptions = {}): Promise<Storage> {
    // The database holds every project: a directory created here is for its owner only (an existing one keeps its mode).
    await mkdir(dir, { recursive: true, mode: 0o700 }).catch(() => {});
    const db = new Level<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' });
    try {
      await db.open();
    } catch (e) {
      const cause = (e as { cause?: Error }).cause;
      // Stryker disable next-line OptionalChaining: classic-level gives every failure to open a cause (the lock, the file system's error); `?.` only guards another store
      throw new Error(`cannot open data directory ${dir}: ${cause?.message ?? (e as Error).message}`);
    }
    return new Storage(db, options, new WriteGate(db, dir));
  }

  project(id: ProjectId): ProjectStorage {
    return new ProjectStorage(this.db, new ProjectKeys(id), this.options, this.gate);
  }

  async projectIds(): Promise<ProjectId[]> {
    const ids: ProjectId[] = [];
    for await (const key of this.db.keys({ gte: 'p:', lt: 'p;' })) {
      if (key.endsWith(':meta')) ids.push(projectIdFromKey(key.slice(2, -5)));
    }
    return ids;
  }

  /** The JSON values of the keys from `gte` up to `lt`, with their keys (the project list). */
  async jsonRange<T>(gte: string, lt: string): Promise<[string, T][]> {
    const out: [string, T][] = [];
    for await (const entry of this.db.iterator<string, T>({ gte, lt, valueEncoding: 'json' })) out.push(entry);
    return out;
  }

  /** Puts and deletes of any keys in one atomic batch (the project list; a project's own keys go through `project()`). */
  // Stryker disable next-line ArrayDeclaration: a default naming a key would delete a key no part of the layout writes, which nothing can see
  write(puts: { key: string; value: unknown }[], dels: string[] = []): Promise<void> {
    return this.gate.run(() => writeBatch(this.db, this.options, puts, dels));
  }

  close(): Promise<void> {
    return this.db.close();
  }
}

function writeBatch(db: Level<string, Uint8Array>, options: StorageOptions, puts: { key: string; value: unknown }[], dels: string[]): Promise<void> {
  const ops: Op[] = puts.map(({ key, value }) => (value instanceof Uint8Array ? { type: 'put', key, value } : { type: 'put', key, value, valueEncoding: 'json' }));
  for (const key of dels) ops.push({ type: 'del', key });
  return db.batch(ops as never, { sync: options.sync ?? false });
}

/**
 * The way dataset texts are written (stores, fields, nesting). Texts stored by a release that
 * wrote them differently are dropped, not served: change this whenever dataset.ts changes what
 * it writes.
 */
export const DATASET_TEXT_FORMAT = 1;

/** Whether a stored `dtseq` value names texts of sequence `seq` in this format. */
function sameTexts(stored: unknown, seq: number): boolean {
  const value = stored as { seq?: unknown; format?: unknown } | null;
  return typeof value === 'object' && value !== null && value.seq === seq && value.format === DATASET_TEXT_FORMAT;
}

/** Characters encoded per slice by `utf8InSlices`. */
export const ENCODE_SLICE = 1 << 20;

/** `text` as UTF-8, encoded a slice at a time (never cutting a surrogate pair) with a turn between slices. */
export async function utf8InSlices(text: string): Promise<Uint8Array> {
  if (text.length <= ENCODE_SLICE) return Buffer.from(text, 'utf8');
  const parts: Buffer[] = [];
  for (let start = 0; start < text.length; ) {
    let end = Math.min(text.length, start + ENCODE_SLICE);
    const last = text.charCodeAt(end - 1);
    if (end < text.length && last >= 0xd800 && last <= 0xdbff) end--;
    parts.push(Buffer.from(text.slice(start, end), 'utf8'));
    start = end;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  return Buffer.concat(parts);
}

export class ProjectStorage {
  constructor(
    private readonly db: Level<string, Uint8Array>,
    readonly keys: ProjectKeys,
    private readonly options: StorageOptions,
    private readonly gate: WriteGate,
  ) {}

  async getJson<T>(key: string): Promise<T | undefined> {
    const value = await this.db.get<string, T>(key, { valueEncoding: 'json' });
    return value ?? undefined;
  }

  /** The project's counters; undefined when it was never stored. */
  meta(): Promise<ProjectMeta | undefined> {
    return this.getJson<ProjectMeta>(this.keys.meta());
  }

  async load(): Promise<StoredProject | null> {
    const meta = await this.getJson<ProjectMeta>(this.keys.meta());
    if (!meta) return null;
    const snap = this.keys.range('snap');
    let lastChunk: StoredChunk | null = null;
    for await (const [key, bytes] of this.db.iterator({ ...snap, reverse: true, limit: 1 })) {
      lastChunk = { index: Number(key.slice(snap.gte.length)), bytes };
    }
    const snapshotSeq = (await this.getJson<number>(this.keys.snapSeq())) ?? 0;
    const updates: Uint8Array[] = [];
    let lastSeq = snapshotSeq;
    for await (const [key, value] of this.db.iterator(this.keys.range('u'))) {
      const seq = seqOf(key);
      if (seq <= snapshotSeq) continue;
      // Sequence numbers are handed out one by one: a gap is a lost entry, whose changes later ones may build on.
      if (seq !== lastSeq + 1) throw new Error(`its stored data is damaged (${missingEntries(lastSeq + 1, seq - 1)})`);
      updates.push(value);
      lastSeq = seq;
    }
    const phantoms: PhantomRecord[] = [];
    const phantomRange = this.keys.range(`pn:${meta.phantomEpoch}`);
    for await (const [key, value] of this.db.iterator<string, StoredPhantom>({ ...phantomRange, valueEncoding: 'json' })) {
      const name = parsePhantomName(key.slice(phantomRange.gte.length));
      if (name && value && (typeof value.id === 'number' || typeof value.id === 'string')) phantoms.push({ ...name, id: value.id, connection: String(value.c), at: Number(value.t) || 0 });
    }
    return { meta, lastChunk, updates, lastSeq, snapshotSeq, phantoms };
  }

  async commit(c: Commit): Promise<void> {
    const ops: Op[] = c.meta ? [{ type: 'put', key: this.keys.meta(), value: c.meta, valueEncoding: 'json' }] : [];
    updatesOf(c).forEach((update, i) => ops.push({ type: 'put', key: this.keys.update(c.seq + i), value: update }));
    for (const p of c.phantoms ?? []) {
      const value: StoredPhantom = { id: p.id, c: p.connection, t: p.at };
      ops.push({ type: 'put', key: this.keys.phantom(c.meta!.phantomEpoch, p.user, p.store, p.phantom), value, valueEncoding: 'json' });
    }
    for (const [version, content] of c.versionContents ?? []) {
      // As JSON text: LevelDB refuses a null value, and a version's content may be null (read back as none).
      ops.push({ type: 'put', key: this.keys.versionContent(version), value: JSON.stringify(content ?? null), valueEncoding: 'utf8' });
    }
    for (const version of c.removedVersions ?? []) ops.push({ type: 'del', key: this.keys.versionContent(version) });
    for (const r of c.revisions ?? []) ops.push({ type: 'put', key: this.keys.revision(r.n), value: r.text, valueEncoding: 'utf8' });
    await this.gate.run(() => this.db.batch(ops as never, { sync: this.options.sync ?? false }));
  }

  /**
   * Replace the updates after `previousSnapshotSeq` up to `seq` by snapshot chunks that already
   * hold them (merged by the caller). The chunks and the new snapshot sequence are one batch; the
   * folded updates are then cleared as a range in LevelDB's threads, which costs this thread
   * nothing per key. Updates at or below the snapshot sequence are never read again, so a crash
   * between the two steps only leaves garbage that the next fold clears.
   */
  async compact(chunks: StoredChunk[], seq: number): Promise<void> {
    const ops: Op[] = [
      ...chunks.map((chunk): Op => ({ type: 'put', key: this.keys.snapChunk(chunk.index), value: chunk.bytes })),
      { type: 'put', key: this.keys.snapSeq(), value: seq, valueEncoding: 'json' },
    ];
    await this.gate.run(() => this.db.batch(ops as never, { sync: this.options.sync ?? false }));
    await this.gate.run(() => this.db.clear({ gte: this.keys.range('u').gte, lte: this.keys.update(seq) }));
  }

  /**
   * The dataset texts stored at the last unload, when they are of update sequence `seq` (the
   * state the log holds now); null when there are none or they are older. Read as text, never
   * parsed: a large project's texts are tens of megabytes.
   */
  async datasetTexts(seq: number, stores: readonly string[]): Promise<DatasetTexts | null> {
    const stored = await this.getJson<unknown>(this.keys.datasetSeq());
    if (stored === undefined) return null;
    if (!sameTexts(stored, seq)) {
      await this.dropDatasetTexts();
      return null;
    }
    const names = [...stores, 'project'];
    const texts = await this.db.getMany<string, string>(names.map((name) => this.keys.datasetText(name)), { valueEncoding: 'utf8' });
    if (texts.some((text) => typeof text !== 'string')) return null;
    return { stores: new Map(stores.map((name, i) => [name, texts[i]!])), project: texts[names.length - 1]! };
  }

  /**
   * Store the dataset texts of update sequence `seq` (replacing older ones), in one batch. Each
   * text is encoded in slices with turns of the event loop between them: tens of megabytes handed
   * to LevelDB as strings were encoded in one go, holding up every other project for a third of
   * a second.
   */
  async storeDatasetTexts(seq: number, texts: DatasetTexts): Promise<void> {
    const ops: Op[] = [];
    for (const [name, text] of [...texts.stores, ['project', texts.project] as const]) {
      ops.push({ type: 'put', key: this.keys.datasetText(name), value: await utf8InSlices(text) });
    }
    ops.push({ type: 'put', key: this.keys.datasetSeq(), value: { seq, format: DATASET_TEXT_FORMAT }, valueEncoding: 'json' });
    await this.gate.run(() => this.db.batch(ops as never, { sync: this.options.sync ?? false }));
  }

  /** Whether the texts stored are of update sequence `seq` (and of this release's format). */
  async hasDatasetTexts(seq: number): Promise<boolean> {
    return sameTexts(await this.getJson<unknown>(this.keys.datasetSeq()), seq);
  }

  /** Forget stored dataset texts (stale ones: their space is all they would cost). */
  /**
   * Replace the project's state (document, counters, phantom ids, revision log, version contents)
   * by `c`, stored from update 1; server-side versions and the imported seed stay. Cluster mode: a
   * node taking a project over starts from what the project's stream holds. The old state is
   * cleared first and the new one written in one batch: a crash between leaves no counters, and
   * the project is restored again, never a mix of the two.
   */
  async replaceState(c: Omit<Commit, 'seq'>): Promise<void> {
    await this.gate.run(() => this.db.del(this.keys.meta()));
    await this.gate.run(() => this.db.del(this.keys.snapSeq()));
    await this.dropDatasetTexts();
    for (const section of ['snap', 'u', 'pn', 'vc', 'rv']) await this.gate.run(() => this.db.clear(this.keys.range(section)));
    await this.commit({ ...c, seq: 1 });
  }

  async dropDatasetTexts(): Promise<void> {
    await this.gate.run(() => this.db.del(this.keys.datasetSeq()));
    await this.gate.run(() => this.db.clear(this.keys.range('dt')));
  }

  async versionContent(version: string): Promise<{ found: boolean; content?: unknown }> {
    const value = await this.db.get<string, unknown>(this.keys.versionContent(version), { valueEncoding: 'json' });
    return value === undefined ? { found: false } : { found: true, content: value === null ? undefined : value };
  }

  async revisions(from: number, to = Number.MAX_SAFE_INTEGER): Promise<unknown[]> {
    const out: unknown[] = [];
    for await (const value of this.db.values<string, unknown>({ gte: this.keys.revision(from), lte: this.keys.revision(Math.min(to, 999999999999)), valueEncoding: 'json' })) {
      out.push(value);
    }
    return out;
  }

  /** The snapshot chunks in order (those before index `before`, when given), read as consumed. */
  async *chunks(before?: number): AsyncGenerator<Uint8Array> {
    const range = this.keys.range('snap');
    yield* this.db.values(before === undefined ? range : { gte: range.gte, lt: this.keys.snapChunk(before) });
  }

  /** Drop revision log entries below `before`. */
  async pruneRevisions(before: number): Promise<void> {
    await this.gate.run(() => this.db.clear({ gte: this.keys.range('rv').gte, lt: this.keys.revision(before) }));
  }

  /** Forget phantom mappings of epochs other than `keep` (and any of the older layout). */
  async dropPhantomsExcept(keep: number): Promise<void> {
    const range = this.keys.range('pn');
    const kept = this.keys.range(`pn:${keep}`);
    await this.gate.run(async () => {
      await this.db.clear(this.keys.range('ph'));
      await this.db.clear({ gte: range.gte, lt: kept.gte });
      await this.db.clear({ gte: kept.lt, lt: range.lt });
    });
  }

  /** Forget these phantom mappings (expired ones). */
  async forgetPhantoms(epoch: number, phantoms: Iterable<PhantomRecord>): Promise<void> {
    const ops: Op[] = [];
    for (const p of phantoms) ops.push({ type: 'del', key: this.keys.phantom(epoch, p.user, p.store, p.phantom) });
    if (ops.length) await this.gate.run(() => this.db.batch(ops as never));
  }

  // ---- small generic access for server-side versions (src/history) ----------------------------

  /** Remove every key of the project, in batches. Resolves with how many there were. */
  async removeAll(): Promise<number> {
    let removed = 0;
    for (;;) {
      const batch: string[] = [];
      for await (const key of this.db.keys({ ...this.keys.all(), limit: 10_000 })) batch.push(key);
      if (!batch.length) return removed;
      await this.write([], batch);
      removed += batch.length;
    }
  }

  async getBytes(key: string): Promise<Uint8Array | undefined> {
    return (await this.db.get(key)) ?? undefined;
  }

  /** The JSON values of one key section, in key order. */
  async jsonSection<T>(section: string): Promise<T[]> {
    const out: T[] = [];
    for await (const value of this.db.values<string, T>({ ...this.keys.range(section), valueEncoding: 'json' })) out.push(value);
    return out;
  }

  /** Puts (JSON, or bytes for Uint8Array values) and deletes in one atomic batch. */
  // Stryker disable next-line ArrayDeclaration: a default naming a key would delete a key no part of the layout writes, which nothing can see
  write(puts: { key: string; value: unknown }[], dels: string[] = []): Promise<void> {
    return this.gate.run(() => writeBatch(this.db, this.options, puts, dels));
  }

  /** Keys and bytes per key section (the name after the project prefix, up to the next ':'). */
  async usageBySection(): Promise<Map<string, { keys: number; bytes: number }>> {
    const out = new Map<string, { keys: number; bytes: number }>();
    const start = this.keys.prefix.length;
    for await (const [key, value] of this.db.iterator(this.keys.all())) {
      const end = key.indexOf(':', start);
      const section = end === -1 ? key.slice(start) : key.slice(start, end);
      const usage = out.get(section) ?? { keys: 0, bytes: 0 };
      usage.keys++;
      usage.bytes += Buffer.byteLength(key) + value.byteLength;
      out.set(section, usage);
    }
    return out;
  }

  async sizeOf(section?: string): Promise<{ keys: number; bytes: number }> {
    const range = section ? this.keys.range(section) : this.keys.all();
    let keys = 0;
    let bytes = 0;
    for await (const [key, value] of this.db.iterator(range)) {
      keys++;
      bytes += key.length + value.byteLength;
    }
    return { keys, bytes };
  }
}
