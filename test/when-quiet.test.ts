/**
 * Background work waits for a quiet project: after the last change plus `quietMs`, or at the
 * latest `maxDelayMs` after it was asked for.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { WhenQuiet } from '../src/server/when-quiet.js';

describe('WhenQuiet', () => {
  let last = 0;
  let runs = 0;
  const make = (quietMs: number, maxDelayMs: number) => new WhenQuiet(() => last, quietMs, maxDelayMs, () => runs++);

  beforeEach(() => {
    vi.useFakeTimers({ now: 1_000_000 });
    last = 0;
    runs = 0;
  });
  afterEach(() => vi.useRealTimers());

  it('runs at once when the project has been quiet long enough', () => {
    last = Date.now() - 5_000;
    make(1_000, 30_000).request();
    expect(runs).toBe(1);
  });

  it('waits until the project has been quiet for quietMs, each change moving that moment on', () => {
    const work = make(1_000, 30_000);
    last = Date.now();
    work.request();
    vi.advanceTimersByTime(600);
    last = Date.now();
    work.request();
    vi.advanceTimersByTime(900);
    expect(runs).toBe(0);
    vi.advanceTimersByTime(100);
    expect(runs).toBe(1);
    vi.advanceTimersByTime(10_000);
    expect(runs).toBe(1);
  });

  it('runs after maxDelayMs even if changes never stop, and then waits to be asked again', () => {
    const work = make(1_000, 5_000);
    const asked = Date.now();
    last = asked;
    work.request();
    for (let t = 0; t < 40 && runs === 0; t++) {
      vi.advanceTimersByTime(200);
      last = Date.now();
    }
    expect(runs).toBe(1);
    expect(Date.now() - asked).toBe(5_000);
    for (let t = 0; t < 40; t++) {
      vi.advanceTimersByTime(200);
      last = Date.now();
    }
    expect(runs).toBe(1);
  });

  it('forgets work that was asked for once cancelled', () => {
    const work = make(1_000, 5_000);
    last = Date.now();
    work.request();
    work.cancel();
    vi.advanceTimersByTime(10_000);
    expect(runs).toBe(0);
  });
});
