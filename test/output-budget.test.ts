/** The output budget's running total of what all connections hold (src/server/output-budget.ts). */
import { describe, expect, it } from 'vitest';
import { OutputBudget, type Holder } from '../src/server/output-budget.js';

describe('the output budget', () => {
  it('takes what a connection held off the total when it is gone', () => {
    const a: Holder = { held: 0 };
    const b: Holder = { held: 0 };
    const budget = new OutputBudget(1_000, new Set([a, b]));
    budget.over(a, 600);
    budget.over(b, 300);
    expect(budget.heldBytes).toBe(900);
    budget.release(a);
    expect(budget.heldBytes).toBe(300);
  });

  it('recounts the total from what each connection holds now', () => {
    const holders = new Set<Holder>([{ held: 100 }, { held: 200 }]);
    const budget = new OutputBudget(1_000, holders);
    budget.recount();
    expect(budget.heldBytes).toBe(300);
  });
});
