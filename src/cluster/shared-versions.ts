/**
 * A project's server-side versions in Redis, so that every node can list, show and diff them and a
 * node taking the project over keeps them without the dead owner's disk.
 *
 * The owner writes a version here (fenced by its lease, like a stream append) before it writes it
 * to its own LevelDB; a node taking the project over makes its LevelDB's versions those of Redis
 * (`alignVersions`). The first owner of a project whose versions are not in Redis yet (a data
 * directory from single-node mode) brings its own there, once (`init`).
 */
import type { Redis } from 'ioredis';
import { VersionMetaSchema, VersionStore, type VersionMeta } from '../history/versions.js';
import type { Storage, ProjectStorage } from '../persistence/storage.js';
import { localVersions, type VersionSource } from '../history/service.js';
import type { ProjectId } from '../protocol/schemas.js';
import { checkEpoch, checkNodeId, leaseValue } from './lease.js';
import { LuaScript, asBuffer, replyText, type RedisArg } from './lua.js';
import { DEFAULT_PREFIX, checkPrefix, projectRedisKeys } from './redis-keys.js';

/** A version with its state, as written in one script. */
export interface VersionWithState {
  meta: VersionMeta;
  state: Uint8Array[];
}

// KEYS: lease, versions, vstates. ARGV: lease value, init-only flag, count, then per version
// n, meta JSON, parts, part..., then the count of removed ones and per removed version n, parts.
// With the init-only flag set, nothing is written when the versions were brought here already.
const WRITE = new LuaScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 'fenced' end
if ARGV[2] == '1' and redis.call('HEXISTS', KEYS[2], 'init') == 1 then return 'exists' end
local at = 4
for _ = 1, tonumber(ARGV[3]) do
  local n, parts = ARGV[at], tonumber(ARGV[at + 2])
  redis.call('HSET', KEYS[2], n, ARGV[at + 1])
  for i = 1, parts do redis.call('HSET', KEYS[3], n .. ':' .. (i - 1), ARGV[at + 2 + i]) end
  at = at + 3 + parts
end
local removed = tonumber(ARGV[at])
at = at + 1
for _ = 1, removed do
  local n, parts = ARGV[at], tonumber(ARGV[at + 1])
  redis.call('HDEL', KEYS[2], n)
  for i = 0, parts - 1 do redis.call('HDEL', KEYS[3], n .. ':' .. i) end
  at = at + 2
