/**
 * The loaded projects. A project is loaded on first use and unloaded (after folding its log into
 * a snapshot) when nobody has been subscribed to it for a while. Which projects exist is the
 * catalog's (src/projects/catalog.ts).
 */
import type { Log } from './log.js';
import type { Config } from '../config/schema.js';
import { parseSeed, parseSeedPaced, readSeedFile, type SeedData } from '../document/seed.js';
import type { ProjectId } from '../protocol/schemas.js';
import type { Storage } from '../persistence/storage.js';
import type { ProjectCatalog, ProjectEntry } from '../projects/catalog.js';
import { ProjectRoom, type RoomObserver } from './room.js';
import { FollowerRoom } from '../cluster/follower-room.js';
import type { ClusterNode } from '../cluster/cluster-node.js';
import { ProjectOwnership, type OwnershipLost } from '../cluster/ownership.js';
import { alignWithStream } from '../cluster/take-over.js';
import { alignVersions } from '../cluster/shared-versions.js';
import { serveForwarded } from '../cluster/forwarding.js';

/**
 * A loaded project: sequenced here (one node, or this node owns it in a cluster), or followed
 * from its stream while another node sequences it (cluster mode).
 */
export type Room = ProjectRoom | FollowerRoom;

/** A project being opened: resolves when it is loaded, and when it can serve datasets (see ProjectRoom.start). */
interface Opening {
  loaded: Promise<Room>;
  readable: Promise<Room>;
}

export class ProjectRegistry {
  private readonly rooms = new Map<ProjectId, Opening>();
  private readonly closing = new Map<ProjectId, Promise<void>>();
  private readonly timer: NodeJS.Timeout;

  /** Rooms done loading. */
  private readonly ready = new Set<Room>();
  /** Cluster mode: when another node last forwarded a change of its clients here. */
  lastForwardedAt = 0;
  /** Changes and updates other nodes forwarded here (metrics). */
  forwardedCount = 0;
  /** Cluster mode: the projects this node sequences, with their leases. */
  private readonly owned = new Map<ProjectId, { room: ProjectRoom; ownership: ProjectOwnership }>();

  constructor(
    private readonly config: Config,
    private readonly storage: Storage,
    readonly catalog: ProjectCatalog,
    private readonly log: Log,
    private readonly observer?: RoomObserver,
    /** Cluster mode: this node's part in it (src/cluster). */
    private readonly cluster?: ClusterNode,
  ) {
    if (cluster) {
      serveForwarded(cluster.rpc, cluster.nodeId, { owned: (id) => this.ownedRoom(id), changed: () => {
          this.lastForwardedAt = Date.now();
          this.forwardedCount++;
        } });
      catalog.replica = cluster.catalog;
    }
    const every = Math.max(1000, Math.min(30_000, (config.storage.unloadAfterSeconds * 1000) / 2));
    this.timer = setInterval(() => void this.unloadIdle(), every);
    this.timer.unref();
  }

  /**
   * The loaded room of a project (loading it if needed); undefined for unknown projects, unless
   * `create` is given: then a project that does not exist is created empty with that entry.
   * `when: 'readable'` resolves as soon as the room can serve datasets, which for a large project
   * with stored dataset texts is before its document is loaded.
   */
  async open(id: ProjectId, create?: () => Omit<ProjectEntry, 'createdAt'>, when: keyof Opening = 'loaded'): Promise<Room | undefined> {
    // Several nodes: the shared list has the last word (a project removed on another node ends here).
    const known = this.cluster ? await this.sharedEntry(id, this.cluster) : null;
    let opening = this.rooms.get(id);
    if (opening) return opening[when];
    let project = this.cluster ? known ?? undefined : this.catalog.get(id);
    if (!project && create) project = await this.catalog.add(create()).catch(() => this.catalog.get(id));
    if (!project) return undefined;
    // Another open may have started while the entry was being added.
    opening = this.rooms.get(id) ?? this.start(project);
    return opening[when];
  }

  private start(entry: ProjectEntry): Opening {
    const id = entry.id;
    const previous = this.closing.get(id);
    const started = (async (): Promise<Room> => {
      if (previous) await previous;
      if (this.cluster) return this.startClustered(entry, this.cluster);
      return ProjectRoom.start({
        project: entry,
        config: this.config,
        storage: this.storage.project(id),
        loadSeed: () => this.seedOf(entry),
        log: this.log,
        observer: this.observer,
      });
    })();
    const t0 = performance.now();
    const loaded = started.then(async (room) => {
      await room.loaded;
      this.log(`project ${JSON.stringify(id)} loaded in ${Math.round(performance.now() - t0)} ms`, { project: id });
      this.ready.add(room);
      this.observer?.loaded?.(id);
      return room;
    });
    const readable = started.then(async (room) => {
      await room.readable;
      return room;
    });
    const opening: Opening = { loaded, readable };
    this.rooms.set(id, opening);
    loaded.catch(() => this.rooms.get(id) === opening && this.rooms.delete(id));
    readable.catch(() => undefined);
    return opening;
  }

