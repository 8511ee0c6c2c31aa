/** ProjectDocument built from stored states: deleted content is not kept; how a record's fields are read. */
import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { ProjectDocument } from '../src/document/project-document.js';
import { parseSeed, writeSeed } from '../src/document/seed.js';
import { newRecord, readField } from '../src/document/layout.js';
import { projectOf } from './support/document.js';

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

describe('a project document replaced with a seed', () => {
  it("keeps none of the project fields it had, only the seed's", async () => {
    const t = projectOf({ project: { calendar: 'general' }, tasks: [{ id: 1, name: 'One' }] });
    t.apply({ project: { hoursPerDay: 6 } });
    t.project.replaceWith(parseSeed({ project: { daysPerWeek: 4 }, tasks: [{ id: 2, name: 'Two' }] }, 'seed'));
    const dataset = (await t.project.dataset()) as { project: unknown; tasksData: unknown };
    expect(dataset.project).toEqual({ daysPerWeek: 4 });
    expect(dataset.tasksData).toEqual([{ id: 2, name: 'Two' }]);
  });
});

describe('a project document serving dataset texts stored with its state', () => {
  it("serves a Yjs peer's first record in a store the stored state never had", async () => {
    const { project } = projectOf({ tasks: [{ id: 1, name: 'One' }] });
    const state = project.encodeState();
    const loaded = ProjectDocument.fromUpdate(state);
    loaded.primeDataset(await ProjectDocument.fromUpdate(state).datasetTexts(false));
    const peer = new Y.Doc();
    Y.applyUpdateV2(peer, state);
    const calendar = new Y.Map<unknown>();
    peer.transact(() => {
      peer.getMap('calendars').set('c1', calendar);
      calendar.set('id', 'c1');
      calendar.set('name', 'Night shift');
    });
    expect(loaded.applyUpdate(Y.encodeStateAsUpdate(peer, Y.encodeStateVector(loaded.doc)), 'peer')).toEqual({ calendars: { added: [{ id: 'c1', name: 'Night shift' }] } });
    const dataset = (await loaded.dataset()) as { calendarsData: unknown[]; tasksData: unknown[] };
    expect(dataset.calendarsData).toEqual([{ id: 'c1', name: 'Night shift' }]);
    expect(dataset.tasksData).toEqual([{ id: 1, name: 'One' }]);
  });
});

describe("a record's field", () => {
  it('is read from its own key once written after the record was made, else from the record as made', () => {
    const doc = new Y.Doc();
    const record = newRecord({ name: 'as made', note: 'kept' });
    doc.getMap('tasks').set('1', record);
    expect(readField(record, 'name')).toBe('as made');
    record.set('name', 'renamed');
    expect(readField(record, 'name')).toBe('renamed');
    expect(readField(record, 'note')).toBe('kept');
    // A peer may write `undefined`: the field then has no value, not the one it was made with.
    record.set('note', undefined);
    expect(readField(record, 'note')).toBeUndefined();
    record.delete('name');
    expect(readField(record, 'name')).toBe('as made');
  });
});
