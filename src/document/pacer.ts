/**
 * Long work on one project (loading a large document, serializing a large dataset) is cut into
 * short stretches. Between stretches the event loop gets real time, not just one turn: other
 * projects' changes each need several turns (frame in, LevelDB write done, broadcast), and a
 * single turn between long stretches would let them fall further and further behind.
 *
 * When other work keeps the event loop busy, a pause lasts until that work yields, however short
 * the pause asked for: with stretches of a fixed few milliseconds, work that takes half a second
 * alone then took tens of seconds (a version's content under a flood of messages). A pause that
 * came back late lets the next stretch run as long as it was late, up to four times the budget,
 * so paced work keeps about an equal share of a busy event loop and others wait at most that.
 */
export class Pacer {
  private since: number;
  /** Length of the current stretch: the budget, or longer after a late pause. */
  private stretch: number;

  constructor(
    private readonly budgetMs = 12,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.stretch = budgetMs;
    this.since = now();
  }

  /** Call often; pauses once the stretch is spent, for about half the time spent. */
  async tick(): Promise<void> {
    const spent = this.now() - this.since;
    if (spent < this.stretch) return;
    const pause = Math.max(1, Math.min(spent, 4 * this.budgetMs) / 2);
    const pausedAt = this.now();
    await new Promise((resolve) => setTimeout(resolve, pause));
    this.since = this.now();
    const late = this.since - pausedAt - pause;
    this.stretch = Math.min(4 * this.budgetMs, Math.max(this.budgetMs, late));
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
