/**
 * Merging Yjs updates off the event loop. Folding the update log into snapshot chunks is pure
 * byte work (Y.mergeUpdatesV2), so it runs in a worker thread: compaction never stalls traffic.
 */
import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import * as Y from 'yjs';

/** Below this many bytes the round trip to the worker costs more than merging here. */
const INLINE_BYTES = 32 * 1024;

const workerSource = (yjs: string) => `
import { parentPort } from 'node:worker_threads';
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import * as Y from ${JSON.stringify(yjs)};
// Merging is background work: at the lowest CPU priority it takes only cores live traffic leaves
// idle. On Linux a thread has an id of its own that setpriority accepts; elsewhere this is skipped.
try {
  setPriority(Number(readlinkSync('/proc/thread-self').split('/').pop()), 19);
} catch {}
// The first merges of a fresh thread run unoptimised code and take several times longer; a few
// rounds on a small document of the same shape (records as maps, field edits) get that done first.
{
  const doc = new Y.Doc();
  const updates = [];
  doc.on('updateV2', (u) => updates.push(u));
  const records = doc.getMap('warm-up');
  for (let i = 0; i < 100; i++) {
    const record = new Y.Map();
    records.set(String(i), record);
    record.set('$base', { id: i, name: 'record ' + i, percentDone: 0 });
  }
  for (let i = 0; i < 200; i++) records.get(String(i % 100)).set('percentDone', i);
  for (let round = 0; round < 5; round++) Y.mergeUpdatesV2(updates);
  doc.destroy();
}
parentPort.on('message', ({ id, updates }) => {
  try {
    const merged = Y.mergeUpdatesV2(updates);
    parentPort.postMessage({ id, merged }, [merged.buffer]);
  } catch (e) {
    parentPort.postMessage({ id, error: String(e && e.message || e) });
  }
});`;

type Pending = { resolve: (u: Uint8Array) => void; reject: (e: Error) => void };

class MergeWorker {
  private worker: Worker | null = null;
  private readonly pending = new Map<number, Pending>();
  private next = 0;

  private start(): Worker {
    const yjs = pathToFileURL(createRequire(import.meta.url).resolve('yjs')).href;
    const worker = new Worker(new URL(`data:text/javascript,${encodeURIComponent(workerSource(yjs))}`));
    worker.on('message', ({ id, merged, error }: { id: number; merged?: Uint8Array; error?: string }) => {
      const p = this.pending.get(id);
      this.pending.delete(id);
      // Held only while merges are pending: an idle worker must not keep the process alive.
      if (this.pending.size === 0) worker.unref();
      // Stryker disable OptionalChaining: a guard no test can reach: the worker answers each id once, and an answer arriving after fail() cleared the ids would throw here, in an event handler
      if (error !== undefined) p?.reject(new Error(error));
      else p?.resolve(merged!);
      // Stryker restore OptionalChaining
    });
    worker.on('error', (e) => this.fail(e));
    worker.on('exit', () => this.fail(new Error('merge worker exited')));
    // After the listeners: adding a 'message' listener refs the worker's port again, and an idle
    // worker kept a process that embeds the server alive after close().
    worker.unref();
    return worker;
  }

  private fail(error: Error): void {
    this.worker = null;
    for (const p of this.pending.values()) p.reject(error);
    this.pending.clear();
  }

  /** Start the worker ahead of need: its start-up (loading Yjs) would otherwise land on the first merge. */
  warmUp(): void {
    try {
      this.worker ??= this.start();
    } catch {
      // Merges fall back to this thread.
    }
  }

  merge(updates: Uint8Array[]): Promise<Uint8Array> {
    this.worker ??= this.start();
    // Stryker disable next-line UpdateOperator: counting down gives ids as distinct (only equality matches an answer to its request)
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker!.ref();
      this.worker!.postMessage({ id, updates });
    });
  }

  async stop(): Promise<void> {
    const worker = this.worker;
    this.worker = null;
    if (worker) await worker.terminate();
  }
}

const shared = new MergeWorker();

/** One update equivalent to applying `updates` in order. */
export async function mergeUpdates(updates: Uint8Array[]): Promise<Uint8Array> {
  if (updates.length === 1) return updates[0];
  const bytes = updates.reduce((n, u) => n + u.byteLength, 0);
  if (bytes <= INLINE_BYTES) return Y.mergeUpdatesV2(updates);
  try {
    return await shared.merge(updates);
  } catch {
    // A worker that cannot start (or died) must not stop compaction.
    return Y.mergeUpdatesV2(updates);
  }
}

export function warmUpMerger(): void {
  shared.warmUp();
}

export function stopMerger(): Promise<void> {
  return shared.stop();
}
