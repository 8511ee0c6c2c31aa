/**
 * Who last wrote which field of which record, and when. Classic clients are not echoed their own
 * updates, so a sender whose write came moments after another writer's write of the same field may
 * hold that writer's value: the room sends it the final one.
 */
import { touchKey, touchParts } from '../document/adapter.js';

/** The fields whose final values the writers of `keys` (touch keys) need, by record. */
export function finalFields(keys: string[]): Map<string, { store: string; record: string; fields: string[] }> {
  const out = new Map<string, { store: string; record: string; fields: string[] }>();
  for (const touch of keys) {
    const { store, key: record, field } = touchParts(touch);
    const k = touchKey(store, record, '');
    let entry = out.get(k);
    if (!entry) out.set(k, (entry = { store, record, fields: [] }));
    entry.fields.push(field);
  }
  return out;
}

/** Writes remembered at most; past it the oldest are forgotten even within the window. */
export const MAX_RECENT_WRITES = 50_000;

export class RecentWrites {
  /** By key, oldest write first (a write moves its key to the end), so pruning stops at the first recent one. */
  private readonly last = new Map<string, { writer: string; at: number }>();

  constructor(private readonly windowMs: number) {}

  /**
   * Writes nobody is told finals of (Yjs peers, server fixes), noted so that later writes count as
   * concurrent; also finals sent to a writer, which may have written those fields again before the
   * final reaches it, so that its next write of them gets a final of its own.
   */
  note(writer: string, keys: string[], now = Date.now()): void {
    for (const key of keys) this.write(key, writer, now);
    this.prune(now);
  }

  /** Note `writer`'s writes; returns the keys another writer wrote within the window. */
  concurrent(writer: string, keys: string[], now = Date.now()): string[] {
    const out: string[] = [];
    for (const key of keys) {
      const last = this.last.get(key);
      if (last && last.writer !== writer && now - last.at <= this.windowMs) out.push(key);
      this.write(key, writer, now);
    }
    this.prune(now);
    return out;
  }

  get size(): number {
    return this.last.size;
  }

  private write(key: string, writer: string, now: number): void {
    this.last.delete(key);
    this.last.set(key, { writer, at: now });
  }

  /** Writes older than the window no longer count, and the oldest go past MAX_RECENT_WRITES: each entry is dropped once. */
  private prune(now: number): void {
    for (const [key, w] of this.last) {
      if (now - w.at <= this.windowMs && this.last.size <= MAX_RECENT_WRITES) break;
      this.last.delete(key);
    }
  }

  clear(): void {
    this.last.clear();
  }
}