  /**
   * Cluster mode: the node holding the project's lease sequences it; others follow its stream. A
   * node taking the lease brings its copy in line with the stream first (take-over.ts).
   */
  private async startClustered(entry: ProjectEntry, cluster: ClusterNode): Promise<Room> {
    const id = entry.id;
    let claim = await cluster.lease.acquire(id);
    // A holder whose node no longer listens died (kill -9, crash): take the project over now
    // rather than when its lease expires. A paused node still listens, and keeps its lease.
    if (!claim.owned && !(await cluster.rpc.listening(claim.owner))) {
      const epoch = await cluster.lease.takeOver(id, { node: claim.owner, epoch: claim.epoch });
      if (epoch !== null) {
        this.log(`project ${JSON.stringify(id)}: taken over from node ${claim.owner}, which no longer listens`, { level: 'warn', project: id });
        claim = { owned: true, epoch };
      }
    }
    if (!claim.owned) {
      this.log(`project ${JSON.stringify(id)}: following it (sequenced by node ${claim.owner})`, { project: id });
      return FollowerRoom.start({
        project: id,
        config: this.config,
        owner: claim.owner,
        stream: cluster.stream,
        reader: cluster.reader,
        rpc: cluster.rpc,
        presenceLink: cluster.presence,
        log: this.log,
        onEnded: (room) => this.forget(id, room),
      });
    }
    const storage = this.storage.project(id);
    let ownership: ProjectOwnership;
    try {
      const seq = await alignWithStream(storage, cluster.stream, id);
      await alignVersions(storage, cluster.versions, id, claim.epoch);
      ownership = new ProjectOwnership({
        lease: cluster.lease,
        stream: cluster.stream,
        versions: cluster.versions,
        project: id,
        epoch: claim.epoch,
        seq,
        onLost: (error) => this.lost(id, error),
        // As often as the log is folded here: Redis keeps about as much as LevelDB does.
        shipEvery: this.config.storage.compactAfterUpdates,
        onError: (error) => this.log(error.message, { level: 'warn', project: id }),
      });
    } catch (error) {
      await cluster.lease.release(id, claim.epoch).catch(() => false);
      throw error;
    }
    ownership.keepRenewed();
    this.log(`project ${JSON.stringify(id)}: sequenced by this node (epoch ${claim.epoch}, stream at ${ownership.seq})`, { project: id });
    const room = ProjectRoom.start({ project: entry, config: this.config, storage, loadSeed: () => this.seedOf(entry), log: this.log, observer: this.observer, replica: ownership, presenceLink: cluster.presence });
    this.owned.set(id, { room, ownership });
    // A project that cannot be loaded is not held either. Its opening is still in `rooms` when
    // this runs (it is dropped a few microtasks later), so no other room of it can be here yet.
    room.loaded.catch(() => {
      this.owned.delete(id);
      void ownership.release();
    });
    return room;
  }

  /**
   * Cluster mode: this node's entry of a project, brought in line with the shared list first (a
   * project added on another node is taken in; one removed there is removed here).
   */
  private async sharedEntry(id: ProjectId, cluster: ClusterNode): Promise<ProjectEntry | undefined> {
    const local = this.catalog.get(id);
    const shared = await cluster.catalog.lookup(id);
    if (shared && 'deleted' in shared) {
      // Stryker disable next-line ConditionalExpression: removing an entry not on the list throws, and is caught
      if (local) await this.catalog.remove(id, false).catch(() => undefined);
      await this.endHere(id, `Project ${JSON.stringify(id)} was deleted`);
      return undefined;
    }
    if (local || !shared) return local;
    const seed = await cluster.catalog.seedOf(id);
    return this.catalog.adopt(shared.entry, seed).catch(() => this.catalog.get(id));
  }

  /** A project removed on another node: its room here ends (its clients are told), nothing is purged. */
  private async endHere(id: ProjectId, reason: string): Promise<void> {
    const pending = this.rooms.get(id)?.loaded;
    if (!pending) return;
    this.rooms.delete(id);
    const room = await pending.catch(() => null);
    if (!room) return;
    this.ready.delete(room);
    await room.end(reason);
    await this.giveUp(id, room);
    this.observer?.unloaded?.(id);
  }

  /** Cluster mode: a room of a project this node sequenced ended: its lease goes too. */
  private async giveUp(id: ProjectId, room: Room): Promise<void> {
    const owned = this.owned.get(id);
    if (owned?.room !== room) return;
    this.owned.delete(id);
    await owned.ownership.release();
  }

