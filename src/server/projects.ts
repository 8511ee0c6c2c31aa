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

/** A project being opened: resolves when it is loaded, and when it can serve datasets (see ProjectRoom.start). */
interface Opening {
  loaded: Promise<ProjectRoom>;
  readable: Promise<ProjectRoom>;
}

export class ProjectRegistry {
  private readonly rooms = new Map<ProjectId, Opening>();
  private readonly closing = new Map<ProjectId, Promise<void>>();
  private readonly timer: NodeJS.Timeout;

  /** Rooms done loading. */
  private readonly ready = new Set<ProjectRoom>();

  constructor(
    private readonly config: Config,
    private readonly storage: Storage,
    readonly catalog: ProjectCatalog,
    private readonly log: Log,
    private readonly observer?: RoomObserver,
  ) {
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
  async open(id: ProjectId, create?: () => Omit<ProjectEntry, 'createdAt'>, when: keyof Opening = 'loaded'): Promise<ProjectRoom | undefined> {
    let opening = this.rooms.get(id);
    if (opening) return opening[when];
    let project = this.catalog.get(id);
    if (!project && create) project = await this.catalog.add(create()).catch(() => this.catalog.get(id));
    if (!project) return undefined;
    // Another open may have started while the entry was being added.
    opening = this.rooms.get(id) ?? this.start(project);
    return opening[when];
  }

  private start(entry: ProjectEntry): Opening {
    const id = entry.id;
    const previous = this.closing.get(id);
    const started = (async () => {
      if (previous) await previous;
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

  private unload(id: ProjectId, room: ProjectRoom): Promise<void> {
    this.rooms.delete(id);
    this.ready.delete(room);
    const done = room
      .close()
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
  }
}
