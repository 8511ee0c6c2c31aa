/**
 * The project list, kept in LevelDB: projects are data, created, renamed and deleted at runtime.
 * The configured `projects` seed it: each configured project is taken in once (a fresh data
 * directory, or one from before the list was stored); one deleted later stays deleted.
 *
 *   c:p:<project>   JSON  the project's entry (id, name, id type, created)
 *   c:cfg:<project> JSON  a configured project taken in (so a deleted one is not taken in again)
 *
 * Entries are held in memory too (a Map by storage key): looking one up is on every open.
 */
import { z } from 'zod';
import type { Config } from '../config/schema.js';
import { projectKey } from '../persistence/keys.js';
import type { Storage } from '../persistence/storage.js';
import { ProjectIdSchema, type ProjectId } from '../protocol/schemas.js';

export const ProjectNameSchema = z.string().trim().min(1, 'a project name must not be empty').max(200, 'a project name has at most 200 characters');

export const ProjectEntrySchema = z.object({
  id: ProjectIdSchema,
  name: ProjectNameSchema,
  /** Type of ids the server gives new records (see ProjectConfigSchema). */
  ids: z.enum(['number', 'prefixed']).default('number'),
  /** A seed file (configured projects, from the configuration); imported projects keep their data in the project's keys. */
  seed: z.string().optional(),
  createdAt: z.string(),
});
export type ProjectEntry = z.infer<typeof ProjectEntrySchema>;

/** What the rest of the server reads of the list. */
export interface ProjectList {
  get(id: ProjectId): ProjectEntry | undefined;
  /** Configured projects in configuration order, then the others in the order they were created. */
  list(): ProjectEntry[];
}

export class CatalogError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

const ENTRY = 'c:p:';
const CONFIGURED = 'c:cfg:';

/** Where changes of the list are shared (several nodes: src/cluster/shared-catalog.ts). */
export interface CatalogReplica {
  added(entry: ProjectEntry, seed?: unknown): Promise<void>;
  renamed(entry: ProjectEntry): Promise<void>;
  removed(id: ProjectId): Promise<void>;
}

export class ProjectCatalog implements ProjectList {
  private readonly entries = new Map<string, ProjectEntry>();
  /** Set in cluster mode: every change of the list is shared with the other nodes. */
  replica: CatalogReplica | null = null;

  private constructor(private readonly storage: Storage) {}

  /** The stored list, with configured projects not taken in before added to it. */
  static async open(storage: Storage, projects: Config['projects']): Promise<ProjectCatalog> {
    const catalog = new ProjectCatalog(storage);
    const taken = new Set<string>();
    const byKey = new Map<string, ProjectEntry>();
    for (const [key, value] of await storage.jsonRange<unknown>('c:', 'c;')) {
      if (key.startsWith(CONFIGURED)) taken.add(key.slice(CONFIGURED.length));
      else if (key.startsWith(ENTRY)) {
        const parsed = ProjectEntrySchema.safeParse(value);
        if (parsed.success) byKey.set(key.slice(ENTRY.length), parsed.data);
      }
    }
    const now = new Date().toISOString();
    const puts: { key: string; value: unknown }[] = [];
    for (const project of projects) {
      const key = projectKey(project.id);
      if (taken.has(key)) continue;
      puts.push({ key: CONFIGURED + key, value: true });
      if (byKey.has(key)) continue;
      const entry: ProjectEntry = { id: project.id, name: project.name, ids: project.ids, createdAt: now };
      byKey.set(key, entry);
      puts.push({ key: ENTRY + key, value: entry });
    }
    if (puts.length) await storage.write(puts);
    // A configured project takes its seed file and id type from the configuration (paths may move).
    for (const project of projects) {
      const key = projectKey(project.id);
      const entry = byKey.get(key);
      if (!entry) continue;
      catalog.entries.set(key, { ...entry, ids: project.ids, ...(project.seed ? { seed: project.seed } : {}) });
      byKey.delete(key);
    }
    for (const entry of [...byKey.values()].sort((a, b) => a.createdAt.localeCompare(b.createdAt))) catalog.entries.set(projectKey(entry.id), entry);
    return catalog;
  }

  get(id: ProjectId): ProjectEntry | undefined {
    return this.entries.get(projectKey(id));
  }

  list(): ProjectEntry[] {
    return [...this.entries.values()];
  }

  /** Add a project; with `seed`, its first state (kept: resets go back to it). Stale keys under its id go. */
  async add(entry: Omit<ProjectEntry, 'createdAt'>, seed?: unknown): Promise<ProjectEntry> {
    const created = await this.adopt({ ...entry, createdAt: new Date().toISOString() }, seed);
    try {
      await this.replica?.added(created, seed);
    } catch (e) {
      // Another node has a project of that id (or Redis is away): not added here either.
      await this.remove(created.id, false);
      await this.purgeKeys(created.id);
      throw e;
    }
    return created;
  }

  /** Add a project another node added (cluster mode): the same as `add`, without sharing it again. */
  async adopt(created: ProjectEntry, seed?: unknown): Promise<ProjectEntry> {
    const key = projectKey(created.id);
    const entry = created;
    if (this.entries.has(key)) throw new CatalogError(`project ${JSON.stringify(entry.id)} already exists`, 409);
    // Claimed in memory first: two creations of one id cannot both pass the check above.
    this.entries.set(key, created);
    try {
      // Left-overs of a deletion cut short, or of a project stored before the list was.
      await this.purgeKeys(entry.id);
      const puts: { key: string; value: unknown }[] = [{ key: ENTRY + key, value: created }];
      if (seed !== undefined) puts.push({ key: this.storage.project(entry.id).keys.seed(), value: seed });
      await this.storage.write(puts);
    } catch (e) {
      this.entries.delete(key);
      throw e;
    }
    return created;
  }

  async rename(id: ProjectId, name: string): Promise<ProjectEntry> {
    const entry = this.require(id);
    const renamed = { ...entry, name };
    const { seed: _configured, ...stored } = renamed;
    await this.storage.write([{ key: ENTRY + projectKey(id), value: stored }]);
    this.entries.set(projectKey(id), renamed);
    await this.replica?.renamed(renamed);
    return renamed;
  }

  /** Take the project off the list (its keys are removed by `purge`). */
  async remove(id: ProjectId, share = true): Promise<ProjectEntry> {
    const entry = this.require(id);
    await this.storage.write([], [ENTRY + projectKey(id)]);
    this.entries.delete(projectKey(id));
    if (share) await this.replica?.removed(id);
    return entry;
  }

  /** Remove every key of a project no longer on the list, in batches. Resolves with how many. */
  async purge(id: ProjectId): Promise<number> {
    if (this.entries.has(projectKey(id))) throw new CatalogError(`project ${JSON.stringify(id)} is still on the list`, 409);
    return this.purgeKeys(id);
  }

  private purgeKeys(id: ProjectId): Promise<number> {
    return this.storage.project(id).removeAll();
  }

  /** The data an imported project was created from, if any. */
  seedOf(id: ProjectId): Promise<unknown> {
    const project = this.storage.project(id);
    return project.getJson(project.keys.seed());
  }

  private require(id: ProjectId): ProjectEntry {
    const entry = this.get(id);
    if (!entry) throw new CatalogError(`unknown project ${JSON.stringify(id)}`, 404);
    return entry;
  }
}
