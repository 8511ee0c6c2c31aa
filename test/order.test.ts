import fc from 'fast-check';
import './support/seed.js';
import { describe, expect, it } from 'vitest';
import { isOrderKey, keyBetween, keysBetween } from '../src/document/order.js';

/** Build a sibling list by inserting at the given positions, checking every new key on the way. */
function insertAll(positions: number[]): string[] {
  const keys: string[] = [];
  for (const p of positions) {
    const i = keys.length === 0 ? 0 : p % (keys.length + 1);
    const left = i > 0 ? keys[i - 1] : null;
    const right = i < keys.length ? keys[i] : null;
    const key = keyBetween(left, right);
    if (left !== null && !(key > left)) throw new Error(`${key} not after ${left}`);
    if (right !== null && !(key < right)) throw new Error(`${key} not before ${right}`);
    keys.splice(i, 0, key);
  }
  return keys;
}

const isStrictlyIncreasing = (keys: string[]) => keys.every((k, i) => i === 0 || keys[i - 1] < k);

/** Positions that favour the edges and the spots next to them, where keys grow or change length. */
const position = fc.oneof(fc.constant(0), fc.constant(1), fc.constant(Number.MAX_SAFE_INTEGER), fc.nat());

describe('keyBetween', () => {
  it('gives a first key when there are no bounds', () => {
    expect(typeof keyBetween(null, null)).toBe('string');
  });

  it('takes the next whole key between keys of different integer parts when it fits, else a fraction above the lower', () => {
    // Short keys where there is room: between a0 and a5, a1.
    expect(keyBetween('a0', 'a5')).toBe('a1');
    // No room for a whole key (a1 is the upper bound itself): a fraction of a0, still below a1.
    const between = keyBetween('a0', 'a1');
    expect(between > 'a0' && between < 'a1').toBe(true);
    expect(between.startsWith('a0')).toBe(true);
  });

  it('always returns a key strictly between its bounds, wherever siblings are inserted', () => {
    fc.assert(
      fc.property(fc.array(position, { minLength: 1, maxLength: 300 }), (positions) => {
        const keys = insertAll(positions);
        expect(isStrictlyIncreasing(keys)).toBe(true);
        // Every key, also one with a fraction, can be the only bound.
        for (const key of keys) {
          expect(keyBetween(null, key) < key, `before ${key}`).toBe(true);
          expect(keyBetween(key, null) > key, `after ${key}`).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('stays strictly between two neighbours that are inserted between over and over', () => {
    fc.assert(
      fc.property(fc.array(fc.boolean(), { minLength: 1, maxLength: 200 }), (towardsLeft) => {
        let left = keyBetween(null, null);
        let right = keyBetween(left, null);
        for (const goLeft of towardsLeft) {
          const key = keyBetween(left, right);
          expect(key > left && key < right).toBe(true);
          if (goLeft) right = key;
          else left = key;
        }
      }),
    );
  });

  it('keeps strictly between its bounds after long runs past the edges of the key space', () => {
    let low = keyBetween(null, null);
    let high = low;
    for (let i = 0; i < 5000; i++) {
      const before = keyBetween(null, low);
      expect(before < low).toBe(true);
      low = before;
      const after = keyBetween(high, null);
      expect(after > high).toBe(true);
      high = after;
    }
    const between = keyBetween(low, high);
    expect(between > low && between < high).toBe(true);
  });

  it('steps the integer part across a change of its length, up and down, on both sides of the middle', () => {
    // Lowercase heads grow longer upwards, uppercase ones shorter: 'az' + 1 is 'b00', 'Yzz' + 1 is 'Z0'.
    const steps: [string, string][] = [['az', 'b00'], ['Yzz', 'Z0'], ['Zz', 'a0']];
    for (const [below, above] of steps) {
      expect(keyBetween(below, null)).toBe(above);
      expect(keyBetween(null, above)).toBe(below);
      expect(isOrderKey(above)).toBe(true);
    }
  });

  it('refuses bounds that are out of order', () => {
    const a = keyBetween(null, null);
    const b = keyBetween(a, null);
    expect(() => keyBetween(b, a)).toThrow(RangeError);
    expect(() => keyBetween(a, a)).toThrow(RangeError);
  });

  it('refuses a bound that is not an order key, naming what is wrong with it', () => {
    expect(() => keyBetween('!x', null)).toThrow(new RangeError('invalid order key head: !'));
    expect(() => keyBetween(null, 'c1')).toThrow(new RangeError('invalid order key: c1'));
  });
});

describe('isOrderKey', () => {
  it('accepts every key keyBetween and keysBetween hand out', () => {
    fc.assert(
      fc.property(fc.array(position, { minLength: 1, maxLength: 200 }), fc.integer({ min: 0, max: 50 }), (positions, n) => {
        const keys = insertAll(positions);
        for (const key of [...keys, ...keysBetween(keys[0], null, n), ...keysBetween(null, keys[0], n)]) expect(isOrderKey(key), key).toBe(true);
      }),
    );
  });

  it('rejects values of another form', () => {
    for (const value of ['', '0', '1', 'a', 'b0', 'a0!', 'a00', 'a0V0', 'A' + '0'.repeat(26), 1, null, undefined, {}]) {
      expect(isOrderKey(value), String(value)).toBe(false);
    }
  });
});

describe('keysBetween', () => {
  it('returns n sorted keys strictly between its bounds', () => {
    fc.assert(
      fc.property(
        fc.array(position, { minLength: 2, maxLength: 60 }),
        fc.nat(),
        fc.nat(),
        fc.integer({ min: 0, max: 120 }),
        fc.constantFrom('both', 'no-left', 'no-right', 'none'),
        (positions, i, j, n, bounds) => {
          const keys = insertAll(positions);
          const [x, y] = [i % keys.length, j % keys.length].sort((p, q) => p - q);
          const a = bounds === 'both' || bounds === 'no-right' ? keys[x] : null;
          let b = bounds === 'both' || bounds === 'no-left' ? keys[y] : null;
          if (a !== null && b !== null && a >= b) b = null;
          const out = keysBetween(a, b, n);
          expect(out).toHaveLength(n);
          expect(isStrictlyIncreasing(out)).toBe(true);
          if (n > 0 && a !== null) expect(out[0] > a).toBe(true);
          if (n > 0 && b !== null) expect(out[n - 1] < b).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('returns nothing for n of zero or less', () => {
    expect(keysBetween(null, null, 0)).toEqual([]);
    expect(keysBetween(null, null, -3)).toEqual([]);
  });

  it('keeps keys short when many are placed between two neighbours', () => {
    const a = keyBetween(null, null);
    const b = keyBetween(a, null);
    const keys = keysBetween(a, b, 10_000);
    expect(isStrictlyIncreasing([a, ...keys, b])).toBe(true);
    expect(Math.max(...keys.map((k) => k.length))).toBeLessThanOrEqual(6);
  });
});

describe('key length', () => {
  it('stays short over 10,000 appends', () => {
    let key: string | null = null;
    let longest = 0;
    for (let i = 0; i < 10_000; i++) {
      const next = keyBetween(key, null);
      if (key !== null) expect(next > key).toBe(true);
      key = next;
      longest = Math.max(longest, key.length);
    }
    expect(longest).toBeLessThanOrEqual(4);
  });

  it('stays short over 10,000 prepends', () => {
    let key: string | null = null;
    let longest = 0;
    for (let i = 0; i < 10_000; i++) {
      const next = keyBetween(null, key);
      if (key !== null) expect(next < key).toBe(true);
      key = next;
      longest = Math.max(longest, key.length);
    }
    expect(longest).toBeLessThanOrEqual(4);
  });

  it('stays short over 10,000 appends to a list built by keysBetween', () => {
    const keys = keysBetween(null, null, 100);
    let key = keys[keys.length - 1];
    for (let i = 0; i < 10_000; i++) key = keyBetween(key, null);
    expect(key.length).toBeLessThanOrEqual(4);
  });
});
