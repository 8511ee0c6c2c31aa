/**
 * A node following a project it does not own: its document built from the project's stream in
 * Redis (the last shipped snapshot, then every entry after it) and kept current from the
 * process's one StreamReader, entry by entry, in order, exactly once.
 *
 * - Each entry's update is applied as the owner committed it: the owner already repaired and
 *   checked it, and a follower that repaired again could only write something the owner did not,
 *   and drift from it. Only the task tree index is kept in line (the dataset cache and record
 *   counts follow the document's own events).
 * - Entries carry their seq. One that is not the next (the owner folded the log into a snapshot
 *   and trimmed the stream while this node lagged) is never applied past the hole: the follower
 *   builds a new document from the snapshot and the stream and goes on from there (`onRebuilt`).
 * - An entry that does not decode (`decodeEntry`) is reported (`onError`) and nothing of it is
 *   applied; the follower stops at the entry before it (`halted`) until `rebuild()` finds it
 *   folded into a later snapshot.
 * - All work of one follower runs one step at a time (reader deliveries are queued, never applied
 *   inside the reader's loop), so a rebuild never interleaves with applying an entry.
 */
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import * as Y from 'yjs';
import { ProjectDocument } from '../document/project-document.js';
import { syncTree } from '../document/integrity.js';
import type { ProjectMeta } from '../persistence/storage.js';
import type { VersionMeta } from '../history/versions.js';
import type { ProjectId } from '../protocol/schemas.js';
import { decodeEntry, decodeSnapshotExtra, type Committed } from './entry.js';
import type { ProjectStream, StreamEntry } from './project-stream.js';
import type { StreamReader } from './stream-reader.js';

/** Origin of the transactions that apply followed entries. */
export const FOLLOWED_ORIGIN = Symbol('weft.followed');

export interface ProjectFollowerOptions {
  stream: ProjectStream;
  /** The process's reader; one follower per project and reader (a subscription replaces another). */
  reader: StreamReader;
  project: ProjectId;
  /** After an entry that arrived while following was applied: the node delivers its revisions. */
  onCommitted?: (seq: number, committed: Committed) => void;
  /**
   * After the document was replaced by one built from the snapshot (a gap, or `rebuild()`): the
   * changes from `fromSeq` to `seq` were not delivered one by one; this node's clients need the
   * state anew. The earlier document is no longer updated.
   */
  onRebuilt?: (fromSeq: number, seq: number, document: ProjectDocument) => void;
  /** Malformed entries, failed reads from Redis, listener errors. */
  onError?: (error: Error) => void;
  /**
   * Runs each step of the follower (applying entries, rebuilding), so that the node can keep them
   * apart from its own reads of the document (a dataset serialized in paced stretches).
   */
  exclusive?: (step: () => Promise<void>) => Promise<void>;
  /** Entries per XRANGE while building or catching up. */
  pageSize?: number;
  /** Attempts to build from a snapshot that the owner keeps replacing meanwhile. */
  maxAttempts?: number;
  /** Pause before catching up again after a read failed (Redis away). */
  retryMs?: number;
  /** Failed catch-ups in a row before the follower halts. */
  maxRetries?: number;
}

/** What to do with an entry, given the last seq applied. */
export type EntryStep = 'apply' | 'duplicate' | 'gap';

export function entryStep(lastSeq: number, seq: number): EntryStep {
  if (seq <= lastSeq) return 'duplicate';
  return seq === lastSeq + 1 ? 'apply' : 'gap';
}

/** Pages read in one build or catch-up, at most (a bound, far above any real stream). */
const MAX_PAGES = 1_000_000;
/** Entries applied before the follower lets other work run. */
const APPLY_BATCH = 64;

class StreamGap extends Error {}

/** The state a build from Redis reached. */
interface Built {
  document: ProjectDocument;
  seq: number;
  meta: ProjectMeta | null;
  /** The server-side versions at `seq`, when the snapshot or an entry said. */
  serverVersions?: VersionMeta[];
  /** The malformed entry the build stopped before, if any. */
  failure: Error | null;
}

const asError = (error: unknown) => (error instanceof Error ? error : new Error(String(error)));

/** Applies an owner's committed update as it is: no repair, no refusal; the tree index follows. */
export function applyFollowed(document: ProjectDocument, update: Uint8Array): void {
  const doc = document.doc;
  doc.transact((tr) => {
    Y.applyUpdateV2(doc, update, FOLLOWED_ORIGIN);
    syncTree(tr, document.tree);
  }, FOLLOWED_ORIGIN);
}

