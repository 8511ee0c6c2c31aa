/**
 * The project list shared by the nodes of a cluster: every project added, renamed or removed at
 * runtime on one node is recorded in Redis, and the other nodes take it into their own list when
 * they meet it (ProjectRegistry.open, and every listing).
 *
 *   <prefix>:projects            hash   JSON id -> the project's entry, or {"deleted":true}
 *   <prefix>:{p:<id>}:seed       string an imported project's data (what a reset brings back)
 *
 * Adding or removing a project drops its stream and snapshot: a project of the same id created
 * later starts from nothing.
 *
 * Projects of the configuration are every node's own and are not recorded, unless removed (a
 * removal is kept, so no node brings the project back).
 */
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { CatalogError, ProjectEntrySchema, type CatalogReplica, type ProjectEntry } from '../projects/catalog.js';
import { ProjectIdSchema, type ProjectId } from '../protocol/schemas.js';
import { LuaScript } from './lua.js';
import { checkPrefix, projectRedisKeys, projectTag } from './redis-keys.js';

const DELETED = '{"deleted":true}';

// KEYS: the hash. ARGV: field, entry. A project another node holds under that id is not replaced.
const ADD = new LuaScript(`
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current and current ~= '${DELETED}' then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
`);

export type SharedEntry = { entry: ProjectEntry } | { deleted: true };

const storedSchema = z.union([z.strictObject({ deleted: z.literal(true) }), ProjectEntrySchema]);

export class SharedCatalog implements CatalogReplica {
  private readonly hash: string;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {
    this.hash = `${checkPrefix(prefix)}:projects`;
  }

  private seedKey(id: ProjectId): string {
    return `${this.prefix}:${projectTag(id)}:seed`;
  }

  async added(entry: ProjectEntry, seed?: unknown): Promise<void> {
    const { seed: _file, ...shared } = entry;
    if ((await ADD.run(this.redis, [this.hash], [JSON.stringify(entry.id), JSON.stringify(shared)])) !== 1) {
      throw new CatalogError(`project ${JSON.stringify(entry.id)} already exists (on another node)`, 409);
    }
    // No live project held this id: a stream left by an earlier one of that id must not come back.
    await this.dropState(entry.id);
    if (seed !== undefined) await this.redis.set(this.seedKey(entry.id), JSON.stringify(seed));
  }

  private async dropState(id: ProjectId): Promise<void> {
    const keys = projectRedisKeys(id, this.prefix);
    await this.redis.del(keys.stream, keys.snap, keys.snapSeq, keys.snapExtra, keys.versions, keys.versionStates);
  }

  async renamed(entry: ProjectEntry): Promise<void> {
    const { seed: _file, ...shared } = entry;
    await this.redis.hset(this.hash, JSON.stringify(entry.id), JSON.stringify(shared));
  }

  async removed(id: ProjectId): Promise<void> {
    await this.redis.hset(this.hash, JSON.stringify(id), DELETED);
    await this.redis.del(this.seedKey(id));
    await this.dropState(id);
  }

  /** What the cluster knows of a project: its entry, that it was removed, or nothing. */
  async lookup(id: ProjectId): Promise<SharedEntry | null> {
    return parseStored(await this.redis.hget(this.hash, JSON.stringify(id)));
  }

  /** Every project recorded, by id (malformed fields and values left out). */
  async all(): Promise<{ id: ProjectId; shared: SharedEntry }[]> {
    const out: { id: ProjectId; shared: SharedEntry }[] = [];
    for (const [field, value] of Object.entries(await this.redis.hgetall(this.hash))) {
      const id = parseId(field);
      const shared = parseStored(value);
      if (id !== null && shared) out.push({ id, shared });
    }
    return out;
  }

  /** An imported project's data, read back as stored. */
  async seedOf(id: ProjectId): Promise<unknown> {
    const text = await this.redis.get(this.seedKey(id));
    return text === null ? undefined : (JSON.parse(text) as unknown);
  }
}

function parseStored(value: string | null): SharedEntry | null {
  if (value === null) return null;
  let parsed;
  try {
    parsed = storedSchema.safeParse(JSON.parse(value));
  } catch {
    return null;
  }
  if (!parsed.success) return null;
  return 'deleted' in parsed.data ? { deleted: true } : { entry: parsed.data };
}

function parseId(field: string): ProjectId | null {
  try {
    const parsed = ProjectIdSchema.safeParse(JSON.parse(field));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}
