/**
 * A Redis Stream per project: the replicated change log. Entry ids are `<seq>-0`, seq being the
 * project's own change sequence, so a reader resumes from the last seq it has and ids need no
 * translation. Writes are fenced: the same script that writes first checks that the lease value is
 * still `<nodeId>:<epoch>` of the writer, so a node that lost its lease cannot append or trim.
 *
 * Folding: the owner ships a snapshot of the state up to seq S and the stream is trimmed below
 * S+1; a node taking the project over loads the snapshot, then reads the stream after S.
 */
import type { Redis } from 'ioredis';
import type { ProjectId } from '../protocol/schemas.js';
import { checkEpoch, checkNodeId, leaseValue } from './lease.js';
import { LuaScript, asBuffer, replyInteger, replyText, type RedisArg } from './lua.js';
import { DEFAULT_PREFIX, checkPrefix, projectRedisKeys } from './redis-keys.js';

/** Field values: Buffers for binary data (Yjs updates), strings for texts (JSON). */
export type EntryFieldsInput = Readonly<Record<string, Buffer | string>>;

export interface StreamEntry {
  seq: number;
  /** Read back as bytes: a field's type is not stored, the reader decodes what it expects. */
  fields: Map<string, Buffer>;
}

export type AppendResult = 'appended' | 'fenced' | 'duplicate';
export type ShipResult = 'shipped' | 'fenced' | 'stale';

export interface ProjectStreamOptions {
  nodeId: string;
  prefix?: string;
}

// KEYS: lease, stream, snapseq. ARGV: lease value, seq, field, value, ...
// 'duplicate' when that seq is in the stream or was folded into the snapshot; a seq that is
// neither there nor after the stream's last id is a sequencing error of the caller.
const APPEND = new LuaScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 'fenced' end
local id = ARGV[2] .. '-0'
local added = redis.pcall('XADD', KEYS[2], id, unpack(ARGV, 3))
if type(added) ~= 'table' or not added.err then return 'appended' end
-- Only the ordering error means "seq used already"; any other (OOM, wrong type) goes back as is.
if not string.find(added.err, 'equal or smaller', 1, true) then return added end
if #redis.call('XRANGE', KEYS[2], id, id) > 0 then return 'duplicate' end
local folded = tonumber(redis.call('GET', KEYS[3]) or '0')
if tonumber(ARGV[2]) <= folded then return 'duplicate' end
return redis.error_reply('ERR seq ' .. ARGV[2] .. ' is not after the last entry of the stream')
`);

// KEYS: lease, snap, snapseq, stream, snapx. ARGV: lease value, seq, bytes[, extra].
// A snapshot past the last appended entry would be state the log never had: refused.
const SHIP = new LuaScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 'fenced' end
local current = tonumber(redis.call('GET', KEYS[3]) or '-1')
if current >= tonumber(ARGV[2]) then return 'stale' end
local top = redis.call('XREVRANGE', KEYS[4], '+', '-', 'COUNT', 1)
local last = top[1] and tonumber(string.match(top[1][1], '^(%d+)-')) or current
if tonumber(ARGV[2]) > last then
  return redis.error_reply('ERR snapshot seq ' .. ARGV[2] .. ' is past the last appended entry')
end
redis.call('SET', KEYS[2], ARGV[3])
redis.call('SET', KEYS[3], ARGV[2])
if ARGV[4] then redis.call('SET', KEYS[5], ARGV[4]) else redis.call('DEL', KEYS[5]) end
redis.call('XTRIM', KEYS[4], 'MINID', (tonumber(ARGV[2]) + 1) .. '-0')
return 'shipped'
`);

// KEYS: snapseq, snap, snapx. All in one reply, so they are of the same shipment.
const SNAPSHOT = new LuaScript(`
return {redis.call('GET', KEYS[1]), redis.call('GET', KEYS[2]), redis.call('GET', KEYS[3])}
`);

// KEYS: stream, snapseq. The last seq: the stream's last entry, or the snapshot's seq when the
// trim left the stream empty.
const LAST = new LuaScript(`
local top = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local id = top[1] and top[1][1] or false
return {id, redis.call('GET', KEYS[2])}
`);

const MAX_SEQ = Number.MAX_SAFE_INTEGER;

export function checkSeq(seq: number, min = 1): number {
  if (!Number.isSafeInteger(seq) || seq < min || seq > MAX_SEQ) throw new Error(`not a sequence number: ${seq}`);
  return seq;
}

/**
 * The seq of a stream id read back from Redis: only `<digits>-0` within safe integers is ours.
 * Anything else (written by someone else, or corrupt) returns null and is never delivered.
 */
export function seqOfStreamId(id: unknown): number | null {
  const text = typeof id === 'string' ? id : Buffer.isBuffer(id) ? id.toString('latin1') : null;
  if (text === null) return null;
  const match = /^([1-9]\d{0,15})-0$/.exec(text);
  if (!match) return null;
  const seq = Number(match[1]);
  return Number.isSafeInteger(seq) ? seq : null;
}

/** The fields of one entry as Redis returns them (flat name, value list), checked. */
export function parseFields(raw: unknown): Map<string, Buffer> {
  if (!Array.isArray(raw) || raw.length % 2 !== 0) throw new Error('malformed stream entry fields');
  const fields = new Map<string, Buffer>();
  for (let i = 0; i < raw.length; i += 2) {
    const name: unknown = raw[i];
    const value: unknown = raw[i + 1];
    if (!Buffer.isBuffer(name) || !Buffer.isBuffer(value)) throw new Error('malformed stream entry fields');
    fields.set(name.toString('utf8'), value);
  }
  return fields;
}

