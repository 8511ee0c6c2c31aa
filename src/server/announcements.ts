/**
 * Announcements (logins, logouts, users lists, presence) go to many connections at once; in a
 * join storm n logins make n² of them, and writing each as it comes costs a system call per
 * message: most of the server's time in one. So they wait up to ANNOUNCE_MS and leave together,
 * one write per connection (its socket corked around them). A connection's other messages are
 * sent at once, after the announcements it holds, so the order of everything it gets is the order
 * it was sent in.
 */
import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';

/** How long an announcement may wait for others to leave with it. */
export const ANNOUNCE_MS = 20;

export interface HoldsAnnouncements {
  flushAnnouncements(): void;
}

const holding = new Set<HoldsAnnouncements>();
let timer: NodeJS.Timeout | null = null;

function flushAll(): void {
  timer = null;
  const all = [...holding];
  holding.clear();
  for (const connection of all) connection.flushAnnouncements();
}

/** `connection` holds announcements: flush them within ANNOUNCE_MS. */
export function flushSoon(connection: HoldsAnnouncements): void {
  holding.add(connection);
  if (timer) return;
  timer = setTimeout(flushAll, ANNOUNCE_MS);
  timer.unref();
}

export function forget(connection: HoldsAnnouncements): void {
  holding.delete(connection);
}

/** Run `write` with `ws`'s TCP socket corked, so what it sends leaves in one write. */
export function inOneWrite(ws: WebSocket, write: () => void): void {
  // ws keeps the TCP socket as `_socket` (its own Sender corks it per frame the same way).
  const socket = (ws as unknown as { _socket?: Socket | null })._socket;
  const cork = socket && !socket.destroyed;
  if (cork) socket.cork();
  try {
    write();
  } finally {
    if (cork) socket.uncork();
  }
}
