/**
 * Id allocation for new records. One counter per project, persisted with every change, so an id
 * is never handed out twice — not after a reset, not after a restart. Behind the IdSource
 * interface so a multi-node setup can hand out ids from the project's owner.
 */
import type { IdSource } from './adapter.js';
import type { RecordId } from './layout.js';

export type IdStyle = 'number' | 'prefixed';

/** The number an id carries (`17`, `"17"`, `"tasks-17"`), if any: counters start above it. */
export function numberIn(id: RecordId): number | null {
  if (typeof id === 'number') return Number.isSafeInteger(id) ? id : null;
  const match = /^(?:.*-)?(\d{1,15})$/.exec(id);
  return match ? Number(match[1]) : null;
}

export function counterAbove(ids: Iterable<RecordId>, current = 1): number {
  let next = current;
  for (const id of ids) {
    const n = numberIn(id);
    if (n !== null && n >= next) next = n + 1;
  }
  return next;
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
    const n = numberIn(id);
    if (n !== null && n >= this.counter) this.counter = n + 1;
  }
}