  /** Cluster mode: take in every project added or removed on other nodes (before a listing). */
  async syncCatalog(): Promise<void> {
    if (!this.cluster) return;
    for (const { id, shared } of await this.cluster.catalog.all()) {
      if ('deleted' in shared ? this.catalog.get(id) : !this.catalog.get(id)) await this.sharedEntry(id, this.cluster);
    }
  }

  /** The projects this node sequences now (cluster mode). */
  ownedIds(): ProjectId[] {
    return [...this.owned].flatMap(([id, { ownership }]) => (ownership.isLost ? [] : [id]));
  }

  /** The loaded projects this node follows, with the node sequencing each (cluster mode). */
  followed(): { project: ProjectId; owner: string }[] {
    return [...this.ready].flatMap((room) => (room instanceof FollowerRoom ? [{ project: room.id, owner: room.owner }] : []));
  }

  /** The room of a project this node sequences now (cluster mode), for requests of other nodes. */
  private ownedRoom(id: ProjectId): ProjectRoom | null {
    const owned = this.owned.get(id);
    return owned && !owned.ownership.isLost ? owned.room : null;
  }

  /** The lease is gone: the room's clients reconnect (to whichever node), and the room unloads. */
  private lost(id: ProjectId, error: OwnershipLost): void {
    const owned = this.owned.get(id);
    if (!owned) return;
    this.log(error.message, { level: 'warn', project: id });
    for (const connection of [...owned.room.subscribers]) connection.close(1012, 'project moving to another node: reconnect');
    this.forget(id, owned.room);
  }

  /** Drop a room that ended on its own (cluster mode) and unload it. */
  private forget(id: ProjectId, room: Room): void {
    void this.rooms.get(id)?.loaded.then(
      (current) => void (current === room && this.unload(id, room)),
      () => undefined,
    );
  }

  /** The first state of a project (and what a reset brings back): its seed file, its imported data, or nothing. */
  private async seedOf(entry: ProjectEntry): Promise<SeedData> {
    if (entry.seed) return readSeedFile(entry.seed);
    const imported = await this.catalog.seedOf(entry.id);
    return imported === undefined ? parseSeed({}) : parseSeedPaced(imported, `project ${JSON.stringify(entry.id)}`);
  }

  /**
   * Delete a project: off the list at once (no new opens), its subscribers told `reason` and its
   * peers closed, then every key of it removed. Resolves with the number of keys removed.
   */
  async delete(id: ProjectId, reason: string): Promise<number> {
    await this.catalog.remove(id);
    const pending = this.rooms.get(id)?.loaded;
    if (pending) {
      this.rooms.delete(id);
      const room = await pending.catch(() => null);
      if (room) {
        this.ready.delete(room);
        await room.end(reason);
        await this.giveUp(id, room);
        this.observer?.unloaded?.(id);
      }
    }
    await this.closing.get(id);
    return this.catalog.purge(id);
  }

  loaded(): ProjectId[] {
    return [...this.rooms.keys()];
  }

  /** The most jobs waiting in one loaded project's queue (metrics). */
  longestQueue(): number {
    let most = 0;
    for (const room of this.ready) most = Math.max(most, room.queue.size);
    return most;
  }

  private async unloadIdle(): Promise<void> {
    const limit = this.config.storage.unloadAfterSeconds * 1000;
    for (const [id, { loaded }] of this.rooms) {
      const room = await loaded.catch(() => null);
      if (!room || room.subscribers.size > 0 || room.queue.size > 0 || Date.now() - room.lastActive < limit) continue;
      this.unload(id, room);
    }
  }

  private unload(id: ProjectId, room: Room): Promise<void> {
    this.rooms.delete(id);
    this.ready.delete(room);
    const owned = this.owned.get(id);
    if (owned?.room === room) this.owned.delete(id);
    const done = room
      .close()
      // Given up once its log is folded here: the next node need not wait for the lease to expire.
      .then(() => (owned?.room === room ? owned.ownership.release() : undefined))
      .then(() => {
        this.log(`project ${JSON.stringify(id)} unloaded`, { project: id });
        this.observer?.unloaded?.(id);
      })
      .catch((e) => this.log(`project ${JSON.stringify(id)}: unload failed: ${(e as Error).message}`, { level: 'error', project: id }));
    this.closing.set(id, done);
    void done.then(() => this.closing.get(id) === done && this.closing.delete(id));
    return done;
  }

  /** Flush and unload everything (shutdown). */
  async closeAll(): Promise<void> {
    clearInterval(this.timer);
    const all: Promise<void>[] = [];
    for (const [id, { loaded }] of [...this.rooms]) {
      const room = await loaded.catch(() => null);
      if (room) all.push(this.unload(id, room));
    }
    await Promise.all([...all, ...this.closing.values()]);
    await this.cluster?.close();
  }
}
