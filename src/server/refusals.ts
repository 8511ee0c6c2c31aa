/** Refused changes per connection over the last minute (a sliding window of their times). */
import type { Connection } from './connection.js';

const WINDOW_MS = 60_000;
const times = new WeakMap<Connection, number[]>();

/** Note a refusal of `connection`'s; true once it has had more than `limit` within a minute. */
export function tooManyRefusals(connection: Connection, limit: number, now = Date.now()): boolean {
  // Stryker disable next-line ArrayDeclaration: an entry that is no time fails the filter (NaN < WINDOW_MS is false)
  const list = (times.get(connection) ?? []).filter((t) => now - t < WINDOW_MS);
  list.push(now);
  times.set(connection, list.length > limit + 1 ? list.slice(-limit - 1) : list);
  return list.length > limit;
}
