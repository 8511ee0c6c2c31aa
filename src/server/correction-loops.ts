/**
 * Clients correcting each other without end. Bryntum clients each run a scheduling engine and send
 * what it computed; when two engines hold the project differently (an edit that crossed another on
 * the wire, a dialog one user cancelled), each answers the other's value with its own, and a field
 * flips between their values for as long as they run. This notices such a field: written over and
 * over by more than one writer, going back to a value it had moments before. The room then stops
 * passing it on and, once the project is quiet, gives every client a fresh dataset: the state a
 * client loading the project gets, which every engine computes alike.
 */

interface Write {
  writer: string;
  value: string;
  at: number;
}

export class CorrectionLoops {
  /** The last writes of each recently written field, by touch key. */
  private readonly recent = new Map<string, Write[]>();
  /** Fields caught flipping, until when they are not passed on. */
  private readonly muted = new Map<string, number>();

  constructor(
    private readonly windowMs: number,
    /** Writes of a field within the window, a value among them written again, that make a loop. */
    private readonly writes = 5,
  ) {}

  /** Note what `writer` wrote; true when some field now flips between writers' values. */
  note(writer: string, values: Iterable<[string, unknown]>, now = Date.now()): boolean {
    let looping = false;
    for (const [key, raw] of values) {
      const value = JSON.stringify(raw) ?? 'undefined';
      const list = (this.recent.get(key) ?? []).filter((w) => now - w.at <= this.windowMs);
      list.push({ writer, value, at: now });
      if (list.length > this.writes) list.shift();
      this.recent.set(key, list);
      if (list.length >= this.writes && new Set(list.map((w) => w.writer)).size > 1 && new Set(list.map((w) => w.value)).size < list.length) {
        this.muted.set(key, now + this.windowMs);
        looping = true;
      }
    }
    if (this.recent.size > 10_000) for (const [key, list] of this.recent) if (now - list[list.length - 1].at > this.windowMs) this.recent.delete(key);
    return looping;
  }

  /** Fields not to pass on now. */
  isMuted(key: string, now = Date.now()): boolean {
    if (now <= (this.muted.get(key) ?? -Infinity)) return true;
    this.muted.delete(key);
    return false;
  }

  get anyMuted(): boolean {
    return this.muted.size > 0;
  }

  /** Everyone was given a fresh state: start over. */
  clear(): void {
    this.recent.clear();
    this.muted.clear();
  }
}
