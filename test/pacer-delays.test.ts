/**
 * How long the Pacer pauses (src/document/pacer.ts), on a clock the test sets: half the time
 * spent, at most twice the budget and at least 1 ms; and how a pause that came back on time
 * leaves the next stretch at the budget. The timer is observed, not waited for.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Pacer } from '../src/document/pacer.js';

let delays: number[];

beforeEach(() => {
  delays = [];
  // Record each pause asked for and end it at once.
  vi.spyOn(globalThis, 'setTimeout').mockImplementation(((callback: () => void, ms?: number) => {
    delays.push(ms ?? 0);
    callback();
    return 0;
  }) as unknown as typeof setTimeout);
});

afterEach(() => {
  vi.restoreAllMocks();
});

describe('Pacer pauses', () => {
  it('pauses for half the time spent, and no longer than twice its budget', async () => {
    let t = 0;
    const pacer = new Pacer(10, () => t);
    t = 30;
    await pacer.tick();
    expect(delays).toEqual([15]);
    t = 130;
    await pacer.tick();
    expect(delays).toEqual([15, 20]);
  });

  it('pauses at least 1 ms', async () => {
    let u = 0;
    const pacer = new Pacer(1, () => u);
    u = 1;
    await pacer.tick();
    expect(delays).toEqual([1]);
  });

  it('does not pause before its budget is spent', async () => {
    let t = 0;
    const pacer = new Pacer(10, () => t);
    t = 9;
    await pacer.tick();
    expect(delays).toEqual([]);
    t = 10;
    await pacer.tick();
    expect(delays).toEqual([5]);
  });

  it('keeps the next stretch at its budget after a pause that came back on time', async () => {
    let t = 0;
    const pacer = new Pacer(5, () => t);
    t = 20;
    // The pause of 10 ms ends as asked: the clock reads 30 once it is over.
    const spy = vi.mocked(setTimeout);
    spy.mockImplementationOnce(((callback: () => void, ms?: number) => {
      delays.push(ms ?? 0);
      t = 30;
      callback();
      return 0;
    }) as unknown as typeof setTimeout);
    await pacer.tick();
    expect(delays).toEqual([10]);
    t = 34;
    await pacer.tick();
    expect(delays).toEqual([10]);
    t = 35;
    await pacer.tick();
    expect(delays).toEqual([10, 2.5]);
  });
});
