/**
 * One project's history policy: counts changes and their authors since the newest version,
 * decides when an automatic version is due, records versions (applying retention) and serves
 * their states. The room calls it from inside its queue, so versions capture consistent states.
 */
import type { HistoryConfig } from '../config/schema.js';
import type { DatasetTexts } from '../document/dataset.js';
import type { ProjectStorage } from '../persistence/storage.js';
import { HistoryError } from './errors.js';
import { versionsToDrop } from './retention.js';
import { ContentCache } from './content-cache.js';
import { datasetTextOfState } from './state.js';
import { withServerVersions } from './version-records.js';
import { VersionStore, type Pending, type VersionMeta, type VersionReason } from './versions.js';

export interface VersionRequest {
  reason: VersionReason;
  label?: string;
  /** The project's full state: Yjs V2 updates to apply in order. */
  state: Uint8Array[];
  lastRevision: string | null;
  /** The project's next revision number once the version is announced. */
  nextRevision: number;
}

const MAX_TIMER_MS = 2 ** 31 - 1;

/** Where versions are written before this node's LevelDB (several nodes: Redis); a rejection stops the version. */
export type VersionMirror = (version: VersionMeta, state: Uint8Array[], removed: VersionMeta[]) => Promise<void>;

export interface HistoryOptions {
  now?: () => number;
  mirror?: VersionMirror;
}

const DEFAULT_LABELS: Record<VersionReason, string> = {
  manual: 'Version',
  auto: 'Autosave',
  'before-reset': 'Before reset',
  'before-restore': 'Before restore',
};

export class ProjectHistory {
  private timer: NodeJS.Timeout | null = null;
  /** Set when `autoEveryMinutes` passed since the first uncounted change. */
  private timeUp = false;
  private readonly contents = new ContentCache();

  private constructor(
    private readonly store: VersionStore,
    private readonly policy: HistoryConfig,
    private versions: VersionMeta[],
    private pending: Pending,
    /** Called when an automatic version became due without a change (time-based). */
    private readonly onDue: () => void,
    private readonly now: () => number,
    private readonly mirror: VersionMirror | undefined,
  ) {
    if (pending.since !== null) this.schedule();
  }

  static async open(storage: ProjectStorage, policy: HistoryConfig, onDue: () => void, options: HistoryOptions = {}): Promise<ProjectHistory> {
    const now = options.now ?? Date.now;
    const store = new VersionStore(storage);
    const versions = await store.list();
    const meta = await storage.getJson<{ nextRevision: number }>(storage.keys.meta());
    const saved = await store.pending();
    // Without saved counts every revision so far is unversioned (counted from revision 1).
    const pending: Pending = saved ?? { changes: 0, authors: [], since: null, nextRevision: 1 };
    // Revisions after the last save were not counted (the process stopped without closing the
    // project): count them now, without authors, so the next version still comes in time.
    const missed = meta ? meta.nextRevision - pending.nextRevision : 0;
    if (missed > 0) {
      pending.changes += missed;
      pending.since ??= now();
      pending.nextRevision = meta!.nextRevision;
    }
    return new ProjectHistory(store, policy, versions, pending, onDue, now, options.mirror);
  }

  /** Versions, oldest first. */
  list(): readonly VersionMeta[] {
    return this.versions;
  }

  /** Count one committed change; true when an automatic version is now due. */
  noteChange(author: string): boolean {
    this.pending.changes++;
    if (!this.pending.authors.includes(author)) this.pending.authors.push(author);
    if (this.pending.since === null) {
      this.pending.since = this.now();
      this.schedule();
    }
    return this.due();
  }

  due(): boolean {
    if (this.pending.changes === 0) return false;
    const every = this.policy.autoEveryChanges;
    return (every > 0 && this.pending.changes >= every) || this.timeUp;
  }

  async record(request: VersionRequest): Promise<{ version: VersionMeta; removed: VersionMeta[] }> {
    const n = (this.versions.at(-1)?.n ?? 0) + 1;
    const version: VersionMeta = {
      n,
      time: new Date(this.now()).toISOString(),
      label: request.label?.trim() || `${DEFAULT_LABELS[request.reason]} ${n}`,
      reason: request.reason,
      authors: [...this.pending.authors],
      changes: this.pending.changes,
      lastRevision: request.lastRevision,
      bytes: request.state.reduce((n, part) => n + part.byteLength, 0),
      parts: request.state.length,
    };
    const all = [...this.versions, version];
    const drop = new Set(versionsToDrop(all, this.policy, this.now()));
    const pending: Pending = { changes: 0, authors: [], since: null, nextRevision: request.nextRevision };
    const removed = all.filter((v) => drop.has(v.n));
    // The mirror first: a version it refused is nowhere; one written there but not here is written again under the same number.
    await this.mirror?.(version, request.state, removed);
    await this.store.add(version, request.state, pending, removed);
    this.versions = all.filter((v) => !drop.has(v.n));
    for (const n of [version.n, ...drop]) this.contents.drop(n);
    this.pending = pending;
    this.stopTimer();
    return { version, removed };
  }

  async get(n: number): Promise<{ version: VersionMeta; state: Uint8Array[] }> {
    const version = this.versions.find((v) => v.n === n);
    const state = version && (await this.store.state(version));
    if (!version || !state) throw new HistoryError(`no version ${n}`, 404);
    return { version, state };
  }

  /** Content for Bryntum's load-content command: the project as a dataset at version `n`, as pieces of JSON text. */
  async content(n: number): Promise<{ found: boolean; json?: string[] }> {
    const version = this.versions.find((v) => v.n === n);
    if (!version) return { found: false };
    const json = await this.contents.get(n, async () => {
      const state = await this.store.state(version);
      return state ? datasetTextOfState(state) : null;
    });
    return json ? { found: true, json } : { found: false };
  }

  /** Dataset texts as clients get them: the document's versions plus the server's. */
  withVersions(texts: DatasetTexts): DatasetTexts {
    return withServerVersions(texts, this.versions);
  }

  /** Keep the counts for the next load of the project. */
  async close(nextRevision: number): Promise<void> {
    this.stopTimer();
    await this.store.savePending({ ...this.pending, nextRevision });
  }

  private schedule(): void {
    const minutes = this.policy.autoEveryMinutes;
    if (minutes <= 0 || this.timer || this.pending.since === null) return;
    const wait = Math.min(MAX_TIMER_MS, Math.max(0, this.pending.since + minutes * 60_000 - this.now()));
    this.timer = setTimeout(() => {
      this.timer = null;
      // Node timers cannot wait longer than MAX_TIMER_MS: wait again for the rest.
      if (wait === MAX_TIMER_MS) return this.schedule();
      this.timeUp = true;
      if (this.due()) this.onDue();
    }, wait);
    this.timer.unref();
  }

  /** No more automatic versions (the project's room is gone without closing: its load failed). */
  stop(): void {
    this.stopTimer();
  }

  private stopTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.timeUp = false;
  }
}
