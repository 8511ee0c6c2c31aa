/** ProjectDocument built from stored states: deleted content is not kept. */
import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { ProjectDocument } from '../src/document/project-document.js';
import { parseSeed, writeSeed } from '../src/document/seed.js';

/** A stored state (written without garbage collection) holding a 1 MB value that was since overwritten. */
function stateWithOverwrittenValue(): Uint8Array {
  const doc = new Y.Doc({ gc: false });
  writeSeed(doc, parseSeed({ project: { name: 'x'.repeat(1_000_000) } }));
  writeSeed(doc, parseSeed({ project: { name: 'short' } }));
  return Y.encodeStateAsUpdateV2(doc);
}

describe('a project document built from a stored state', () => {
  it('drops the content of deleted values, from one update or from stored parts', async () => {
    const state = stateWithOverwrittenValue();
    expect(state.byteLength).toBeGreaterThan(1_000_000);
    const fromUpdate = ProjectDocument.fromUpdate(state);
    const loaded = await ProjectDocument.load([state]);
    for (const document of [fromUpdate, loaded]) {
      expect(Y.encodeStateAsUpdateV2(document.doc).byteLength).toBeLessThan(1000);
      document.destroy();
    }
  });
});
