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

export class RecentWrites {
  private readonly last = new Map<string, { writer: string; at: number }>();

  constructor(private readonly windowMs: number) {}

  /** Writes nobody is told finals of (Yjs peers), noted so that later writes count as concurrent. */
  note(writer: string, keys: string[], now = Date.now()): void {
    for (const key of keys) this.last.set(key, { writer, at: now });
  }

  /** Note `writer`'s writes; returns the keys another writer wrote within the window. */
  concurrent(writer: string, keys: string[], now = Date.now()): string[] {
    const out: string[] = [];
    for (const key of keys) {
      const last = this.last.get(key);
      if (last && last.writer !== writer && now - last.at <= this.windowMs) out.push(key);
      this.last.set(key, { writer, at: now });
    }
    if (this.last.size > 50_000) {
      for (const [key, w] of this.last) if (now - w.at > this.windowMs) this.last.delete(key);
    }
    return out;
  }

  /**
   * The writer of `keys` is sent their finals; it may have written them again before the final
   * reaches it, so its next write of them counts as concurrent too and gets a final of its own.
   */
  finalsSent(keys: string[], writer: string, now = Date.now()): void {
    for (const key of keys) this.last.set(key, { writer, at: now });
  }

  clear(): void {
    this.last.clear();
  }
}
