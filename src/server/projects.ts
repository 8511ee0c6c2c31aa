/**
 * The loaded projects. A project is loaded on first use and unloaded (after folding its log into
 * a snapshot) when nobody has been subscribed to it for a while.
 */
import type { Log } from './log.js';
import type { Config, ProjectConfig } from '../config/schema.js';
import { parseSeed, readSeedFile, type SeedData } from '../document/seed.js';
import type { ProjectId } from '../protocol/schemas.js';
import type { Storage } from '../persistence/storage.js';
import { ProjectRoom, type RoomObserver } from './room.js';

export class ProjectRegistry {
  private readonly rooms = new Map<ProjectId, Promise<ProjectRoom>>();
  private readonly closing = new Map<ProjectId, Promise<void>>();
  private readonly timer: NodeJS.Timeout;

  /** Rooms done loading. */
  private readonly ready = new Set<ProjectRoom>();

  constructor(
    private readonly config: Config,
    private readonly storage: Storage,
    private readonly log: Log,
    private readonly observer?: RoomObserver,
  ) {
    const every = Math.max(1000, Math.min(30_000, (config.storage.unloadAfterSeconds * 1000) / 2));
    this.timer = setInterval(() => void this.unloadIdle(), every);
    this.timer.unref();
  }

  projectConfig(id: ProjectId): ProjectConfig | undefined {
    return this.config.projects.find((p) => p.id === id);
  }

  /** The loaded room of a configured project (loading it if needed); undefined for unknown projects. */
  async open(id: ProjectId): Promise<ProjectRoom | undefined> {
    const project = this.projectConfig(id);
    if (!project) return undefined;
    let room = this.rooms.get(id);
    if (!room) {
      const previous = this.closing.get(id);
      room = (async () => {
        if (previous) await previous;
        const started = performance.now();
        const opened = await ProjectRoom.open({
          project,
          config: this.config,
          storage: this.storage.project(id),
          loadSeed: () => loadSeed(project),
          log: this.log,
          observer: this.observer,
        });
        this.log(`project ${JSON.stringify(id)} loaded in ${Math.round(performance.now() - started)} ms`, { project: id });
        this.ready.add(opened);
        return opened;
      })();
      this.rooms.set(id, room);
      room.catch(() => this.rooms.delete(id));
    }
    return room;
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
    for (const [id, pending] of this.rooms) {
      const room = await pending.catch(() => null);
      if (!room || room.subscribers.size > 0 || room.queue.size > 0 || Date.now() - room.lastActive < limit) continue;
      this.unload(id, room);
    }
  }

  private unload(id: ProjectId, room: ProjectRoom): Promise<void> {
    this.rooms.delete(id);
    this.ready.delete(room);
    const done = room.close().then(() => this.log(`project ${JSON.stringify(id)} unloaded`, { project: id })).catch((e) => this.log(`project ${JSON.stringify(id)}: unload failed: ${(e as Error).message}`, { level: 'error', project: id }));
    this.closing.set(id, done);
    void done.then(() => this.closing.get(id) === done && this.closing.delete(id));
    return done;
  }

  /** Flush and unload everything (shutdown). */
  async closeAll(): Promise<void> {
    clearInterval(this.timer);
    const all: Promise<void>[] = [];
    for (const [id, pending] of [...this.rooms]) {
      const room = await pending.catch(() => null);
      if (room) all.push(this.unload(id, room));
    }
    await Promise.all([...all, ...this.closing.values()]);
  }
}

async function loadSeed(project: ProjectConfig): Promise<SeedData> {
  return project.seed ? readSeedFile(project.seed) : parseSeed({});
}