export class ProjectFollower {
  readonly project: ProjectId;
  private doc: ProjectDocument;
  private lastSeq: number;
  private lastMeta: ProjectMeta | null;
  private versions: readonly VersionMeta[];
  /** The highest seq given to onCommitted (or the seq the follower opened at): never given again. */
  private delivered: number;
  private failure: Error | null = null;
  private closed = false;
  private paused = false;
  /** Bumped on every (un)subscription: deliveries of an earlier one are dropped. */
  private generation = 0;
  private pending: StreamEntry[] = [];
  private draining = false;
  /** The chain all work runs on, one step at a time. */
  private work: Promise<void> = Promise.resolve();
  private retries = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  private readonly pageSize: number;
  private readonly maxAttempts: number;
  private readonly retryMs: number;
  private readonly maxRetries: number;
  /** Documents built (the first one included), for tests and metrics. */
  builds = 0;

  private constructor(
    private readonly options: ProjectFollowerOptions,
    built: Built,
  ) {
    this.project = options.project;
    this.pageSize = options.pageSize ?? 100;
    this.maxAttempts = options.maxAttempts ?? 5;
    this.retryMs = options.retryMs ?? 500;
    this.maxRetries = options.maxRetries ?? 20;
    this.doc = built.document;
    this.lastSeq = built.seq;
    this.lastMeta = built.meta;
    this.versions = built.serverVersions ?? [];
    this.delivered = built.seq;
  }

  /** Builds the document from Redis, then follows the stream from where the build ended. */
  static async open(options: ProjectFollowerOptions): Promise<ProjectFollower> {
    for (const name of ['pageSize', 'maxAttempts', 'retryMs', 'maxRetries'] as const) {
      const value = options[name];
      if (value !== undefined && (!Number.isSafeInteger(value) || value < (name === 'pageSize' ? 1 : 0))) throw new Error(`${name} must be a non-negative integer (pageSize positive): ${value}`);
    }
    const built = await buildFromRedis(options, null, options.maxAttempts ?? 5);
    const follower = new ProjectFollower(options, built);
    follower.builds = 1;
    if (built.failure) follower.halt(built.failure);
    else follower.follow();
    return follower;
  }

  /** The seq of the last entry applied (or of the snapshot the document was built from). */
  get seq(): number {
    return this.lastSeq;
  }

  get document(): ProjectDocument {
    return this.doc;
  }

  /** The counters after the last entry applied; null when the document is a snapshot's alone. */
  get meta(): ProjectMeta | null {
    return this.lastMeta;
  }

  /** The project's server-side versions as of the last entry applied (clients see them in datasets). */
  get serverVersions(): readonly VersionMeta[] {
    return this.versions;
  }

  /** Why the follower stopped following (a malformed entry, Redis away too long), or null. */
  get halted(): Error | null {
    return this.failure;
  }

  /** Stops applying entries (they stay in Redis); `resume()` catches up. */
  pause(): void {
    this.paused = true;
    this.unfollow();
  }

  /** Catches up from `seq` (rebuilding when that part of the stream was folded), then follows. */
  resume(): Promise<void> {
    this.paused = false;
    return this.enqueue(() => this.catchUpAndFollow(false));
  }

  /** Builds the document anew from the snapshot and the stream, then follows (also after a halt). */
  rebuild(): Promise<void> {
    this.failure = null;
    this.retries = 0;
    return this.enqueue(() => this.catchUpAndFollow(true));
  }

  /** Stops following; the document stays as it is (the caller may keep using it). */
  async close(): Promise<void> {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.unfollow();
    await this.work;
  }

  // ---- following -------------------------------------------------------------------------------

  private follow(): void {
    if (this.closed || this.paused || this.failure) return;
    const generation = ++this.generation;
    this.options.reader.subscribe(this.project, this.lastSeq, (entries) => {
      if (generation !== this.generation) return;
      for (const entry of entries) this.pending.push(entry);
      if (!this.draining) {
        this.draining = true;
        void this.enqueue(() => this.drain());
      }
    });
  }

  private unfollow(): void {
    this.generation++;
    this.pending = [];
    this.options.reader.unsubscribe(this.project);
  }

  private enqueue(step: () => Promise<void>): Promise<void> {
    const run = this.work.then(async () => {
      if (this.closed) return;
      try {
        await (this.options.exclusive ? this.options.exclusive(() => (this.closed ? Promise.resolve() : step())) : step());
      } catch (error) {
        this.report(asError(error));
        this.retryLater();
      }
    });
    this.work = run;
    return run;
  }

