/**
 * One blocking reader per process for the streams of many projects (the y/hub pattern): a single
 * loop on its own connection runs `XREAD BLOCK COUNT STREAMS k1 k2 ... id1 id2 ...` over every
 * subscribed project, so a node with thousands of projects holds one blocked connection, not one
 * per project.
 *
 * - Each project's entries are delivered in order, exactly once: the reader keeps the last seq it
 *   delivered per project, asks for entries after it and drops anything at or below it.
 * - A new subscription does not wait for the current block to time out: a second connection
 *   sends `CLIENT UNBLOCK <reader's client id>`, and the loop reads again with the new key.
 * - When Redis goes away (restart, network), the read fails or is resent by ioredis; the loop
 *   reads again from the last delivered seq, after a bounded pause, so nothing is lost or
 *   repeated whatever ioredis does with the command in flight.
 * - Entries folded into a snapshot are gone from the stream: a subscriber that is behind the
 *   snapshot sees a jump in seq (entries carry their seq) and loads the snapshot.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import type { ProjectId } from '../protocol/schemas.js';
import { checkSeq, parseEntries, type StreamEntry } from './project-stream.js';
import { DEFAULT_PREFIX, checkPrefix, projectRedisKeys } from './redis-keys.js';

/**
 * Called from the read loop, synchronously, with the next entries of one project in order: a slow
 * listener delays every project of the process, so it queues work rather than doing it.
 */
export type EntriesListener = (entries: StreamEntry[]) => void;

export interface StreamReaderOptions {
  prefix?: string;
  /** How long one XREAD blocks; also bounds how late close() or a lost wake-up is noticed. */
  blockMs?: number;
  /** Entries per stream per read. */
  count?: number;
  /** Pause after a failed read (Redis down), so the loop does not spin. */
  retryMs?: number;
  /** Listener errors, foreign stream ids and read failures; the loop goes on. */
  onError?: (error: Error, project?: ProjectId) => void;
}

interface Subscription {
  project: ProjectId;
  key: string;
  lastSeq: number;
  /** Where the next read starts: `<lastSeq>-0`, or past an id that is not ours (never re-read). */
  cursor: string;
  listener: EntriesListener;
}

export class StreamReader {
  private readonly prefix: string;
  private readonly blockMs: number;
  private readonly count: number;
  private readonly retryMs: number;
  private readonly onError: (error: Error, project?: ProjectId) => void;
  private readonly byProject = new Map<ProjectId, Subscription>();
  private readonly byKey = new Map<string, Subscription>();
  /** The blocking connection and the one that wakes it: both ours, closed by close(). */
  private readonly reader: Redis;
  private readonly waker: Redis;
  /** CLIENT ID of the reader connection, null until known or after it reconnected. */
  private readerId: number | null = null;
  private blocked = false;
  /** Numbers the reads, so a late wake-up never unblocks a later read. */
  private readId = 0;
  private closed = false;
  /** Resolves the idle wait when the first subscription arrives. */
  private wakeIdle: (() => void) | null = null;
  private readonly loop: Promise<void>;
  /** Reads issued (XREAD commands), for cost accounting. */
  reads = 0;

  constructor(redis: Redis, options: StreamReaderOptions = {}) {
    this.prefix = checkPrefix(options.prefix ?? DEFAULT_PREFIX);
    this.blockMs = options.blockMs ?? 5_000;
    this.count = options.count ?? 100;
    this.retryMs = options.retryMs ?? 100;
    this.onError = options.onError ?? (() => {});
    // ioredis would prefix the keys sent but not strip the prefix from the keys in XREAD replies,
    // so no reply would match a subscription: refused instead of silently delivering nothing.
    if (redis.options.keyPrefix) throw new Error('StreamReader needs a client without keyPrefix (use the prefix option)');
    this.reader = redis.duplicate();
    this.waker = redis.duplicate();
    // Errors reach the loop through rejected commands; without a listener ioredis would print them.
    this.reader.on('error', () => {});
    this.waker.on('error', () => {});
    this.reader.on('close', () => {
      this.readerId = null;
    });
    this.loop = this.run();
  }

  /** Delivers the project's entries after `afterSeq` to `listener`; replaces an earlier subscription. */
  subscribe(project: ProjectId, afterSeq: number, listener: EntriesListener): void {
    if (this.closed) throw new Error('stream reader is closed');
    this.unsubscribe(project);
    const lastSeq = checkSeq(afterSeq, 0);
    const subscription: Subscription = { project, key: projectRedisKeys(project, this.prefix).stream, lastSeq, cursor: `${lastSeq}-0`, listener };
    this.byProject.set(project, subscription);
    this.byKey.set(subscription.key, subscription);
    this.wake();
  }

  /** Stops delivery at once (entries of a read in flight are dropped). */
  unsubscribe(project: ProjectId): void {
    const subscription = this.byProject.get(project);
    if (!subscription) return;
    this.byProject.delete(project);
    this.byKey.delete(subscription.key);
  }

