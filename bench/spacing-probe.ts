/**
 * How much slower this machine runs a small fixed piece of work when it comes every 5 ms (as the
 * fan-out's updates do) than when it runs back to back. On some virtual machines the gap costs
 * more than the work: what a message costs then depends on how much code and memory it touches,
 * which is what the fan-out ratios mostly measure. Prints one JSON line (microseconds, medians).
 *
 *   node spacing-probe.js
 */
import * as Y from 'yjs';

const RUNS = 300;
const GAP_MS = 5;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function timed(work: (i: number) => void, gapMs: number): Promise<number> {
  const us: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    if (gapMs > 0) await sleep(gapMs);
    const t = performance.now();
    work(i);
    us.push((performance.now() - t) * 1000);
  }
  return median(us);
}

/** A field write on a document of 1000 records, its update encoded as for storage. */
function yjsWrite(): (i: number) => void {
  const doc = new Y.Doc();
  const tasks = doc.getMap<Y.Map<unknown>>('tasks');
  doc.transact(() => {
    for (let i = 1; i <= 1000; i++) {
      const record = new Y.Map<unknown>();
      tasks.set(String(i), record);
      record.set('id', i);
      record.set('percentDone', 0);
    }
  });
  doc.on('updateV2', () => undefined);
  return (i) => doc.transact(() => tasks.get(String(1 + (i % 50)))!.set('percentDone', i % 100));
}

const jsonText = (i: number) => void JSON.stringify({ command: 'projectChange', project: 1, changes: { tasks: { updated: [{ id: i, percentDone: i % 100 }] } } });

async function probe(work: (i: number) => void) {
  await timed(work, 0); // warm up
  const together = await timed(work, 0);
  const spaced = await timed(work, GAP_MS);
  return { togetherUs: together, spacedUs: spaced };
}

const json = await probe(jsonText);
const yjs = await probe(yjsWrite());
process.stdout.write(`${JSON.stringify({ gapMs: GAP_MS, json, yjs })}\n`);