end
redis.call('HSET', KEYS[2], 'init', '1')
return 'written'
`);

export class SharedVersions {
  private readonly nodeId: string;
  private readonly prefix: string;

  constructor(
    private readonly redis: Redis,
    options: { nodeId: string; prefix?: string },
  ) {
    this.nodeId = checkNodeId(options.nodeId);
    this.prefix = checkPrefix(options.prefix ?? DEFAULT_PREFIX);
  }

  /** Writes `added` and deletes `removed` while our lease of `epoch` holds. False when fenced. */
  async write(project: ProjectId, epoch: number, added: VersionWithState[], removed: readonly VersionMeta[] = []): Promise<boolean> {
    return (await this.run(project, epoch, false, added, removed)) === 'written';
  }

  /** Brings a project's versions to Redis unless they are there already ('exists'). */
  async init(project: ProjectId, epoch: number, versions: VersionWithState[]): Promise<'written' | 'exists' | 'fenced'> {
    return this.run(project, epoch, true, versions, []);
  }

  /** The versions in Redis, oldest first; null when they were never brought here. */
  async list(project: ProjectId): Promise<VersionMeta[] | null> {
    const all = await this.redis.hgetall(projectRedisKeys(project, this.prefix).versions);
    if (all.init === undefined) return null;
    const versions: VersionMeta[] = [];
    for (const [field, text] of Object.entries(all)) {
      if (field === 'init') continue;
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch {
        continue;
      }
      // Anything may have written here: only well-formed metadata under its own number counts.
      const parsed = VersionMetaSchema.safeParse(value);
      if (parsed.success && String(parsed.data.n) === field) versions.push(parsed.data);
    }
    return versions.sort((a, b) => a.n - b.n);
  }

  /** Whether the project's versions were brought to Redis (one HEXISTS, not a listing). */
  async holds(project: ProjectId): Promise<boolean> {
    return (await this.redis.hexists(projectRedisKeys(project, this.prefix).versions, 'init')) === 1;
  }

  /** A version's state in its parts; undefined when any part is missing. */
  async state(project: ProjectId, meta: VersionMeta): Promise<Uint8Array[] | undefined> {
    const fields = Array.from({ length: meta.parts ?? 1 }, (_, i) => `${meta.n}:${i}`);
    const parts = await this.redis.hmgetBuffer(projectRedisKeys(project, this.prefix).versionStates, ...fields);
    if (parts.some((part) => !Buffer.isBuffer(part))) return undefined;
    return parts.map((part) => new Uint8Array(part!.buffer, part!.byteOffset, part!.byteLength));
  }

  private async run(project: ProjectId, epoch: number, initOnly: boolean, added: VersionWithState[], removed: readonly VersionMeta[]): Promise<'written' | 'exists' | 'fenced'> {
    const keys = projectRedisKeys(project, this.prefix);
    const args: RedisArg[] = [leaseValue(this.nodeId, checkEpoch(epoch)), initOnly ? '1' : '0', added.length];
    for (const { meta, state } of added) args.push(String(meta.n), JSON.stringify({ ...meta, parts: state.length }), state.length, ...state.map(asBuffer));
    args.push(removed.length);
    for (const meta of removed) args.push(String(meta.n), meta.parts ?? 1);
    const result = replyText(await WRITE.run(this.redis, [keys.lease, keys.versions, keys.versionStates], args), 'versions');
    if (result !== 'written' && result !== 'exists' && result !== 'fenced') throw new Error(`unexpected versions reply: ${result}`);
    return result;
  }
}

/**
 * Before a node opens a project as its owner: the versions in Redis become those of its LevelDB
 * (missing ones copied in, others dropped); when Redis has none yet, this node's own go there.
 */
export async function alignVersions(storage: ProjectStorage, shared: SharedVersions, project: ProjectId, epoch: number): Promise<void> {
  const local = new VersionStore(storage);
  const mine = await local.list();
  let theirs = await shared.list(project);
  if (theirs === null) {
    const versions: VersionWithState[] = [];
    for (const meta of mine) {
      const state = await local.state(meta);
      if (state) versions.push({ meta, state });
    }
    const result = await shared.init(project, epoch, versions);
    if (result === 'fenced') throw new Error(`project ${JSON.stringify(project)}: lease lost while bringing its versions to Redis`);
    if (result === 'written') return;
    theirs = await shared.list(project);
    if (theirs === null) throw new Error(`project ${JSON.stringify(project)}: its versions in Redis vanished while being read`);
  }
  const same = (a: VersionMeta, b: VersionMeta) => a.n === b.n && a.time === b.time && a.bytes === b.bytes;
  const add: VersionWithState[] = [];
  for (const meta of theirs) {
    if (mine.some((m) => same(m, meta))) continue;
    const state = await shared.state(project, meta);
    if (state) add.push({ meta, state });
  }
  const remove = mine.filter((m) => !theirs.some((t) => same(t, m)));
  if (add.length || remove.length) await local.replace(add, remove);
}

/**
 * Versions as `weft versions` and the admin API read them on any node: from Redis, or from this
 * node's LevelDB for a project whose versions no owner brought to Redis yet.
 */
export function sharedVersionSource(shared: SharedVersions, storage: Storage): VersionSource {
  const local = localVersions(storage);
  return {
    list: async (id) => (await shared.list(id)) ?? local.list(id),
    state: async (id, version) => ((await shared.holds(id)) ? shared.state(id, version) : local.state(id, version)),
  };
}
