/**
 * Long work on one project (loading a large document, serializing a large dataset) is cut into
 * short stretches. Between stretches the event loop gets real time, not just one turn: other
 * projects' changes each need several turns (frame in, LevelDB write done, broadcast), and a
 * single turn between long stretches would let them fall further and further behind.
 */
export class Pacer {
  private since = performance.now();

  constructor(private readonly budgetMs = 12) {}

  /** Call often; pauses once the budget is spent, for about half the time spent. */
  async tick(): Promise<void> {
    const spent = performance.now() - this.since;
    if (spent < this.budgetMs) return;
    await new Promise((resolve) => setTimeout(resolve, Math.max(1, Math.min(spent, 4 * this.budgetMs) / 2)));
    this.since = performance.now();
  }
}

/** Work written as a generator that yields where it may pause, run to its end at once. */
export function runToEnd<T>(work: Generator<void, T>): T {
  for (;;) {
    const step = work.next();
    if (step.done) return step.value;
  }
}

/** The same, pausing whenever the pacer's budget is spent. */
export async function runPaced<T>(work: Generator<void, T>, pacer = new Pacer()): Promise<T> {
  for (;;) {
    const step = work.next();
    if (step.done) return step.value;
    await pacer.tick();
  }
}
