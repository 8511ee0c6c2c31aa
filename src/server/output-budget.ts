/**
 * A budget for the output all connections together hold for clients that do not read it. Each
 * connection reports what it holds when it writes; once the total is over the budget, a connection
 * holding more than its share is closed (1013), as the per-connection limit does. The total is
 * recounted every second, since buffers drain without a write reporting it.
 */

/** Never close a connection holding less than this for the budget: streamed replies pace themselves near 4 MiB. */
const SHARE_FLOOR = 5 * 1024 * 1024;

export interface Holder {
  /** Bytes this connection holds (queued in the socket and waiting to be sent). */
  readonly held: number;
}

export class OutputBudget {
  private total = 0;
  private readonly reported = new WeakMap<Holder, number>();

  constructor(
    readonly limit: number,
    /** Connections sharing the budget. */
    private readonly holders: ReadonlySet<Holder>,
  ) {}

  /** `holder` now holds `bytes`: is that over its share while the budget is spent? */
  over(holder: Holder, bytes: number): boolean {
    this.total += bytes - (this.reported.get(holder) ?? 0);
    this.reported.set(holder, bytes);
    if (this.total <= this.limit) return false;
    return bytes > Math.max(this.limit / Math.max(1, this.holders.size), Math.min(SHARE_FLOOR, this.limit / 4));
  }

  /** A connection is gone. */
  release(holder: Holder): void {
    this.total -= this.reported.get(holder) ?? 0;
    this.reported.delete(holder);
  }

  recount(): void {
    let total = 0;
    for (const holder of this.holders) {
      const bytes = holder.held;
      this.reported.set(holder, bytes);
      total += bytes;
    }
    this.total = total;
  }

  get heldBytes(): number {
    return this.total;
  }
}
