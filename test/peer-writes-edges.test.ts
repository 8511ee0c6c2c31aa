/**
 * A Yjs peer's writes that are not Bryntum records: list content written into a store's or the
 * project's root, roots that are no store, versions and server version ids, values nested to the
 * limit, and long keys in refusals. Checked before applying (checkPeerUpdate) and when applied
 * (ProjectDocument.applyUpdate).
 */
import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { checkPeerUpdate } from '../src/document/peer-update-check.js';
import { newRecord, storeMap } from '../src/document/layout.js';
import { ProjectDocument } from '../src/document/project-document.js';
import { RefusedChange } from '../src/document/refused.js';
import { projectOf, replicaOf } from './support/document.js';

type Rec = Record<string, any>;
const LIMITS = { maxDepth: 64 };
const LONG = `k${'x'.repeat(100)}`;

/** What the replica has that the server lacks. */
const missing = (replica: Y.Doc, project: ProjectDocument) => Y.encodeStateAsUpdate(replica, Y.encodeStateVector(project.doc));

const push = (replica: Y.Doc, project: ProjectDocument): Rec | null => project.applyUpdate(missing(replica, project), 'peer') as Rec | null;

/** The message a call throws, or null. */
function refusal(f: () => unknown): string | null {
  try {
    f();
  } catch (e) {
    if (!(e instanceof RefusedChange)) throw e;
    return e.message;
  }
  return null;
}

/** A value of `levels` nested objects ({ d: { d: ... 1 } }): the outermost is at depth 0. */
const nested = (levels: number): unknown => (levels === 0 ? 1 : { d: nested(levels - 1) });

describe("a Yjs peer's writes outside the records", () => {
  it('list content in a store or the project root, and maps in roots that are no store, change no record and are told as nothing', () => {
    const t = projectOf({ tasks: [{ id: 1 }], resources: [{ id: 'r1' }] }, 'number');
    const evil = new Y.Doc();
    const listed = new Y.Map<unknown>();
    evil.getArray('tasks').insert(0, [1, listed]);
    listed.set('meta', new Y.Map<unknown>());
    evil.getArray('resources').insert(0, ['x']);
    evil.getArray('dependencies').insert(0, [new Y.Map()]);
    evil.getArray('project').insert(0, [new Y.Map()]);
    evil.getMap('elsewhere').set('m', new Y.Map());
    const first = Y.encodeStateAsUpdate(evil);
    expect(() => checkPeerUpdate(t.project.doc, first, LIMITS)).not.toThrow();
    const told = t.project.applyUpdate(first, 'peer');
    expect(Object.keys(told ?? {}).filter((k) => k !== 'project')).toEqual([]);
    expect(Object.keys(told?.project ?? {})).toEqual([]);

    const since = Y.encodeStateVector(evil);
    listed.set('id', 5);
    listed.set('parentId', 1);
    (listed.get('meta') as Y.Map<unknown>).set('note', 'inside a map that is no record');
    (evil.getArray('project').get(0) as Y.Map<unknown>).set('name', 'not a field');
    (evil.getMap('elsewhere').get('m') as Y.Map<unknown>).set('x', 1);
    const second = Y.encodeStateAsUpdate(evil, since);
    expect(() => checkPeerUpdate(t.project.doc, second, LIMITS)).not.toThrow();
    expect(t.project.applyUpdate(second, 'peer')).toBeNull();
    expect(t.project.recordKeys('tasks')).toEqual(['1']);
    expect(t.children(null)).toEqual([1]);
  });

  it("a replica's change of a project field is told as that field", () => {
    const t = projectOf({ project: { hoursPerDay: 24 }, tasks: [{ id: 1 }] }, 'number');
    const replica = replicaOf(t.project);
    replica.getMap('project').set('hoursPerDay', 8);
    expect(push(replica, t.project)).toEqual({ project: { hoursPerDay: 8 } });
    replica.getMap('project').delete('hoursPerDay');
    expect(push(replica, t.project)).toEqual({ project: { hoursPerDay: null } });
  });

  it("a replica changing a record's id, as a field or in its base, is refused", () => {
    const t = projectOf({ resources: [{ id: 'r1' }, { id: 'r2' }] });
    const replica = replicaOf(t.project);
    storeMap(replica, 'resources').get('r1')!.set('id', 'other');
    expect(refusal(() => push(replica, t.project))).toBe(`resources "r1": a record's key must be its id as text`);
    const again = replicaOf(t.project);
    storeMap(again, 'resources').get('r2')!.set('$base', { id: 'other' });
    expect(refusal(() => push(again, t.project))).toBe(`resources "r2": a record's key must be its id as text`);
  });

  it("another field of a record stored under a key that is not its id can still be edited", () => {
    const doc = new Y.Doc();
    storeMap(doc, 'resources').set('r1', newRecord({ id: 'other', name: 'a' }));
    const project = new ProjectDocument(doc);
    const replica = replicaOf(project);
    storeMap(replica, 'resources').get('r1')!.set('name', 'b');
    expect(push(replica, project)).toEqual({ resources: { updated: [{ id: 'other', name: 'b' }] } });
  });
});