  /** The last seq delivered for a project (or its starting seq), undefined when not subscribed. */
  position(project: ProjectId): number | undefined {
    return this.byProject.get(project)?.lastSeq;
  }

  async close(): Promise<void> {
    if (this.closed) return this.loop;
    this.closed = true;
    this.wakeIdle?.();
    // Rejects the blocked XREAD; the loop sees `closed` and ends.
    this.reader.disconnect();
    this.waker.disconnect();
    await this.loop;
  }

  private wake(): void {
    if (this.wakeIdle) {
      this.wakeIdle();
      return;
    }
    if (this.blocked && this.readerId !== null) void this.unblock(this.readId, this.readerId);
  }

  /**
   * Best effort, bounded: CLIENT UNBLOCK answers 0 when the XREAD has not reached the server yet
   * (it travels on the other connection), so it is tried again a few times while that same read
   * is still pending. When all fail, the new key is read once the current block ends (blockMs).
   */
  private async unblock(readId: number, clientId: number): Promise<void> {
    for (let attempt = 0; attempt < 5; attempt++) {
      if (this.closed || this.readId !== readId || !this.blocked) return;
      const done: unknown = await this.waker.call('CLIENT', 'UNBLOCK', clientId).catch(() => 0);
      if (done === 1) return;
      await sleep(10 * (attempt + 1));
    }
  }

  private async run(): Promise<void> {
    while (!this.closed) {
      if (this.byKey.size === 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, this.blockMs);
          this.wakeIdle = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wakeIdle = null;
        continue;
      }
      try {
        if (this.readerId === null) {
          const id: unknown = await this.reader.call('CLIENT', 'ID');
          if (typeof id !== 'number') throw new Error('unexpected CLIENT ID reply');
          this.readerId = id;
        }
        const subscriptions = [...this.byKey.values()];
        const args: (string | number)[] = ['COUNT', this.count, 'BLOCK', this.blockMs, 'STREAMS'];
        for (const s of subscriptions) args.push(s.key);
        for (const s of subscriptions) args.push(s.cursor);
        this.blocked = true;
        this.reads++;
        this.readId++;
        let reply: unknown;
        try {
          reply = await this.reader.callBuffer('XREAD', ...args);
        } finally {
          this.blocked = false;
        }
        if (reply !== null) this.deliver(reply, subscriptions);
      } catch (error) {
        if (this.closed) break;
        this.onError(error instanceof Error ? error : new Error(String(error)));
        await sleep(this.retryMs);
      }
    }
  }

  /** `subscriptions`: those the read was for; a subscription replaced meanwhile gets nothing from it. */
  private deliver(reply: unknown, subscriptions: Subscription[]): void {
    // RESP2: [[key, entries], ...]; RESP3 (a client with protocol 3): Map key -> entries.
    const streams: unknown = reply instanceof Map ? [...reply.entries()] : reply;
    if (!Array.isArray(streams)) throw new Error('malformed XREAD reply');
    const asked = new Map(subscriptions.map((s) => [s.key, s]));
    for (const stream of streams as unknown[]) {
      if (!Array.isArray(stream) || stream.length !== 2) throw new Error('malformed XREAD reply');
      const [rawKey, rawEntries] = stream as [unknown, unknown];
      const key = Buffer.isBuffer(rawKey) ? rawKey.toString('latin1') : String(rawKey);
      const subscription = asked.get(key);
      if (!subscription || this.byKey.get(key) !== subscription) continue;
      let cursor = subscription.cursor;
      const entries = parseEntries(rawEntries, (id) => {
        this.onError(new Error(`foreign stream id ${JSON.stringify(id)} skipped`), subscription.project);
        if (compareIds(id, cursor) > 0) cursor = id;
      }).filter((entry) => entry.seq > subscription.lastSeq);
      if (entries.length > 0) {
        subscription.lastSeq = entries[entries.length - 1].seq;
        const own = `${subscription.lastSeq}-0`;
        if (compareIds(own, cursor) > 0) cursor = own;
      }
      subscription.cursor = cursor;
      if (entries.length === 0) continue;
      try {
        subscription.listener(entries);
      } catch (error) {
        this.onError(error instanceof Error ? error : new Error(String(error)), subscription.project);
      }
    }
  }
}

/** Orders two stream ids `<ms>-<n>`; an id of another shape sorts first (never moves a cursor). */
function compareIds(a: string, b: string): number {
  const pa = /^(\d+)-(\d+)$/.exec(a);
  const pb = /^(\d+)-(\d+)$/.exec(b);
  if (!pa || !pb) return pa ? 1 : pb ? -1 : 0;
  const [ma, na, mb, nb] = [BigInt(pa[1]), BigInt(pa[2]), BigInt(pb[1]), BigInt(pb[2])];
  return ma !== mb ? (ma < mb ? -1 : 1) : na === nb ? 0 : na < nb ? -1 : 1;
}
