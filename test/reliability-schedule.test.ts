import { describe, expect, it } from 'vitest';
import { PARTS, stages } from '../reliability/parts.js';
import { SoakPlan } from '../reliability/soak.js';
import type { Part } from '../reliability/part.js';

const names = (list: Part[][]) => list.map((stage) => stage.map((p) => p.name));
const part = (name: string, beside?: string): Part => ({ name, beside, summary: '', run: async () => ({ figures: [], problems: [] }) });

describe('the reliability run schedule', () => {
  it('runs the soak beside the fuzz and every other part alone, in order', () => {
    expect(names(stages(PARTS))).toEqual([['crash'], ['fuzz', 'soak'], ['slow-readers'], ['storm'], ['storage-faults']]);
  });

  it('runs a part alone in its own place when the part it goes beside is not selected', () => {
    expect(names(stages([part('a'), part('b', 'x'), part('c')]))).toEqual([['a'], ['b'], ['c']]);
    expect(names(stages(PARTS.filter((p) => p.name !== 'fuzz')))).toEqual([['crash'], ['slow-readers'], ['storm'], ['storage-faults'], ['soak']]);
  });
});

describe('the soak plan', () => {
  it('fits the last five minutes of a ten-minute soak when the parts beside it end early', () => {
    const plan = new SoakPlan(10, 5);
    plan.quietFrom(200_000);
    expect([plan.windowFromMs, plan.endMs]).toEqual([300_000, 600_000]);
  });

  it('starts the window after the parts beside it, and runs on until the window is whole', () => {
    const plan = new SoakPlan(10, 5);
    plan.quietFrom(520_000);
    expect([plan.windowFromMs, plan.endMs]).toEqual([530_000, 830_000]);
  });

  it('never fits the first half of a short soak, and keeps its window as long when the parts beside it end late', () => {
    const plan = new SoakPlan(1, 5);
    expect([plan.windowFromMs, plan.endMs]).toEqual([30_000, 60_000]);
    plan.quietFrom(40_000);
    expect([plan.windowFromMs, plan.endMs]).toEqual([50_000, 80_000]);
  });
});
