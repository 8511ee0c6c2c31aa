/** The id counter: what moves it, where it stops, and which ids it may have handed out. */
import { describe, expect, it } from 'vitest';
import { CLAIMABLE_BELOW, CounterIds, IdSpaceExhausted, LAST_ID, counterAbove, numberIn, saneCounter } from '../src/document/ids.js';

describe('numberIn', () => {
  it('reads the number of plain and prefixed ids, up to 15 digits, and nothing else', () => {
    expect([numberIn(17), numberIn('17'), numberIn('tasks-17'), numberIn('a-b-9')]).toEqual([17, 17, 17, 9]);
    expect(numberIn('9'.repeat(15))).toBe(10 ** 15 - 1);
    expect([numberIn('9'.repeat(16)), numberIn('x17y'), numberIn('17-'), numberIn(''), numberIn(1.5), numberIn(2 ** 60)]).toEqual([null, null, null, null, null, null]);
  });
});

describe('counterAbove', () => {
  it('goes above the highest claimable number, from the current value up', () => {
    expect(counterAbove([3, 'tasks-9', 'x'], 1)).toBe(10);
    expect(counterAbove([3], 20)).toBe(20);
    expect(counterAbove([20], 20)).toBe(21);
    expect(counterAbove([])).toBe(1);
  });

  it('is not moved by numbers that are not safe positive integers, whose text would read as one', () => {
    // '-5' and '1e-7' end in digits after a dash, like a prefixed id.
    expect(counterAbove([-5, 1e-7, 2.5, Number.NaN, 1e21])).toBe(1);
  });

  it('is not moved by a number at or above CLAIMABLE_BELOW, only by one below it', () => {
    expect(counterAbove([CLAIMABLE_BELOW])).toBe(1);
    expect(counterAbove([`tasks-${CLAIMABLE_BELOW}`])).toBe(1);
    expect(counterAbove([CLAIMABLE_BELOW - 1])).toBe(CLAIMABLE_BELOW);
  });
});

describe('saneCounter', () => {
  it('keeps a stored counter within 1..LAST_ID and recomputes any other from the ids', () => {
    const ids = () => [5, 'tasks-7'];
    expect(saneCounter(3, ids)).toBe(3);
    expect(saneCounter(1, ids)).toBe(1);
    expect(saneCounter(LAST_ID, ids)).toBe(LAST_ID);
    for (const bad of [0, -1, LAST_ID + 1, 2.5, '3', null, undefined, Number.NaN]) expect(saneCounter(bad, ids)).toBe(8);
  });
});

describe('CounterIds', () => {
  it('hands out numbers or store-prefixed ids, skipping ids already taken', () => {
    const numbers = new CounterIds(5, 'number');
    expect(numbers.next('tasks', (id) => id === 5 || id === 6)).toBe(7);
    expect(numbers.nextValue).toBe(8);
    const prefixed = new CounterIds(5, 'prefixed');
    expect(prefixed.next('tasks', (id) => id === 'tasks-5')).toBe('tasks-6');
  });

  it('refuses once the counter passes LAST_ID instead of looping', () => {
    const ids = new CounterIds(LAST_ID, 'number');
    expect(ids.next('tasks', () => false)).toBe(LAST_ID);
    expect(() => ids.next('tasks', () => false)).toThrow(IdSpaceExhausted);
    expect(() => new CounterIds(LAST_ID, 'number').next('tasks', () => true)).toThrow('no more ids for tasks');
    expect(() => new CounterIds(0, 'number').next('tasks', () => false)).toThrow(IdSpaceExhausted);
  });

  it('tells which ids it may have handed out: below the counter, of this store when prefixed', () => {
    const ids = new CounterIds(10, 'prefixed');
    expect([ids.mayHaveHeld('tasks', 9), ids.mayHaveHeld('tasks', 10), ids.mayHaveHeld('tasks', 0), ids.mayHaveHeld('tasks', 1.5)]).toEqual([true, false, false, false]);
    expect([ids.mayHaveHeld('tasks', 'tasks-9'), ids.mayHaveHeld('tasks', 'tasks-10'), ids.mayHaveHeld('tasks', 'resources-9'), ids.mayHaveHeld('tasks', '9'), ids.mayHaveHeld('tasks', null)]).toEqual([true, false, false, false, false]);
  });

  it('moves past a claimed id only when it is claimable and not below the counter', () => {
    const ids = new CounterIds(10, 'number');
    ids.claim(5);
    expect(ids.nextValue).toBe(10);
    ids.claim(10);
    expect(ids.nextValue).toBe(11);
    ids.claim('tasks-40');
    expect(ids.nextValue).toBe(41);
    ids.claim(CLAIMABLE_BELOW);
    expect(ids.nextValue).toBe(41);
  });
});
