/**
 * The users list's pacing (src/server/users-announcer.ts) with a fixed clock and fake timers:
 * a burst of changes reaches a connection at once up to a limit, the rest at the end of the
 * interval as one list, and nothing is left running once it is closed.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { UsersAnnouncer } from '../src/server/users-announcer.js';
import { encoderFor } from '../src/protocol/codec.js';
import type { Connection } from '../src/server/connection.js';

afterEach(() => {
  vi.useRealTimers();
});

/** A logged-in classic connection that records the lists announced to it. */
function connection(name: string): { connection: Connection; lists: unknown[] } {
  const lists: unknown[] = [];
  const fake = {
    user: { name },
    open: true,
    generation: 'classic',
    encoder: encoderFor('classic'),
    announce: (text: Buffer) => lists.push(JSON.parse(text.toString())),
  };
  return { connection: fake as unknown as Connection, lists };
}

describe('the users list announcer', () => {
  it('sends a burst of lists at once up to its limit, then the latest list once at the end of the interval', () => {
    vi.useFakeTimers();
    const ann = connection('ann');
    const announcer = new UsersAnnouncer(1000, () => [ann.connection], () => 0);
    for (let i = 0; i < 12; i++) announcer.changed();
    expect(ann.lists).toHaveLength(8);
    vi.advanceTimersByTime(1000);
    expect(ann.lists).toHaveLength(9);
    expect(ann.lists[8]).toEqual({ command: 'users', users: ['ann'] });
  });

  it('sends the list owed at the end of the interval only to connections still open and logged in', () => {
    vi.useFakeTimers();
    const ann = connection('ann');
    const gone = connection('gone');
    const out = connection('out');
    // Who is logged in, as the server tells it: those with a user.
    const announcer = new UsersAnnouncer(1000, () => [ann.connection, gone.connection, out.connection].filter((c) => c.user), () => 0);
    for (let i = 0; i < 9; i++) announcer.changed();
    (gone.connection as { open: boolean }).open = false;
    (out.connection as { user: unknown }).user = null;
    vi.advanceTimersByTime(1000);
    expect([ann.lists.length, gone.lists.length, out.lists.length]).toEqual([9, 8, 8]);
  });

  it('stops its timer when closed, so the lists owed then are never sent', () => {
    vi.useFakeTimers();
    const ann = connection('ann');
    const announcer = new UsersAnnouncer(1000, () => [ann.connection], () => 0);
    for (let i = 0; i < 9; i++) announcer.changed();
    expect(vi.getTimerCount()).toBe(1);
    announcer.close();
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(5000);
    expect(ann.lists).toHaveLength(8);
  });
});
