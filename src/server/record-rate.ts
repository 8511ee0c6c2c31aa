/**
 * Records per second per connection: a token bucket holding up to one second's worth. A change
 * over what the bucket holds waits (its frames are delayed, never dropped), so one connection
 * sending big changes back to back cannot keep a project's queue, and the event loop, busy.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Connection } from './connection.js';

const buckets = new WeakMap<Connection, { tokens: number; at: number }>();

/** Records in a change set: rows of `added`, `updated` and `removed` in every store. */
export function countRecords(changes: unknown): number {
  let n = 0;
  // Any value but null and undefined has (possibly no) own values; none of a string's is a store.
  for (const entry of Object.values((changes ?? {}) as object)) {
    if (typeof entry !== 'object' || entry === null) continue;
    for (const kind of ['added', 'updated', 'removed']) {
      const rows = (entry as Record<string, unknown>)[kind];
      if (Array.isArray(rows)) n += rows.length;
    }
  }
  return n;
}

/** Wait until `connection` may send `records` more, at `perSecond`. */
export async function takeRecords(connection: Connection, records: number, perSecond: number, now = Date.now): Promise<void> {
  const bucket = buckets.get(connection) ?? { tokens: perSecond, at: now() };
  buckets.set(connection, bucket);
  const refill = () => {
    const t = now();
    bucket.tokens = Math.min(perSecond, bucket.tokens + ((t - bucket.at) / 1000) * perSecond);
    bucket.at = t;
  };
  refill();
  // A change bigger than a second's worth waits for a full bucket, then goes (maxRecordsPerChange bounds it).
  const need = Math.min(records, perSecond);
  while (bucket.tokens < need && connection.open) {
    await sleep(Math.ceil(((need - bucket.tokens) / perSecond) * 1000));
    refill();
  }
  bucket.tokens -= records;
}
