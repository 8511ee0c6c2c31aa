/**
 * Contents of a project's versions as Bryntum's load-content command sends them, kept by version
 * number: a version never changes once taken, and building its content costs a document load
 * (a project with a long history: hundreds of milliseconds). Requests for a version being built
 * wait for the same build. Bounded in characters; the least recently used go first, and a content
 * longer than the bound is not kept.
 */
export class ContentCache {
  private readonly kept = new Map<number, string[]>();
  private readonly building = new Map<number, Promise<string[] | null>>();
  private chars = 0;

  constructor(private readonly maxChars = 4 * 1024 * 1024) {}

  /** Version `n`'s content, built by `build` unless kept (null: no such version, not kept). */
  get(n: number, build: () => Promise<string[] | null>): Promise<string[] | null> {
    const kept = this.kept.get(n);
    if (kept) {
      // Most recently used last.
      this.kept.delete(n);
      this.kept.set(n, kept);
      return Promise.resolve(kept);
    }
    const pending = this.building.get(n);
    if (pending) return pending;
    const built = build()
      .then((pieces) => {
        if (pieces) this.keep(n, pieces);
        return pieces;
      })
      .finally(() => this.building.delete(n));
    this.building.set(n, built);
    return built;
  }

  /** Forget version `n` (removed by retention). */
  drop(n: number): void {
    const pieces = this.kept.get(n);
    if (!pieces) return;
    this.kept.delete(n);
    this.chars -= length(pieces);
  }

  private keep(n: number, pieces: string[]): void {
    const chars = length(pieces);
    if (chars > this.maxChars) return;
    this.drop(n);
    this.kept.set(n, pieces);
    this.chars += chars;
    for (const [oldest] of this.kept) {
      if (this.chars <= this.maxChars) break;
      this.drop(oldest);
    }
  }
}

const length = (pieces: string[]) => pieces.reduce((n, p) => n + p.length, 0);
