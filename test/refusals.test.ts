/** Refused changes counted per connection over a sliding minute (src/server/refusals.ts). */
import { describe, expect, it } from 'vitest';
import type { Connection } from '../src/server/connection.js';
import { tooManyRefusals } from '../src/server/refusals.js';

/** Any object stands for a connection: refusals are kept by identity. */
const connection = () => ({}) as Connection;

describe('refusals within a minute', () => {
  it('are too many once past the limit, and counted per connection', () => {
    const a = connection();
    expect([0, 1, 2].map((t) => tooManyRefusals(a, 2, t))).toEqual([false, false, true]);
    expect(tooManyRefusals(connection(), 2, 3)).toBe(false);
  });

  it('count only those less than a minute old, so a connection refused now and then is never closed', () => {
    const a = connection();
    tooManyRefusals(a, 2, 0);
    tooManyRefusals(a, 2, 1);
    // The refusal at 0 is exactly a minute old: it no longer counts.
    expect(tooManyRefusals(a, 2, 60_000)).toBe(false);
    // The one at 1 still does.
    expect(tooManyRefusals(a, 2, 60_000)).toBe(true);
    expect([200_000, 300_000, 400_000].map((t) => tooManyRefusals(a, 2, t))).toEqual([false, false, false]);
  });
});
