/** The records a change set counts against a connection's records-per-second budget. */
import { describe, expect, it } from 'vitest';
import { countRecords } from '../src/server/record-rate.js';

describe('counting the records of a change', () => {
  it('counts the rows added, updated and removed in every store, and nothing else', () => {
    expect(countRecords({ tasks: { added: [{}, {}], updated: [{}], removed: [{}, {}, {}] }, resources: { updated: [{}] } })).toBe(7);
    expect(countRecords({ tasks: { added: 'not rows', other: [{}] }, project: 5 })).toBe(0);
    expect(countRecords(null)).toBe(0);
  });
});
