/**
 * Order keys at the edges (src/document/order.ts): heads just outside the letters, the largest and
 * smallest integer parts, keys whose integer part is exact, and what an invalid bound is refused with.
 */
import { describe, expect, it } from 'vitest';
import { isOrderKey, keyBetween, keysBetween } from '../src/document/order.js';

/** The largest integer part ('z' heads 27 characters) and the smallest one ('A' and 26 zeros). */
const TOP = 'z'.repeat(27);
const LOW = 'A' + '0'.repeat(26);

describe('which strings are order keys', () => {
  it('refuses heads just outside the letters, whatever follows', () => {
    for (const key of ['[1', '_1', '`1', '{1', '~1', '@1', '[' + '1'.repeat(27), '{' + '1'.repeat(27)]) expect(isOrderKey(key), key).toBe(false);
  });

  it('accepts keys with the first and last heads of both cases', () => {
    expect(isOrderKey(TOP)).toBe(true);
    expect(isOrderKey('a0')).toBe(true);
    expect(isOrderKey('Zz')).toBe(true);
    expect(isOrderKey('A' + '0'.repeat(25) + '1')).toBe(true);
  });
});

describe('bounds that are no order key', () => {
  it.each(['[', '_', '`', '{', '~'])('refuses a key headed %s as a lower or upper bound, naming the head', (head) => {
    expect(() => keyBetween(`${head}1`, null)).toThrow(`invalid order key head: ${head}`);
    expect(() => keyBetween(null, `${head}1`)).toThrow(`invalid order key head: ${head}`);
  });

  it('names the head of a lone bound rather than comparing it with the missing one', () => {
    expect(() => keyBetween('5', null)).toThrow('invalid order key head: 5');
    expect(() => keyBetween(null, '0')).toThrow('invalid order key head: 0');
  });
});

describe('the ends of the key space', () => {
  it('goes on after the largest integer part with a fraction', () => {
    expect(keyBetween(TOP, null)).toBe(TOP + 'V');
    expect(keysBetween(TOP, null, 2)).toEqual([TOP + 'V', TOP + 'k']);
  });

  it('steps up through the last key of each head', () => {
    expect(keyBetween('Zz', null)).toBe('a0');
    expect(keyBetween('az', null)).toBe('b00');
    expect(keyBetween('A' + 'z'.repeat(26), null)).toBe('B' + '0'.repeat(25));
  });

  it('goes on before the smallest integer part with a fraction of it', () => {
    expect(keyBetween(null, LOW + 'V')).toBe(LOW + 'F');
  });

  it('takes the integer part of an upper bound with a fraction, and steps down from a whole one', () => {
    expect(keyBetween(null, 'a0V')).toBe('a0');
    expect(keyBetween(null, 'a0')).toBe('Zz');
    expect(keyBetween(null, 'b00')).toBe('az');
  });

  it('hands out successive whole keys when there is no upper bound', () => {
    expect(keysBetween(null, null, 3)).toEqual(['a0', 'a1', 'a2']);
    expect(keysBetween('a0', null, 2)).toEqual(['a1', 'a2']);
  });
});
