/**
 * After a Yjs peer's update is applied, a record's id must still be what its key says; maps nested
 * in a record's fields are values, not records, and hold what they like.
 */
import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { RefusedChange } from '../src/document/refused.js';
import { projectOf } from './support/document.js';

const LONG = `r${'x'.repeat(100)}`;

function peerOf(doc: Y.Doc): { peer: Y.Doc; resource: (key: string) => Y.Map<unknown>; since: () => Uint8Array } {
  const peer = new Y.Doc();
  Y.applyUpdate(peer, Y.encodeStateAsUpdate(doc));
  let vector = Y.encodeStateVector(peer);
  return {
    peer,
    resource: (key) => peer.getMap<Y.Map<unknown>>('resources').get(key)!,
    since: () => {
      const update = Y.encodeStateAsUpdate(peer, vector);
      vector = Y.encodeStateVector(peer);
      return update;
    },
  };
}

describe("a Yjs peer and records' ids", () => {
  it("is refused for changing an existing record's id, by store and the first 80 characters of the key", () => {
    const { project } = projectOf({ resources: { rows: [{ id: LONG, name: 'long' }] } });
    const { resource, since } = peerOf(project.doc);
    resource(LONG).set('id', 'another');
    let refusal: unknown;
    try {
      project.applyUpdate(since(), 'peer');
    } catch (e) {
      refusal = e;
    }
    expect(refusal).toBeInstanceOf(RefusedChange);
    expect((refusal as Error).message).toBe(`resources ${JSON.stringify(LONG.slice(0, 80))}: a record's key must be its id as text`);
  });

  it("tells clients of a record removed in the update that also changed its id by the id they know it by", () => {
    const { project } = projectOf({ resources: { rows: [{ id: 7, name: 'seven' }, { id: 'r1', name: 'a' }] } });
    // One peer changes the ids while another removes the records; the server gets both at once.
    const [ann, ben] = [peerOf(project.doc), peerOf(project.doc)];
    const resources = (peer: Y.Doc) => peer.getMap<Y.Map<unknown>>('resources');
    resources(ann.peer).get('7')!.set('id', 'other');
    resources(ann.peer).get('r1')!.set('id', 8);
    resources(ben.peer).delete('7');
    resources(ben.peer).delete('r1');
    const told = project.applyUpdate(Y.mergeUpdates([ann.since(), ben.since()]), 'peer') as { resources: { removed: { id: unknown }[] } };
    expect(told.resources.removed).toEqual([{ id: 7 }, { id: 'r1' }]);
  });

  it('may register a store with any value, a map holding an id other than the store name too', () => {
    const { project } = projectOf({ resources: { rows: [{ id: 'r1', name: 'a' }] } });
    const { peer, since } = peerOf(project.doc);
    const flag = new Y.Map<unknown>();
    peer.getMap('$stores').set('notes', flag);
    project.applyUpdate(since(), 'peer');
    flag.set('id', 'other');
    expect(() => project.applyUpdate(since(), 'peer')).not.toThrow();
    expect(project.doc.getMap('$stores').has('notes')).toBe(true);
  });

  it('may nest a map holding any id in a field of a record, and a change inside it is told as that field', () => {
    const { project } = projectOf({ resources: { rows: [{ id: 'r1', name: 'a' }] } });
    const { resource, since } = peerOf(project.doc);
    const nested = new Y.Map<unknown>();
    resource('r1').set('meta', nested);
    nested.set('id', 'other');
    // As clients are sent it (the nested map as JSON).
    expect(JSON.parse(JSON.stringify(project.applyUpdate(since(), 'peer')))).toEqual({ resources: { updated: [{ id: 'r1', meta: { id: 'other' } }] } });
    // Changed once it exists: only then is the nested map itself among what the update changed.
    nested.set('id', 'changed');
    // Clients are told the field that holds it, whole.
    expect(JSON.parse(JSON.stringify(project.applyUpdate(since(), 'peer')))).toEqual({ resources: { updated: [{ id: 'r1', meta: { id: 'changed' } }] } });
    const deeper = new Y.Map<unknown>();
    nested.set('inner', deeper);
    project.applyUpdate(since(), 'peer');
    deeper.set('note', 'deep');
    expect(JSON.parse(JSON.stringify(project.applyUpdate(since(), 'peer')))).toEqual({ resources: { updated: [{ id: 'r1', meta: { id: 'changed', inner: { note: 'deep' } } }] } });
  });
});
