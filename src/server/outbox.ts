/**
 * Under a burst of changes to one project, what it sends is held in each receiver's socket
 * (corked) and leaves together: one write per receiver per burst instead of one per message. A
 * system call per message per receiver was most of the server's time at high rates. Messages
 * are held only while more jobs wait in the project's queue, and for at most HOLD_MS; with
 * nothing waiting a change's messages leave as soon as it is stored, as before. Holding starts
 * after the change is stored, so nobody is told of anything earlier than before.
 */
import type { Connection } from './connection.js';

/** The longest a message waits for others to leave with it. */
export const HOLD_MS = 5;

export class Outbox {
  private readonly held = new Map<Connection, () => void>();
  private timer: NodeJS.Timeout | null = null;

  /** Hold what is sent to `connection` until the next flush. */
  hold(connection: Connection): void {
    if (this.held.has(connection)) return;
    const uncork = connection.cork();
    if (!uncork) return;
    this.held.set(connection, uncork);
    this.timer ??= setTimeout(() => this.flush(), HOLD_MS);
  }

  get holding(): boolean {
    return this.held.size > 0;
  }

  /** Let everything held leave. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const held = [...this.held.values()];
    this.held.clear();
    for (const uncork of held) uncork();
  }
}