describe('a peer update checked before it is applied', () => {
  it('judges the records of a peer that keeps deleted content by what its update leaves live', () => {
    const t = projectOf({ resources: [{ id: 'r0' }] });
    const peer = new Y.Doc({ gc: false });
    Y.applyUpdate(peer, Y.encodeStateAsUpdate(t.project.doc));
    const since = Y.encodeStateVector(peer);
    const resources = peer.getMap('resources');
    // Each text is replaced by a record at once: four separate deleted stretches in the update.
    for (let i = 1; i <= 4; i++) {
      resources.set(`r${i}`, 'text');
      const record = new Y.Map<unknown>();
      resources.set(`r${i}`, record);
      record.set('id', `r${i}`);
    }
    const check = () => refusal(() => checkPeerUpdate(t.project.doc, Y.encodeStateAsUpdate(peer, since), LIMITS));
    expect(check()).toBeNull();
    resources.set('bad', 'live text');
    expect(check()).toBe('resources "bad": a record must be a map');
    // Still when content deleted later in the update follows it.
    resources.set('r5', 'text');
    resources.set('r5', new Y.Map());
    expect(check()).toBe('resources "bad": a record must be a map');
  });

  it("passes writes that build on another peer's writes the server has not received yet", () => {
    for (const serverKnowsThatPeer of [false, true]) {
      const t = projectOf({ resources: [{ id: 'r1', name: 'a' }] });
      const a = replicaOf(t.project);
      const r1 = () => storeMap(a, 'resources').get('r1')!;
      if (serverKnowsThatPeer) {
        r1().set('name', 'b');
        push(a, t.project);
      }
      const added = new Y.Map<unknown>();
      storeMap(a, 'resources').set('r-a', added);
      added.set('id', 'r-a');
      r1().set('seen', 1);
      // Peer b has all of a's writes, the server only some.
      const b = new Y.Doc();
      Y.applyUpdate(b, Y.encodeStateAsUpdate(a));
      const since = Y.encodeStateVector(b);
      storeMap(b, 'resources').get('r-a')!.set('name', 'from b');
      storeMap(b, 'resources').get('r1')!.set('seen', 2);
      expect(refusal(() => checkPeerUpdate(t.project.doc, Y.encodeStateAsUpdate(b, since), LIMITS))).toBeNull();
    }
  });
});

describe('versions and server version ids written by a peer', () => {
  it('version content stays out of datasets and changes, a record named like a server version is not served as a version, and other stores keep both', async () => {
    const t = projectOf({ versions: [{ id: 'version-1', name: 'first' }], resources: [{ id: 'r1' }] });
    const replica = replicaOf(t.project);
    const record = (fields: Rec) => {
      const m = new Y.Map<unknown>();
      for (const [k, v] of Object.entries(fields)) m.set(k, v);
      return m;
    };
    storeMap(replica, 'versions').set('weft-9', record({ id: 'weft-9', name: 'posing' }));
    storeMap(replica, 'versions').set('v2', record({ id: 'v2', name: 'second', content: { big: true } }));
    storeMap(replica, 'resources').set('weft-3', record({ id: 'weft-3', content: 'note' }));
    const told = t.project.applyUpdate(Y.encodeStateAsUpdateV2(replica, Y.encodeStateVector(t.project.doc)), 'peer', true) as Rec;
    expect(told.versions.added.find((r: Rec) => r.id === 'v2')).toEqual({ id: 'v2', name: 'second' });
    expect(told.resources.added).toEqual([{ id: 'weft-3', content: 'note' }]);
    const dataset = (await t.project.dataset()) as Rec;
    expect(dataset.versionsData).toEqual([{ id: 'version-1', name: 'first' }, { id: 'v2', name: 'second' }]);
    expect(dataset.resourcesData).toEqual([{ id: 'r1' }, { id: 'weft-3', content: 'note' }]);
  });
});

describe('how deep a peer may nest a value', () => {
  it('is the limit less the depth the value would have in a change: a record field, its base, a project field', () => {
    const t = projectOf({ resources: [{ id: 'r1', name: 'a' }] });
    const peer = replicaOf(t.project);
    const since = Y.encodeStateVector(peer);
    const check = () => refusal(() => checkPeerUpdate(t.project.doc, Y.encodeStateAsUpdate(peer, since), LIMITS));
    const r1 = storeMap(peer, 'resources').get('r1')!;
    r1.set('deep', nested(61));
    expect(check()).toBeNull();
    r1.set('deep', nested(62));
    expect(check()).toBe('values may be nested at most 60 levels deep');
    r1.delete('deep');
    r1.set('$base', { id: 'r1', d: nested(61) });
    expect(check()).toBeNull();
    r1.set('$base', { id: 'r1', d: nested(62) });
    expect(check()).toBe('values may be nested at most 61 levels deep');
    r1.delete('$base');
    peer.getMap('project').set('deep', nested(63));
    expect(check()).toBeNull();
    peer.getMap('project').set('deep', nested(64));
    expect(check()).toBe('values may be nested at most 62 levels deep');
  });
});

describe('refusals of a peer write under a long key', () => {
  it('name the store and the first 80 characters of the key, before and when applying', () => {
    const t = projectOf({ tasks: [{ id: 1 }] });
    const fresh = new Y.Doc();
    fresh.getMap('tasks').set(LONG, 42);
    const update = Y.encodeStateAsUpdate(fresh);
    const expected = `tasks ${JSON.stringify(LONG.slice(0, 80))}: a record must be a map`;
    expect(refusal(() => checkPeerUpdate(t.project.doc, update, LIMITS))).toBe(expected);
    expect(refusal(() => t.project.applyUpdate(update, 'peer'))).toBe(expected);
  });

  it('name the first 80 characters of a field holding something other than plain JSON', () => {
    const t = projectOf({ resources: [{ id: 'r1' }] });
    const peer = replicaOf(t.project);
    const since = Y.encodeStateVector(peer);
    const field = 'f'.repeat(100);
    storeMap(peer, 'resources').get('r1')!.set(field, new Y.Map());
    expect(refusal(() => checkPeerUpdate(t.project.doc, Y.encodeStateAsUpdate(peer, since), LIMITS))).toBe(`${JSON.stringify(field.slice(0, 80))}: values must be plain JSON`);
  });
});
