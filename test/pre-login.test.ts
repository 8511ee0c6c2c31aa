/**
 * PreLogin's bookkeeping (src/server/pre-login.ts) on stand-in sockets: what it holds is counted
 * per address and in all, and letting go (one socket, or all as the server closes) leaves no
 * count, listener or timer behind.
 */
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { PreLogin } from '../src/server/pre-login.js';

afterEach(() => {
  vi.useRealTimers();
});

const limits = { preLoginBytes: 1000, loginTimeoutSeconds: 10, maxPendingSockets: 3, maxPendingSocketsPerAddress: 2 };

/** A WebSocket and its raw socket, as far as PreLogin uses them. */
function socket(): { ws: WebSocket; raw: Socket; closed: number[] } {
  const closed: number[] = [];
  const ws = Object.assign(new EventEmitter(), { close: (code: number) => void closed.push(code), pause: () => {}, terminate: () => {} });
  return { ws: ws as unknown as WebSocket, raw: new EventEmitter() as unknown as Socket, closed };
}

describe('sockets not logged in yet', () => {
  it('count against the limits per address and in all until let go', () => {
    vi.useFakeTimers();
    const pre = new PreLogin(limits);
    const a = socket();
    const b = socket();
    const release = pre.hold(a.ws, a.raw, '10.0.0.1', 0, { code: 4000, reason: 'late' });
    pre.hold(b.ws, b.raw, '10.0.0.1', 0, { code: 4000, reason: 'late' });
    expect(pre.size).toBe(2);
    expect(pre.full('10.0.0.1')).toBe(true);
    expect(pre.full('10.0.0.2')).toBe(false);
    release();
    release();
    expect(pre.size).toBe(1);
    expect(pre.full('10.0.0.1')).toBe(false);
  });

  it('are all let go when the server closes: no count, data listener or login deadline is left', () => {
    vi.useFakeTimers();
    const pre = new PreLogin(limits);
    const held = [socket(), socket(), socket()];
    held.forEach((s, i) => pre.hold(s.ws, s.raw, `10.0.0.${i}`, 0, { code: 4000, reason: 'late' }));
    expect(pre.size).toBe(3);
    expect(pre.full('10.0.0.9')).toBe(true);
    expect(vi.getTimerCount()).toBe(3);
    pre.releaseAll();
    expect(pre.size).toBe(0);
    expect(pre.full('10.0.0.9')).toBe(false);
    expect(held.map((s) => (s.raw as unknown as EventEmitter).listenerCount('data'))).toEqual([0, 0, 0]);
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(limits.loginTimeoutSeconds * 1000);
    expect(held.flatMap((s) => s.closed)).toEqual([]);
  });

  it('is closed with the caller\'s code when it does not log in in time, and let go', () => {
    vi.useFakeTimers();
    const pre = new PreLogin(limits);
    const s = socket();
    pre.hold(s.ws, s.raw, '10.0.0.1', 0, { code: 4000, reason: 'late' });
    vi.advanceTimersByTime(limits.loginTimeoutSeconds * 1000);
    expect(s.closed).toEqual([4000]);
    expect(pre.size).toBe(0);
  });
});
