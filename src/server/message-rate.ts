/**
 * Messages per second of one connection, as a token bucket: a client may send `burst` messages at
 * once and `perSecond` on average. Bryntum clients batch their edits (auto-sync), so a connection
 * past this is a script or a loop, not a user.
 */
export class MessageRate {
  private tokens: number;
  private at: number;

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    now = Date.now(),
  ) {
    this.tokens = burst;
    this.at = now;
  }

  /** Take one message's token; false when the connection is over its rate. */
  take(now = Date.now()): boolean {
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) / 1000) * this.perSecond);
    this.at = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
