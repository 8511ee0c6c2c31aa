/**
 * The owner's side of one project in cluster mode: the lease, kept renewed, and the project's
 * stream, where every commit is appended (fenced by the lease's epoch) before anyone is told.
 *
 * The owner's LevelDB stays its working store (folding, dataset texts, versions); Redis is what
 * every other node follows and what a node taking the project over starts from
 * (`restoreFromStream`). A commit is stored locally first, then appended: one the append refused
 * was told to nobody, and the next owner (this node too) starts again from the stream.
 */
import type { Delivery } from '../server/delivery.js';
import type { CommitReplica, ReplicatedCommit } from '../server/room.js';
import type { VersionMeta } from '../history/versions.js';
import { updatesOf } from '../persistence/storage.js';
import type { ProjectId } from '../protocol/schemas.js';
import { mergeUpdates } from '../persistence/merger.js';
import { committedOf, encodeEntry, encodeSnapshotExtra, type EntryDelivery } from './entry.js';
import { readStreamState } from './take-over.js';
import type { ProjectLease } from './lease.js';
import type { ProjectStream } from './project-stream.js';
import type { SharedVersions } from './shared-versions.js';

/** Raised when the project can no longer be written from this node (lease lost, fenced, Redis away). */
export class OwnershipLost extends Error {
  constructor(project: ProjectId, why: string) {
    super(`project ${JSON.stringify(project)} is no longer sequenced by this node (${why}): reconnect`);
    this.name = 'OwnershipLost';
  }
}

export interface OwnershipOptions {
  lease: ProjectLease;
  stream: ProjectStream;
  /** Where the project's server-side versions are kept for every node; absent: only here. */
  versions?: SharedVersions;
  project: ProjectId;
  epoch: number;
  /** The last seq in the stream (or folded into its snapshot) when the lease was taken; 0: none. */
  seq: number;
  /** Told once, when the project is lost; the room must end (its clients reconnect). */
  onLost: (error: OwnershipLost) => void;
  /** Ship a snapshot to Redis (and trim the stream) every this many entries; 0: never. */
  shipEvery?: number;
  /** Shipping failures (the stream just stays longer). */
  onError?: (error: Error) => void;
}

export class ProjectOwnership implements CommitReplica {
  readonly project: ProjectId;
  readonly epoch: number;
  private lastSeq: number;
  private lost: OwnershipLost | null = null;
  private renewTimer: NodeJS.Timeout | null = null;
  /** Updates of commits without counters (a seed stored in parts), sent with the one that has them. */
  private held: Uint8Array[] = [];
  /** Entries appended since the last snapshot was shipped (or since the lease was taken). */
  private sinceShipped = 0;
  private shipping: Promise<void> | null = null;

  constructor(private readonly options: OwnershipOptions) {
    this.project = options.project;
    this.epoch = options.epoch;
    this.lastSeq = options.seq;
  }

  /** The seq of the last entry appended (or found when the lease was taken). */
  get seq(): number {
    return this.lastSeq;
  }

  get isLost(): boolean {
    return this.lost !== null;
  }

  /** Renew the lease every third of its time to live; a failed renewal loses the project. */
  keepRenewed(): void {
    const every = Math.max(50, Math.floor(this.options.lease.leaseMs / 3));
    this.renewTimer = setInterval(() => {
      this.options.lease.renew(this.project, this.epoch).then(
        (held) => held || this.lose('lease expired or taken over'),
        (error: Error) => this.lose(`lease renewal failed: ${error.message}`),
      );
    }, every);
    this.renewTimer.unref();
  }