/**
 * Entries of an XRANGE/XREAD reply (`[[id, [f, v, ...]], ...]`, in Buffers), checked. Entries
 * whose id is not ours are reported through `onForeign` and skipped.
 */
export function parseEntries(raw: unknown, onForeign: (id: string) => void = () => {}): StreamEntry[] {
  if (!Array.isArray(raw)) throw new Error('malformed stream reply');
  const entries: StreamEntry[] = [];
  let previous = 0;
  for (const item of raw as unknown[]) {
    if (!Array.isArray(item) || item.length !== 2) throw new Error('malformed stream entry');
    const [id, fields] = item as [unknown, unknown];
    const seq = seqOfStreamId(id);
    if (seq === null) {
      onForeign(Buffer.isBuffer(id) ? id.toString('latin1') : String(id));
      continue;
    }
    if (seq <= previous) throw new Error(`stream entries out of order: ${seq} after ${previous}`);
    previous = seq;
    entries.push({ seq, fields: parseFields(fields) });
  }
  return entries;
}

function fieldArgs(fields: EntryFieldsInput): RedisArg[] {
  const args: RedisArg[] = [];
  for (const [name, value] of Object.entries(fields)) {
    if (!Buffer.isBuffer(value) && typeof value !== 'string') throw new Error(`field ${name}: a Buffer or a string`);
    args.push(name, value);
  }
  if (args.length === 0) throw new Error('a stream entry needs at least one field');
  return args;
}

export class ProjectStream {
  readonly nodeId: string;
  readonly prefix: string;

  constructor(
    private readonly redis: Redis,
    options: ProjectStreamOptions,
  ) {
    this.nodeId = checkNodeId(options.nodeId);
    this.prefix = checkPrefix(options.prefix ?? DEFAULT_PREFIX);
  }

  /** Appends entry `seq` while our lease of `epoch` holds: one EVALSHA (GET + XADD inside). */
  async append(project: ProjectId, epoch: number, seq: number, fields: EntryFieldsInput): Promise<AppendResult> {
    const keys = projectRedisKeys(project, this.prefix);
    const reply = await APPEND.run(this.redis, [keys.lease, keys.stream, keys.snapSeq], [leaseValue(this.nodeId, checkEpoch(epoch)), checkSeq(seq), ...fieldArgs(fields)]);
    const result = replyText(reply, 'append');
    if (result !== 'appended' && result !== 'fenced' && result !== 'duplicate') throw new Error(`unexpected append reply: ${result}`);
    return result;
  }

  /** Up to `count` entries after `afterSeq`, in order. Entries folded into the snapshot are gone. */
  async read(project: ProjectId, afterSeq: number, count: number): Promise<StreamEntry[]> {
    if (!Number.isSafeInteger(count) || count < 1) throw new Error(`count must be a positive integer: ${count}`);
    const reply = await this.redis.callBuffer('XRANGE', projectRedisKeys(project, this.prefix).stream, `(${checkSeq(afterSeq, 0)}-0`, '+', 'COUNT', count);
    return parseEntries(reply, (id) => {
      throw new Error(`foreign stream id ${JSON.stringify(id)} in project ${JSON.stringify(project)}`);
    });
  }

  /** The last seq appended (also when folded away), or null for a project with no log. */
  async last(project: ProjectId): Promise<number | null> {
    const keys = projectRedisKeys(project, this.prefix);
    const reply = await LAST.run(this.redis, [keys.stream, keys.snapSeq], []);
    if (!Array.isArray(reply) || reply.length !== 2) throw new Error('unexpected reply to last');
    const [id, snapSeq] = reply as [unknown, unknown];
    let last: number | null = null;
    if (id !== null) {
      last = seqOfStreamId(id);
      if (last === null) throw new Error(`foreign stream id ${JSON.stringify(String(id))} in project ${JSON.stringify(project)}`);
    }
    if (snapSeq !== null) last = Math.max(last ?? 0, replyInteger(snapSeq, 'snapseq'));
    return last;
  }

  /**
   * Stores the state up to `seq` and trims the stream below seq+1, in one fenced script.
   * 'stale' when a snapshot of that seq or a later one is there already.
   */
  async shipSnapshot(project: ProjectId, epoch: number, seq: number, bytes: Uint8Array, extra?: string): Promise<ShipResult> {
    const keys = projectRedisKeys(project, this.prefix);
    const data = asBuffer(bytes);
    const args = [leaseValue(this.nodeId, checkEpoch(epoch)), checkSeq(seq), data, ...(extra === undefined ? [] : [extra])];
    const reply = await SHIP.run(this.redis, [keys.lease, keys.snap, keys.snapSeq, keys.stream, keys.snapExtra], args);
    const result = replyText(reply, 'shipSnapshot');
    if (result !== 'shipped' && result !== 'fenced' && result !== 'stale') throw new Error(`unexpected shipSnapshot reply: ${result}`);
    return result;
  }

  /** The last shipped snapshot (with what it was shipped with, `extra`), or null when none was shipped. */
  async snapshot(project: ProjectId): Promise<{ seq: number; bytes: Buffer; extra?: Buffer } | null> {
    const keys = projectRedisKeys(project, this.prefix);
    const reply = await SNAPSHOT.runBuffer(this.redis, [keys.snapSeq, keys.snap, keys.snapExtra], []);
    if (!Array.isArray(reply) || reply.length !== 3) throw new Error('unexpected reply to snapshot');
    const [seq, bytes, extra] = reply as [unknown, unknown, unknown];
    if (seq === null && bytes === null) return null;
    if (!Buffer.isBuffer(bytes)) throw new Error(`snapshot of project ${JSON.stringify(project)} is incomplete`);
    return { seq: checkSeq(replyInteger(seq, 'snapseq')), bytes, ...(Buffer.isBuffer(extra) ? { extra } : {}) };
  }
}
