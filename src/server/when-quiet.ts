/**
 * Background work of a project (folding its update log, automatic versions) waits until the
 * project has had no change for `quietMs`, so it does not compete with live traffic for the CPU.
 * Work asked for `maxDelayMs` ago runs anyway: a project that is never quiet still gets it done.
 */
export class WhenQuiet {
  private askedAt: number | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly lastActivity: () => number,
    private readonly quietMs: number,
    private readonly maxDelayMs: number,
    private readonly work: () => void,
    private readonly now: () => number = Date.now,
  ) {}

  /** Ask for the work; asking again before it ran changes nothing. */
  request(): void {
    this.askedAt ??= this.now();
    if (!this.timer) this.check();
  }

  /** Forget what was asked for (the project is closing and does the work itself). */
  cancel(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.askedAt = null;
  }

  /** Run the work when it is time, or look again when it will be (activity moves that time on). */
  private check(): void {
    const at = Math.min(this.lastActivity() + this.quietMs, this.askedAt! + this.maxDelayMs);
    const wait = at - this.now();
    if (wait <= 0) {
      this.askedAt = null;
      this.work();
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = null;
      this.check();
    }, wait);
    this.timer.unref();
  }
}
