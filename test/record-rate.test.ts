/** The records a change set counts against a connection's records-per-second budget. */
import { describe, expect, it } from 'vitest';
import type { Connection } from '../src/server/connection.js';
import { countRecords, takeRecords } from '../src/server/record-rate.js';

describe('counting the records of a change', () => {
  it('counts the rows added, updated and removed in every store, and nothing else', () => {
    expect(countRecords({ tasks: { added: [{}, {}], updated: [{}], removed: [{}, {}, {}] }, resources: { updated: [{}] } })).toBe(7);
    expect(countRecords({ tasks: { added: 'not rows', other: [{}] }, project: 5 })).toBe(0);
    expect([countRecords(null), countRecords(undefined), countRecords('added'), countRecords(7)]).toEqual([0, 0, 0, 0]);
  });
});

describe('taking records from the budget', () => {
  it('lets a change bigger than a second\'s worth go once the bucket is full, leaving it in debt', async () => {
    const socket = { open: true };
    const connection = socket as Connection;
    let t = 0;
    const now = () => t;
    // A full bucket (1000) lets 1500 go at once; the next 100 wait for the debt to be paid back.
    const first = Promise.race([takeRecords(connection, 1500, 1000, now).then(() => 'went'), new Promise((r) => setTimeout(() => r('waited'), 1000))]);
    expect(await first).toBe('went');
    t = 500;
    const second = Promise.race([takeRecords(connection, 100, 1000, now).then(() => 'went'), new Promise((r) => setTimeout(() => r('waited'), 200))]);
    expect(await second).toBe('waited');
    socket.open = false;
  });
});
