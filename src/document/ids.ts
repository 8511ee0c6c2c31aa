/**
 * Id allocation for new records. One counter per project, persisted with every change, so an id
 * is never handed out twice — not after a reset, not after a restart. Behind the IdSource
 * interface so a multi-node setup can hand out ids from the project's owner.
 */
import type { IdSource } from './adapter.js';
import type { RecordId } from './layout.js';
import { RefusedChange } from './refused.js';

export type IdStyle = 'number' | 'prefixed';

/** The number an id carries (`17`, `"17"`, `"tasks-17"`), if any: counters start above it. */
export function numberIn(id: RecordId): number | null {
  if (typeof id === 'number') return Number.isSafeInteger(id) ? id : null;
  const match = /^(?:.*-)?(\d{1,15})$/.exec(id);
  return match ? Number(match[1]) : null;
}

/**
 * Numbers in ids a client chose move the counter only below this: past it `++` would soon stop
 * changing a double, and one hostile id could use up the id space. Higher ones are still kept
 * clear of, as every allocation skips ids already taken.
 */
export const CLAIMABLE_BELOW = 10 ** 14;
/** The counter never hands out more than this (ids keep the 15 digits `numberIn` reads). */
export const LAST_ID = 10 ** 15 - 1;

/** The number an id carries, if it may move the counter. */
function claimable(id: RecordId): number | null {
  const n = numberIn(id);
  return n !== null && n < CLAIMABLE_BELOW ? n : null;
}

export function counterAbove(ids: Iterable<RecordId>, current = 1): number {
  let next = current;
  for (const id of ids) {
    const n = claimable(id);
    if (n !== null && n >= next) next = n + 1;
  }
  return next;
}

/**
 * A stored counter to go on from: one out of bounds (stored before they were enforced) is
 * recomputed from the ids the project holds, as allocating from it would fail or never end.
 */
export function saneCounter(stored: unknown, ids: () => Iterable<RecordId>): number {
  if (typeof stored === 'number' && Number.isSafeInteger(stored) && stored >= 1 && stored <= LAST_ID) return stored;
  return counterAbove(ids());
}

/** Thrown while ids are assigned, before the change writes anything. */
export class IdSpaceExhausted extends RefusedChange {
  constructor(store: string) {
    super(`no more ids for ${store}: the project's id counter is used up`);
  }
}

export class CounterIds implements IdSource {
  constructor(
    private counter: number,
    private readonly style: IdStyle,
  ) {}

  get nextValue(): number {
    return this.counter;
  }

  next(store: string, taken: (id: RecordId) => boolean): RecordId {
    for (;;) {
      // Fail rather than loop: past the bound the counter may no longer change.
      if (!(this.counter >= 1 && this.counter <= LAST_ID)) throw new IdSpaceExhausted(store);
      const n = this.counter++;
      const id = this.style === 'number' ? n : `${store}-${n}`;
      if (!taken(id)) return id;
    }
  }

  mayHaveHeld(store: string, id: unknown): id is RecordId {
    if (typeof id === 'number') return Number.isSafeInteger(id) && id > 0 && id < this.counter;
    if (typeof id !== 'string') return false;
    const n = numberIn(id);
    return n !== null && n < this.counter && id === `${store}-${n}`;
  }

  claim(id: RecordId): void {
    const n = claimable(id);
    if (n !== null && n >= this.counter) this.counter = n + 1;
  }
}