  /** Applies queued deliveries in order; a gap turns into a rebuild. */
  private async drain(): Promise<void> {
    try {
      let applied = 0;
      for (let i = 0; i < this.pending.length; i++) {
        if (this.closed || this.failure) return;
        const entry = this.pending[i];
        const step = entryStep(this.lastSeq, entry.seq);
        if (step === 'duplicate') continue;
        if (step === 'gap') {
          this.unfollow();
          await this.catchUpAndFollow(true);
          return;
        }
        if (!this.applyEntry(entry, true)) return;
        if (++applied % APPLY_BATCH === 0) {
          await nextTurn();
        }
      }
      this.pending = [];
    } finally {
      this.draining = false;
      // Entries that arrived after the loop had looked: drained by a step of their own.
      if (this.pending.length > 0 && !this.closed && !this.failure) {
        this.pending = this.pending.filter((e) => e.seq > this.lastSeq);
        if (this.pending.length > 0) {
          this.draining = true;
          void this.enqueue(() => this.drain());
        }
      }
    }
  }

  /** Decodes and applies one entry; false when it was refused (the follower halted). */
  private applyEntry(entry: StreamEntry, deliver: boolean): boolean {
    let committed: Committed;
    try {
      committed = decodeEntry(entry.fields);
    } catch (error) {
      this.halt(new Error(`project ${JSON.stringify(this.project)}: entry ${entry.seq} refused: ${asError(error).message}`, { cause: error }));
      return false;
    }
    if (committed.update) {
      try {
        applyFollowed(this.doc, committed.update);
      } catch (error) {
        // Yjs may have taken part of it: the document is no longer the owner's at any seq.
        this.halt(new Error(`project ${JSON.stringify(this.project)}: entry ${entry.seq} could not be applied: ${asError(error).message}`, { cause: error }));
        return false;
      }
      const store = this.doc.doc.store;
      if (store.pendingStructs !== null || store.pendingDs !== null) {
        this.halt(new Error(`project ${JSON.stringify(this.project)}: entry ${entry.seq} builds on changes this document does not have`));
        return false;
      }
    }
    this.lastSeq = entry.seq;
    this.lastMeta = committed.meta;
    if (committed.serverVersions) this.versions = committed.serverVersions;
    if (deliver && entry.seq > this.delivered) {
      this.delivered = entry.seq;
      try {
        this.options.onCommitted?.(entry.seq, committed);
      } catch (error) {
        this.report(asError(error));
      }
    }
    return true;
  }

  /**
   * Reads the stream after `seq` page by page and applies it (delivered), then follows. `rebuild`:
   * first replace the document by one built from the snapshot. A gap found on the way means the
   * part after `seq` was folded: rebuild, a bounded number of times.
   */
  private async catchUpAndFollow(rebuild: boolean): Promise<void> {
    this.unfollow();
    for (let attempt = 0; attempt <= this.maxAttempts; attempt++) {
      if (this.closed) return;
      if (rebuild) await this.replaceDocument();
      if (this.failure) return;
      const outcome = await this.catchUp();
      if (outcome === 'halted' || this.closed) return;
      if (outcome === 'done') {
        this.retries = 0;
        this.follow();
        return;
      }
      rebuild = true;
    }
    this.halt(new Error(`project ${JSON.stringify(this.project)}: the stream kept being folded past this node (${this.maxAttempts + 1} attempts)`));
  }

  private async catchUp(): Promise<'done' | 'gap' | 'halted'> {
    const { stream } = this.options;
    let recheck = false;
    for (let page = 0; page < MAX_PAGES; page++) {
      // Paused or closed meanwhile: what is left is read on resume.
      if (this.closed || this.paused) return 'done';
      const entries = await stream.read(this.project, this.lastSeq, this.pageSize);
      if (entries.length === 0) {
        const last = await stream.last(this.project);
        if (last === null || last <= this.lastSeq) return 'done';
        // Appended since the read, or folded away: one more read tells which.
        if (recheck) return 'gap';
        recheck = true;
        continue;
      }
      recheck = false;
      for (const entry of entries) {
        const step = entryStep(this.lastSeq, entry.seq);
        if (step === 'duplicate') continue;
        if (step === 'gap') return 'gap';
        if (!this.applyEntry(entry, true)) return 'halted';
      }
      await nextTurn();
    }
    throw new Error(`project ${JSON.stringify(this.project)}: catch-up read ${MAX_PAGES} pages without reaching the end`);
  }

