/** Merging large update runs off the main thread, and a worker that goes away loses no merge. */
import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { mergeUpdates, stopMerger } from '../src/persistence/merger.js';

/** Updates of one document, well over what is merged on this thread (32 KB). */
function largeUpdates(): Uint8Array[] {
  const doc = new Y.Doc();
  const updates: Uint8Array[] = [];
  doc.on('updateV2', (u: Uint8Array) => updates.push(u));
  for (let i = 0; i < 40; i++) doc.getMap('tasks').set(String(i), 'x'.repeat(2_000));
  return updates;
}

const stateOf = (update: Uint8Array) => {
  const doc = new Y.Doc();
  Y.applyUpdateV2(doc, update);
  return doc.getMap('tasks').toJSON();
};

describe('merging updates', () => {
  it('gives the merge of large updates whole, and still gives it when the worker exits while merging', async () => {
    const updates = largeUpdates();
    const expected = stateOf(Y.mergeUpdatesV2(updates));
    expect(stateOf(await mergeUpdates(updates))).toEqual(expected);
    // The worker ends (as when the server stops) with a merge sent to it: the merge is done here instead.
    const merging = mergeUpdates(updates);
    await stopMerger();
    const outcome = await Promise.race([merging, new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 3000))]);
    expect(outcome).not.toBe('hung');
    expect(stateOf(outcome as Uint8Array)).toEqual(expected);
  });
});
