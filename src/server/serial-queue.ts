import { setImmediate as nextTurn } from 'node:timers/promises';

/**
 * Runs jobs one at a time, in arrival order. Each project has one: it is the sequencer that gives
 * the project its total order of changes, and keeps "dataset + subscribe" atomic with respect to them.
 */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();
  private pending = 0;

  run<T>(job: () => Promise<T> | T): Promise<T> {
    this.pending++;
    // A turn of the event loop between jobs: a long backlog of one project (say, many sync
    // requests) must not keep other projects' sockets and timers from running.
    const result = this.tail.then(() => nextTurn()).then(job);
    this.tail = result.then(
      () => this.pending--,
      () => this.pending--,
    );
    return result;
  }

  get size(): number {
    return this.pending;
  }

  /** Resolves when every job queued so far has finished. */
  idle(): Promise<void> {
    return this.tail.then(() => undefined);
  }
}
