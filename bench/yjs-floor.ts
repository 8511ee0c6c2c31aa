/**
 * What the Yjs structure alone costs: a Y.Doc holding one nested Y.Map per record (each with a
 * single number), the least a project can be with a map per record, for record counts given as
 * `store=count`. Loaded from its encoded state as Weft loads a project; prints the increments of
 * RSS and V8 heap after a full GC as one JSON line (KB).
 *
 *   node --expose-gc yjs-floor.js tasks=100000 dependencies=100000 ...
 */
import * as Y from 'yjs';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');
const collect = () => {
  for (let i = 0; i < 3; i++) gc();
  const { rss, heapUsed } = process.memoryUsage();
  return { rss, heapUsed };
};

const counts = process.argv.slice(2).map((arg) => {
  const [store, n] = arg.split('=');
  if (!store || !Number.isInteger(Number(n))) throw new Error(`expected store=count, got ${arg}`);
  return [store, Number(n)] as const;
});

function encoded(): Uint8Array {
  const doc = new Y.Doc();
  doc.transact(() => {
    for (const [store, n] of counts) {
      const map = doc.getMap(store);
      for (let i = 1; i <= n; i++) {
        const record = new Y.Map();
        map.set(String(i), record);
        record.set('$base', i);
      }
    }
  });
  const update = Y.encodeStateAsUpdateV2(doc);
  doc.destroy();
  return update;
}

const update = encoded();
const before = collect();
const doc = new Y.Doc();
Y.applyUpdateV2(doc, update);
const after = collect();
const records = counts.reduce((n, [, c]) => n + c, 0);
process.stdout.write(`${JSON.stringify({ records, rssKb: Math.round((after.rss - before.rss) / 1024), heapKb: Math.round((after.heapUsed - before.heapUsed) / 1024), keep: doc.share.size })}\n`);
