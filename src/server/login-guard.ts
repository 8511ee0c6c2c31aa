/**
 * Failed logins per client address: after `maxFailures` within `windowMs`, that address may not
 * try again until the window has passed, so passwords cannot be guessed at the speed of a socket.
 * Shared by WebSocket logins and the admin API's HTTP Basic authentication.
 */

/** Addresses remembered at most; the oldest are forgotten first (bounds memory under many addresses). */
const MAX_ADDRESSES = 10_000;

export class LoginGuard {
  /** Failure times per address, oldest first (Map keeps insertion order for pruning). */
  private readonly failures = new Map<string, number[]>();

  constructor(
    private readonly maxFailures: number,
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Milliseconds until `address` may try again; 0 when it may now. */
  blockedFor(address: string): number {
    const times = this.recent(address);
    if (times.length < this.maxFailures) return 0;
    return Math.max(1, times[times.length - this.maxFailures] + this.windowMs - this.now());
  }

  failed(address: string): void {
    const times = this.recent(address);
    times.push(this.now());
    // Only the last maxFailures matter for blockedFor.
    if (times.length > this.maxFailures) times.splice(0, times.length - this.maxFailures);
    this.failures.delete(address);
    this.failures.set(address, times);
    if (this.failures.size > MAX_ADDRESSES) this.failures.delete(this.failures.keys().next().value!);
  }

  private recent(address: string): number[] {
    const times = this.failures.get(address);
    if (!times) return [];
    const since = this.now() - this.windowMs;
    while (times.length > 0 && times[0] <= since) times.shift();
    if (times.length === 0) this.failures.delete(address);
    return times;
  }
}
