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

/**
 * Cork `ws`'s TCP socket: what is sent leaves in one write once the returned function uncorks it
 * (null when there is no open socket). Corks nest: ws corks the socket per frame the same way.
 */
export function corkSocket(ws: WebSocket): (() => void) | null {
  // ws keeps the TCP socket as `_socket`.
  const socket = (ws as unknown as { _socket?: Socket | null })._socket;
  if (!socket || socket.destroyed) return null;
  socket.cork();
  return () => socket.uncork();
}

/** Run `write` with `ws`'s TCP socket corked, so what it sends leaves in one write. */
export function inOneWrite(ws: WebSocket, write: () => void): void {
  const uncork = corkSocket(ws);
  try {
    write();
  } finally {
    uncork?.();
  }
}
