/** ContentCache: versions' contents built once, within a bound, least recently used dropped first. */
import { describe, expect, it } from 'vitest';
import { ContentCache } from '../src/history/content-cache.js';

/** A build of `chars` characters that counts its calls. */
function builder(chars: number | null) {
  const calls = { n: 0 };
  const build = async () => {
    calls.n++;
    return chars === null ? null : ['x'.repeat(chars - 1), 'y'];
  };
  return { build, calls };
}

describe('ContentCache', () => {
  it('builds a version once, also for requests that come while it is built', async () => {
    const cache = new ContentCache(100);
    const { build, calls } = builder(10);
    const [a, b] = await Promise.all([cache.get(1, build), cache.get(1, build)]);
    expect(a).toEqual(b);
    expect(await cache.get(1, build)).toBe(a);
    expect(calls.n).toBe(1);
  });

  it('keeps no answer for a version without a state, and builds it again next time', async () => {
    const cache = new ContentCache(100);
    const { build, calls } = builder(null);
    expect(await cache.get(1, build)).toBeNull();
    expect(await cache.get(1, build)).toBeNull();
    expect(calls.n).toBe(2);
  });

  it('drops the least recently used versions once over its bound, and never keeps one longer than the bound', async () => {
    const cache = new ContentCache(100);
    const one = builder(40);
    const two = builder(40);
    const three = builder(40);
    await cache.get(1, one.build);
    await cache.get(2, two.build);
    await cache.get(1, one.build); // 1 used after 2
    await cache.get(3, three.build); // 120 > 100: 2 goes
    await cache.get(1, one.build);
    await cache.get(3, three.build);
    expect([one.calls.n, three.calls.n]).toEqual([1, 1]);
    await cache.get(2, two.build);
    expect(two.calls.n).toBe(2);

    const big = builder(101);
    await cache.get(4, big.build);
    await cache.get(4, big.build);
    expect(big.calls.n).toBe(2);
  });

  it('forgets a dropped version and counts its characters out', async () => {
    const cache = new ContentCache(100);
    const one = builder(60);
    const two = builder(40);
    await cache.get(1, one.build);
    cache.drop(1);
    cache.drop(1);
    await cache.get(1, one.build);
    expect(one.calls.n).toBe(2);
    // 60 + 40 fit exactly: nothing is dropped.
    await cache.get(2, two.build);
    await cache.get(1, one.build);
    await cache.get(2, two.build);
    expect([one.calls.n, two.calls.n]).toEqual([2, 1]);
  });
});
