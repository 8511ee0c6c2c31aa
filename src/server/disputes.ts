/**
 * Fields revisions clients disagree on. Every revisions client runs its own scheduling engine and
 * sends what it computed besides what its user typed (roll-ups, dates, a task's duration once its
 * last child went). When edits cross on the wire, each engine rebases its pending revision on the
 * others and may keep a value it derived alone, while the server stores another client's value for
 * the same field; nobody sends that field again, so the clients stay apart for good. A classic
 * engine beside them answers their values with its own. The sign is two writers giving one field
 * different values within a short window. The room then gives the clients a fresh dataset once the
 * project is quiet: the state a client loading the project gets, which every engine computes alike.
 */

interface Write {
  writer: string;
  value: string;
  at: number;
}

export class Disputes {
  /** The last write of each recently written field, by touch key. */
  private readonly last = new Map<string, Write>();

  constructor(private readonly windowMs: number) {}

  /** Note what `writer` wrote; the other writer that gave one of these fields another value within the window, if any. */
  note(writer: string, values: Iterable<[string, unknown]>, now = Date.now()): string | null {
    let disputed: string | null = null;
    for (const [key, raw] of values) {
      const value = JSON.stringify(raw) ?? 'undefined';
      const before = this.last.get(key);
      if (before && before.writer !== writer && before.value !== value && now - before.at <= this.windowMs) disputed ??= before.writer;
      this.last.set(key, { writer, value, at: now });
    }
    // Bounded: old entries can no longer dispute anything.
    if (this.last.size > 10_000) for (const [key, write] of this.last) if (now - write.at > this.windowMs) this.last.delete(key);
    return disputed;
  }

  /** Everyone was given a fresh state: start over. */
  clear(): void {
    this.last.clear();
  }
}
