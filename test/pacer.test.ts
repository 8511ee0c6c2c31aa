/**
 * Paced work (loads, dataset texts, version contents) beside other work that keeps the event loop
 * busy: it still gets about an equal share, and alone it pauses as often as its budget says.
 */
import { describe, expect, it } from 'vitest';
import { Pacer } from '../src/document/pacer.js';

const busy = (ms: number) => {
  const end = performance.now() + ms;
  while (performance.now() < end);
};

/** Run `workMs` of paced work in 1 ms steps; meanwhile a rival blocks the loop `rivalMs` at a time. Rival turns taken. */
async function race(pacer: Pacer, workMs: number, rivalMs: number): Promise<{ rivalTurns: number; pauses: number }> {
  let done = false;
  let rivalTurns = 0;
  const rival = async () => {
    while (!done && rivalTurns < 10_000) {
      busy(rivalMs);
      rivalTurns++;
      await new Promise((resolve) => setImmediate(resolve));
    }
  };
  const running = rival();
  let pauses = 0;
  for (let i = 0; i < workMs; i++) {
    busy(1);
    const before = performance.now();
    await pacer.tick();
    if (performance.now() - before > 0.5) pauses++;
  }
  done = true;
  await running;
  return { rivalTurns, pauses };
}

describe('Pacer', () => {
  it('keeps about an equal share of an event loop that other work keeps busy', async () => {
    // 240 ms of work beside a rival taking 30 ms turns. With 4 ms stretches it would wait for a
    // rival turn every 4 ms of its own: 60 turns. Stretches as long as the pause was late: ~16.
    const { rivalTurns } = await race(new Pacer(4), 240, 30);
    expect(rivalTurns).toBeLessThan(35);
    expect(rivalTurns).toBeGreaterThan(5);
  });

  it('pauses once per budget when nothing else runs', async () => {
    const { pauses } = await race(new Pacer(10), 100, 0);
    // Stretches of 10 ms: about ten pauses (the rival's empty turns make none late).
    expect(pauses).toBeGreaterThanOrEqual(6);
    expect(pauses).toBeLessThanOrEqual(12);
  });

  it('never stretches past four times its budget, however late a pause came back', async () => {
    let t = 0;
    const pacer = new Pacer(5, () => t);
    /** Whether a tick at time `at` pauses (a tick that does not resolves before the next turn). */
    const pausesAt = async (at: number) => {
      t = at;
      const tick = pacer.tick().then(() => 'at once');
      const first = await Promise.race([tick, new Promise((resolve) => setImmediate(() => resolve('paused')))]);
      await tick;
      return first === 'paused';
    };
    expect(await pausesAt(4)).toBe(false);
    // A pause of the 5 ms stretch that came back a second late (its callback reads t = 1005).
    t = 5;
    const late = pacer.tick();
    t = 1005;
    await late;
    expect(await pausesAt(1005 + 19)).toBe(false);
    expect(await pausesAt(1005 + 20)).toBe(true);
  });
});
