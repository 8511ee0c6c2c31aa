/**
 * One owner per project: a lease in Redis with a fencing epoch.
 *
 * The lease value is `<nodeId>:<epoch>`. A new lease INCRs the project's epoch key, which never
 * expires, so epochs only grow, across expiry and takeover. Writes of the owner (project-stream.ts)
 * compare the lease value with `<nodeId>:<epoch>` inside the same script as the write, so a node
 * whose lease ran out (paused, partitioned) cannot write even if it still believes it owns the
 * project. Each operation is one script: atomic, one command per call.
 */
import type { Redis } from 'ioredis';
import type { ProjectId } from '../protocol/schemas.js';
import { LuaScript, replyInteger, replyText } from './lua.js';
import { DEFAULT_PREFIX, checkPrefix, projectRedisKeys } from './redis-keys.js';

export interface LeaseOptions {
  /** This node's id, unique among the nodes sharing the Redis. */
  nodeId: string;
  /** Lease time to live; the owner renews well within it. */
  leaseMs: number;
  prefix?: string;
}

export type AcquireResult = { owned: true; epoch: number } | { owned: false; owner: string; epoch: number };

export interface LeaseHolder {
  node: string;
  epoch: number;
}

// KEYS: lease, epoch. ARGV: nodeId, leaseMs. Returns {1, epoch} when ours (new or renewed),
// {0, leaseValue} when another node holds it.
const ACQUIRE = new LuaScript(`
local current = redis.call('GET', KEYS[1])
if current then
  local sep = string.find(current, ':[^:]*$')
  if sep and string.sub(current, 1, sep - 1) == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return {1, string.sub(current, sep + 1)}
  end
  return {0, current}
end
local epoch = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. epoch, 'PX', ARGV[2])
return {1, tostring(epoch)}
`);

// KEYS: lease. ARGV: expected value, leaseMs.
const RENEW = new LuaScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
`);

// KEYS: lease, epoch. ARGV: the holder's lease value as seen, nodeId, leaseMs. A new lease of ours
// in place of exactly that one; {0, current} when the lease changed meanwhile (or is gone).
const TAKE_OVER = new LuaScript(`
local current = redis.call('GET', KEYS[1])
if current ~= ARGV[1] then return {0, current or ''} end
local epoch = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[2] .. ':' .. epoch, 'PX', ARGV[3])
return {1, tostring(epoch)}
`);

// KEYS: lease. ARGV: expected value.
const RELEASE = new LuaScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`);

/** `<nodeId>:<epoch>` as stored; the epoch after the LAST colon, so node ids may hold colons. */
export function leaseValue(nodeId: string, epoch: number): string {
  return `${nodeId}:${epoch}`;
}

/** Parses a lease value read back from Redis; anything malformed is an error, not an owner. */
export function parseLeaseValue(value: string): LeaseHolder {
  const sep = value.lastIndexOf(':');
  const node = value.slice(0, sep);
  const epochText = value.slice(sep + 1);
  if (sep <= 0 || !/^[1-9]\d{0,15}$/.test(epochText) || !Number.isSafeInteger(Number(epochText))) {
    throw new Error(`malformed lease value: ${JSON.stringify(value)}`);
  }
  return { node, epoch: Number(epochText) };
}

export function checkNodeId(nodeId: string): string {
  if (typeof nodeId !== 'string' || nodeId.length === 0 || nodeId.length > 256) throw new Error('node id must be a non-empty string (at most 256 characters)');
  return nodeId;
}

export function checkEpoch(epoch: number): number {
  if (!Number.isSafeInteger(epoch) || epoch < 1) throw new Error(`not an epoch: ${epoch}`);
  return epoch;
}

export class ProjectLease {
  readonly nodeId: string;
  readonly leaseMs: number;
  readonly prefix: string;

  constructor(
    private readonly redis: Redis,
    options: LeaseOptions,
  ) {
    this.nodeId = checkNodeId(options.nodeId);
    if (!Number.isSafeInteger(options.leaseMs) || options.leaseMs < 1) throw new Error(`leaseMs must be a positive integer: ${options.leaseMs}`);
    this.leaseMs = options.leaseMs;
    this.prefix = checkPrefix(options.prefix ?? DEFAULT_PREFIX);
  }

  /** Takes the lease when free, renews it when already ours; else says who holds it. */
  async acquire(project: ProjectId): Promise<AcquireResult> {
    const keys = projectRedisKeys(project, this.prefix);
    const reply = await ACQUIRE.run(this.redis, [keys.lease, keys.epoch], [this.nodeId, this.leaseMs]);
    if (!Array.isArray(reply) || reply.length !== 2) throw new Error('unexpected reply to lease acquire');
    if (reply[0] === 1) return { owned: true, epoch: checkEpoch(replyInteger(reply[1], 'lease epoch')) };
    const holder = parseLeaseValue(replyText(reply[1], 'lease value'));
    return { owned: false, owner: holder.node, epoch: holder.epoch };
  }

  /** Extends our lease; false once it expired or another node holds it (then stop writing). */
  async renew(project: ProjectId, epoch: number): Promise<boolean> {
    const keys = projectRedisKeys(project, this.prefix);
    const reply = await RENEW.run(this.redis, [keys.lease], [leaseValue(this.nodeId, checkEpoch(epoch)), this.leaseMs]);
    return reply === 1;
  }

  /**
   * Takes the lease from `holder` before it expires: for a holder known to be gone (its node no
   * longer listens). The new epoch fences whatever that node might still try to write. Fails (null)
   * when the lease is no longer exactly the one seen.
   */
  async takeOver(project: ProjectId, holder: LeaseHolder): Promise<number | null> {
    const keys = projectRedisKeys(project, this.prefix);
    const reply = await TAKE_OVER.run(this.redis, [keys.lease, keys.epoch], [leaseValue(checkNodeId(holder.node), checkEpoch(holder.epoch)), this.nodeId, this.leaseMs]);
    if (!Array.isArray(reply) || reply.length !== 2) throw new Error('unexpected reply to lease take-over');
    return reply[0] === 1 ? checkEpoch(replyInteger(reply[1], 'lease epoch')) : null;
  }

  /** Gives up our lease (only ours, only that epoch), so another node need not wait for expiry. */
  async release(project: ProjectId, epoch: number): Promise<boolean> {
    const keys = projectRedisKeys(project, this.prefix);
    const reply = await RELEASE.run(this.redis, [keys.lease], [leaseValue(this.nodeId, checkEpoch(epoch))]);
    return reply === 1;
  }

  /** Who holds the project now, or null when nobody does. */
  async owner(project: ProjectId): Promise<LeaseHolder | null> {
    const value: unknown = await this.redis.get(projectRedisKeys(project, this.prefix).lease);
    return value === null ? null : parseLeaseValue(replyText(value, 'lease value'));
  }
}