  /** A document from the snapshot and the entries up to `seq` (those were delivered already). */
  private async replaceDocument(): Promise<void> {
    const from = this.lastSeq;
    const built = await buildFromRedis(this.options, from, this.maxAttempts);
    if (this.closed) return;
    this.builds++;
    this.doc = built.document;
    this.lastSeq = built.seq;
    // A snapshot past `from` comes without counters (null until the next entry); one at `from` keeps ours.
    this.lastMeta = built.meta ?? (built.seq > from ? null : this.lastMeta);
    if (built.serverVersions) this.versions = built.serverVersions;
    if (built.failure) {
      this.halt(built.failure);
      return;
    }
    try {
      this.options.onRebuilt?.(from, this.lastSeq, built.document);
    } catch (error) {
      this.report(asError(error));
    }
  }

  private halt(error: Error): void {
    this.failure = error;
    this.unfollow();
    this.report(error);
  }

  private report(error: Error): void {
    try {
      this.options.onError?.(error);
    } catch {
      // A failing error hook must not stop the follower.
    }
  }

  /** After a failed step (Redis away): catch up again later, a bounded number of times. */
  private retryLater(): void {
    if (this.closed || this.failure || this.paused || this.retryTimer) return;
    if (++this.retries > this.maxRetries) {
      this.halt(new Error(`project ${JSON.stringify(this.project)}: catching up failed ${this.maxRetries} times in a row`));
      return;
    }
    this.unfollow();
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.enqueue(() => this.catchUpAndFollow(false));
    }, this.retryMs);
  }
}

/**
 * A document from the project's last snapshot and its entries after it: all of them (`upTo`
 * null), or those up to `upTo`. A gap on the way (the owner folded and trimmed meanwhile) starts
 * over from the newer snapshot, at most `maxAttempts` times. A malformed entry ends the build
 * before it (`failure`).
 */
async function buildFromRedis(options: ProjectFollowerOptions, upTo: number | null, maxAttempts: number): Promise<Built> {
  for (let attempt = 0; ; attempt++) {
    const state: BuildState = { seq: 0, meta: null, failure: null };
    try {
      const document = await ProjectDocument.load(parts(options, upTo, state));
      return { document, ...state };
    } catch (error) {
      if (!(error instanceof StreamGap) || attempt >= maxAttempts) throw error;
    }
  }
}

type BuildState = Omit<Built, 'document'>;

async function* parts(options: ProjectFollowerOptions, upTo: number | null, state: BuildState): AsyncGenerator<Uint8Array> {
  const { stream, project } = options;
  const pageSize = options.pageSize ?? 100;
  const snapshot = await stream.snapshot(project);
  if (snapshot) {
    state.seq = snapshot.seq;
    // Its counters, when shipped with them: a follower serves datasets at the right revision at once.
    if (snapshot.extra) {
      const extra = decodeSnapshotExtra(snapshot.extra);
      state.meta = extra.meta;
      if (extra.serverVersions) state.serverVersions = extra.serverVersions;
    }
    yield snapshot.bytes;
  }
  let recheck = false;
  for (let page = 0; page < MAX_PAGES; page++) {
    if (upTo !== null && state.seq >= upTo) return;
    const count = upTo === null ? pageSize : Math.min(pageSize, upTo - state.seq);
    const entries = await stream.read(project, state.seq, count);
    if (entries.length === 0) {
      // Entries this node applied before are gone: folded into a snapshot read too early.
      if (upTo !== null) throw new StreamGap(`entries ${state.seq + 1} to ${upTo} are gone`);
      const last = await stream.last(project);
      if (last === null || last <= state.seq) return;
      if (recheck) throw new StreamGap(`entries after ${state.seq} were folded`);
      recheck = true;
      continue;
    }
    recheck = false;
    for (const entry of entries) {
      if (entry.seq !== state.seq + 1) throw new StreamGap(`entry ${entry.seq} after ${state.seq}`);
      let committed: Committed;
      try {
        committed = decodeEntry(entry.fields);
      } catch (error) {
        state.failure = new Error(`project ${JSON.stringify(project)}: entry ${entry.seq} refused: ${asError(error).message}`, { cause: error });
        return;
      }
      state.seq = entry.seq;
      state.meta = committed.meta;
      if (committed.serverVersions) state.serverVersions = committed.serverVersions;
      if (committed.update) yield committed.update;
    }
  }
  throw new Error(`project ${JSON.stringify(project)}: build read ${MAX_PAGES} pages without reaching the end`);
}
