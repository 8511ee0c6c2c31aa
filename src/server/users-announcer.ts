/**
 * The `users` list (PROTOCOL.md §2.6) goes to every logged-in connection whenever it changes. A
 * burst of logins would send it sockets × logins times, so each connection gets it at once only
 * while it has not had a burst of lists lately; beyond that, at most once per interval (the
 * latest list, for all the changes it missed).
 */
import { announceToAll, type Connection } from './connection.js';

/** Lists a connection may get back to back (ordinary logins of a few clients stay immediate). */
const BURST = 8;

interface Bucket {
  tokens: number;
  at: number;
}

export class UsersAnnouncer {
  private readonly buckets = new WeakMap<Connection, Bucket>();
  /** Connections owed the latest list at the end of the interval. */
  private readonly deferred = new Set<Connection>();
  private timer: NodeJS.Timeout | null = null;

  /** Several nodes: the names logged in on the others, and who to tell of this node's changes. */
  private remote: { names: () => Iterable<string>; localChanged: () => void } | null = null;

  constructor(
    private readonly intervalMs: number,
    private readonly loggedIn: () => Iterable<Connection>,
    private readonly now: () => number = Date.now,
  ) {}

  /** The list includes the users of other nodes (cluster mode). */
  withRemote(remote: { names: () => Iterable<string>; localChanged: () => void }): void {
    this.remote = remote;
  }

  /** This node's logins changed: tell every logged-in connection, and the other nodes. */
  changed(): void {
    this.remote?.localChanged();
    this.tell();
  }

  /** The list changed on another node: tell this node's logged-in connections. */
  remoteChanged(): void {
    this.tell();
  }

  private tell(): void {
    const now: Connection[] = [];
    for (const c of this.loggedIn()) {
      if (this.take(c)) now.push(c);
      else this.defer(c);
    }
    if (now.length) {
      const names = this.names();
      announceToAll(now, (encoder) => encoder.users(names));
    }
  }

  close(): void {
    clearTimeout(this.timer ?? undefined);
    this.timer = null;
    this.deferred.clear();
  }

  private names(): string[] {
    const names = new Set([...this.loggedIn()].map((c) => c.user!.name));
    if (this.remote) for (const name of this.remote.names()) names.add(name);
    return [...names];
  }

  /** May `c` get a list now? One token per list; one token comes back per interval. */
  private take(c: Connection): boolean {
    if (this.deferred.has(c)) return false;
    const now = this.now();
    const bucket = this.buckets.get(c) ?? { tokens: BURST, at: now };
    if (this.intervalMs > 0) bucket.tokens = Math.min(BURST, bucket.tokens + (now - bucket.at) / this.intervalMs);
    else bucket.tokens = BURST;
    bucket.at = now;
    this.buckets.set(c, bucket);
    if (bucket.tokens < 1) return false;
    bucket.tokens--;
    return true;
  }

  private defer(c: Connection): void {
    this.deferred.add(c);
    if (this.timer) return;
    this.timer = setTimeout(() => this.flush(), this.intervalMs);
    this.timer.unref();
  }

  private flush(): void {
    this.timer = null;
    const owed = [...this.deferred].filter((c) => c.user && c.open);
    this.deferred.clear();
    if (owed.length === 0) return;
    const names = this.names();
    announceToAll(owed, (encoder) => encoder.users(names));
  }
}
