/** Autosave permission (PROTOCOL.md §9.1): at most one grant per project per interval. */
import { describe, expect, it } from 'vitest';
import { AutoSaveGrants } from '../src/server/autosave.js';

describe('autosave grants', () => {
  it('grants again only once more than the interval (a minute less than the autosave timer) has passed, per project', () => {
    let now = 1_000_000;
    const grants = new AutoSaveGrants(5, () => now);
    expect(grants.request(1)).toBe(true);
    expect(grants.request(2)).toBe(true);
    now += 4 * 60_000;
    expect(grants.request(1)).toBe(false);
    now += 1;
    expect(grants.request(1)).toBe(true);
  });
});