  async append(commit: ReplicatedCommit, deliveries: Delivery[], reset?: { user: string; announce: boolean }): Promise<void> {
    if (this.lost) throw this.lost;
    if (!commit.meta) {
      this.held.push(...updatesOf(commit));
      return;
    }
    const whole = this.held.length ? { ...commit, update: [...this.held, ...updatesOf(commit)] } : commit;
    this.held = [];
    const committed = committedOf(whole);
    const entryDeliveries = toEntryDeliveries(deliveries, reset);
    if (entryDeliveries.length && entryDeliveries.reduce((n, d) => n + d.count, 0) === committed.revisions.length) committed.deliveries = entryDeliveries;
    let result;
    try {
      result = await this.options.stream.append(this.project, this.epoch, this.lastSeq + 1, encodeEntry(committed));
    } catch (error) {
      throw this.lose(`append failed: ${(error as Error).message}`);
    }
    if (result === 'fenced') throw this.lose('fenced: another node holds the lease');
    // Our count of the stream is wrong: someone else appended under our epoch. Never write past it.
    if (result === 'duplicate') throw this.lose(`seq ${this.lastSeq + 1} is taken already`);
    this.lastSeq++;
    const every = this.options.shipEvery ?? 0;
    if (every > 0 && ++this.sinceShipped >= every && !this.shipping) {
      this.sinceShipped = 0;
      this.shipping = this.ship(this.lastSeq).finally(() => (this.shipping = null));
    }
  }

  /**
   * The state at entry `seq`, from Redis itself (the last snapshot and the entries after it),
   * merged in the merge worker and shipped with its counters, phantom ids and version contents;
   * the stream is trimmed below it. A node following or taking over builds from there.
   */
  private async ship(seq: number): Promise<void> {
    try {
      const state = await readStreamState(this.options.stream, this.project, seq);
      if (!state || state.seq !== seq || this.lost) return;
      const bytes = await mergeUpdates(updatesOf(state.commit));
      const { meta, phantoms, versionContents, serverVersions } = state.commit;
      const extra = encodeSnapshotExtra({ meta, phantoms: [...(phantoms ?? [])], versionContents: [...(versionContents ?? [])], ...(serverVersions ? { serverVersions: [...serverVersions] } : {}) });
      const result = await this.options.stream.shipSnapshot(this.project, this.epoch, seq, bytes, extra);
      if (result === 'fenced') this.lose('fenced while shipping a snapshot');
    } catch (error) {
      this.options.onError?.(new Error(`project ${JSON.stringify(this.project)}: shipping a snapshot failed: ${(error as Error).message}`));
    }
  }

  /** Resolves once a snapshot being shipped is done (tests, shutdown). */
  async shipped(): Promise<void> {
    await this.shipping;
  }

  /** A server-side version goes to Redis (fenced) before the room stores it here. */
  readonly version = async (version: VersionMeta, state: Uint8Array[], removed: VersionMeta[]): Promise<void> => {
    if (this.lost) throw this.lost;
    if (!this.options.versions) return;
    let written;
    try {
      written = await this.options.versions.write(this.project, this.epoch, [{ meta: version, state }], removed);
    } catch (error) {
      throw this.lose(`writing version ${version.n} failed: ${(error as Error).message}`);
    }
    if (!written) throw this.lose('fenced: another node holds the lease');
  };

  /** A stream that holds nothing yet (Redis was empty) starts with the project as this node has it. */
  async loaded(whole: () => ReplicatedCommit): Promise<void> {
    if (this.lastSeq === 0 && this.held.length === 0) await this.append(whole(), []);
  }

  /** Stop renewing and give the lease up (another node need not wait for it to expire). */
  async release(): Promise<void> {
    this.stop();
    if (this.lost) return;
    this.lost = new OwnershipLost(this.project, 'released');
    await this.options.lease.release(this.project, this.epoch).catch(() => false);
  }

  stop(): void {
    if (this.renewTimer) clearInterval(this.renewTimer);
    this.renewTimer = null;
  }

  private lose(why: string): OwnershipLost {
    if (this.lost) return this.lost;
    this.stop();
    this.lost = new OwnershipLost(this.project, why);
    this.options.onLost(this.lost);
    return this.lost;
  }
}

/** A room's deliveries as a stream entry carries them (see entry.ts, field d). */
export function toEntryDeliveries(deliveries: Delivery[], reset?: { user: string; announce: boolean }): EntryDelivery[] {
  const out: EntryDelivery[] = deliveries.map((d) => ({
    count: d.revisions.length,
    ...(d.noEcho !== undefined ? { noEcho: d.noEcho } : {}),
    ...(d.finals ? { finals: { connection: d.finals.connection, changes: d.finals.changes as Record<string, unknown> } } : {}),
    ...(d.classic ? { classic: d.classic } : {}),
  }));
  if (reset) out.push({ count: 0, reset });
  return out;
}
