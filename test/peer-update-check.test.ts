/** A Yjs peer's update is checked before it touches the project: refusing it then costs no rebuild. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { checkPeerUpdate, MalformedUpdate } from '../src/document/peer-update-check.js';
import { RefusedChange } from '../src/document/refused.js';
import { readSeedFile } from '../src/document/seed.js';
import { classicLogin } from './support/client.js';
import { projectFrom, seedPath } from './support/document.js';
import { startServer, type TestServer } from './support/server.js';
import { closeCodeAfter as closeCodeAfterOn, syncFrame } from './support/yjs-raw.js';

const LIMITS = { maxDepth: 64 };

/** A peer that has synced the project, so its writes name the server's items as their neighbours. */
async function syncedPeer(): Promise<{ server: Y.Doc; peer: Y.Doc; since: Uint8Array }> {
  const server = projectFrom(await readSeedFile(seedPath('saas'))).project.doc;
  const peer = new Y.Doc();
  Y.applyUpdate(peer, Y.encodeStateAsUpdate(server));
  return { server, peer, since: Y.encodeStateVector(peer) };
}

describe('checking a peer update before applying it', () => {
  it('refuses bytes that do not decode as an update, leaving the document untouched', async () => {
    const { server, peer } = await syncedPeer();
    const before = Y.encodeStateVector(server);
    peer.getMap('resources').set('new', new Y.Map());
    const update = Y.encodeStateAsUpdate(peer, before);
    for (const bytes of [update.subarray(0, update.length - 3), new Uint8Array([1, 2, 3, 250, 250, 250]), new Uint8Array([0xff])]) {
      expect(() => checkPeerUpdate(server, bytes, LIMITS)).toThrow(MalformedUpdate);
    }
    expect(Y.encodeStateVector(server)).toEqual(before);
  });

  it('refuses a value that is not a map under a store key, new or written over an existing record', async () => {
    const { server, peer, since } = await syncedPeer();
    const fresh = new Y.Doc();
    fresh.getMap('tasks').set('9999', 'not a record');
    expect(() => checkPeerUpdate(server, Y.encodeStateAsUpdate(fresh), LIMITS)).toThrow(RefusedChange);
    // Written over a record the peer knows: the update names the old item, not the store.
    const key = [...peer.getMap('resources').keys()][0];
    peer.getMap('resources').set(key, new Y.Text('junk'));
    expect(() => checkPeerUpdate(server, Y.encodeStateAsUpdate(peer, since), LIMITS)).toThrow(/resources .*: a record must be a map/);
  });

  it('lets through records as maps, field writes inside records, and writes outside the stores', async () => {
    const { server, peer, since } = await syncedPeer();
    const resources = peer.getMap<Y.Map<unknown>>('resources');
    peer.transact(() => {
      const record = new Y.Map<unknown>();
      resources.set('r-new', record);
      record.set('id', 'r-new');
      record.set('name', 'someone');
      const [key] = resources.keys();
      resources.get(key)!.set('name', 'renamed');
      peer.getMap('elsewhere').set('x', 42);
    });
    expect(() => checkPeerUpdate(server, Y.encodeStateAsUpdate(peer, since), LIMITS)).not.toThrow();
  });

  it('refuses a new record without a usable id, or whose key is not its id', async () => {
    const { server } = await syncedPeer();
    const cases: [string, (record: Y.Map<unknown>) => void, RegExp][] = [
      ['none', () => undefined, /res-x": a record's id must be a number or a non-empty text/],
      ['an object', (r) => r.set('id', { not: 'an id' }), /a record's id must be/],
      ['an empty text in $base', (r) => r.set('$base', { id: '', name: 'x' }), /a record's id must be/],
      ['another id', (r) => r.set('id', 'res-y'), /res-x": a record's key must be its id as text/],
    ];
    for (const [what, write, error] of cases) {
      const peer = new Y.Doc();
      peer.transact(() => {
        const record = new Y.Map<unknown>();
        peer.getMap('resources').set('res-x', record);
        write(record);
      });
      expect(() => checkPeerUpdate(server, Y.encodeStateAsUpdate(peer), LIMITS), what).toThrow(error);
    }
    const good = new Y.Doc();
    good.transact(() => {
      const record = new Y.Map<unknown>();
      good.getMap('resources').set('res-x', record);
      record.set('$base', { id: 'res-x', name: 'fine' });
    });
    expect(() => checkPeerUpdate(server, Y.encodeStateAsUpdate(good), LIMITS)).not.toThrow();
  });

  it("refuses record fields a change could not hold: forbidden names, values that are not plain JSON or nest too deep", async () => {
    const { server, peer, since } = await syncedPeer();
    const [key] = peer.getMap<Y.Map<unknown>>('resources').keys();
    const existing = () => peer.getMap<Y.Map<unknown>>('resources').get(key)!;
    const [projectField] = peer.getMap('project').keys();
    expect(projectField).toBeDefined();
    let deep: unknown = 'bottom';
    for (let i = 0; i < 70; i++) deep = { d: deep };
    const cases: [string, () => void, RegExp][] = [
      ['a forbidden name', () => existing().set('constructor', 1), /"constructor" may not be used as a field name/],
      ['a key of Object.prototype inside a value', () => existing().set('notes', JSON.parse('{"__proto__": {"x": 1}}')), /values must be plain JSON|may not be used/],
      ['a value nested too deep', () => existing().set('deep', deep), /nested at most/],
      // The second write names the first, in the same update, as its neighbour: its place is found through it.
      ['a field written twice in one update, too deep the second time', () => peer.transact(() => (existing().set('twice', 'fine'), existing().set('twice', deep))), /nested at most/],
      ['a Yjs map as a project field', () => peer.getMap('project').set('nested', new Y.Map()), /values must be plain JSON/],
      ['bytes as a record field', () => existing().set('bytes', new Uint8Array([1, 2])), /values must be plain JSON/],
      ['a project field holding a key of Object.prototype', () => peer.getMap('project').set('notes', JSON.parse('{"a": {"__proto__": []}}')), /values must be plain JSON|may not be used/],
      // Written over a field the project has: the update names the old item, not the project map.
      ['a project field it has, written over with a value nested too deep', () => peer.getMap('project').set(projectField, deep), /nested at most/],
    ];
    for (const [what, write, error] of cases) {
      const before = Y.encodeStateVector(peer);
      write();
      expect(() => checkPeerUpdate(server, Y.encodeStateAsUpdate(peer, before), LIMITS), what).toThrow(error);
    }
    // The same writes at a depth a change may hold pass.
    const fine = new Y.Doc();
    Y.applyUpdate(fine, Y.encodeStateAsUpdate(server));
    const before = Y.encodeStateVector(fine);
    fine.getMap<Y.Map<unknown>>('resources').get(key)!.set('deep', { a: { b: ['c'] } });
    fine.getMap('project').set('notes', { a: { b: ['c'] } });
    expect(() => checkPeerUpdate(server, Y.encodeStateAsUpdate(fine, before), LIMITS)).not.toThrow();
    expect(since).toBeDefined();
  });

  it('lets through a non-map that the same update replaced by a record (gone before it lands)', async () => {
    const { server, peer, since } = await syncedPeer();
    const resources = peer.getMap<unknown>('resources');
    resources.set('r-twice', 'first a text');
    const record = new Y.Map<unknown>();
    resources.set('r-twice', record);
    record.set('id', 'r-twice');
    expect(() => checkPeerUpdate(server, Y.encodeStateAsUpdate(peer, since), LIMITS)).not.toThrow();
  });
});

describe('a server given bad peer updates', () => {
  let s: TestServer;
  const lines: string[] = [];
  beforeAll(async () => {
    s = await startServer({}, undefined, (line) => lines.push(line));
  });
  afterAll(async () => s?.dispose());

  const closeCodeAfter = (frame: Uint8Array) => closeCodeAfterOn(s.port, frame, 3000);

  it('closes the peer (1007 for bytes that do not decode, 1008 for a record that is not a map) without rebuilding the project', async () => {
    const c = await classicLogin(s.port);
    c.send({ command: 'dataset', project: 1 });
    await c.nextOf('dataset');
    const junk = new Y.Doc();
    junk.getMap('tasks').set('424242', 42);
    const update = Y.encodeStateAsUpdate(junk);
    expect(await closeCodeAfter(syncFrame(2, update.subarray(0, update.length - 2)))).toBe(1007);
    expect(await closeCodeAfter(syncFrame(2, update))).toBe(1008);
    expect(lines.filter((l) => /reloading from storage/.test(l))).toEqual([]);
    expect(lines.some((l) => /a record must be a map/.test(l) || /update refused/.test(l))).toBe(true);
    // The project is as it was.
    const d = await classicLogin(s.port);
    d.send({ command: 'dataset', project: 1 });
    const reply = await d.nextOf('dataset');
    expect(JSON.stringify(reply.dataset)).not.toContain('424242');
    await Promise.all([c.close(), d.close()]);
  });

  it('rebuilds the project after a refusal only the applied update shows, writing on as the same Yjs client', async () => {
    const room = (await s.server.projects.open(1))!;
    const doc = () => (room as unknown as { document: { doc: Y.Doc } }).document.doc;
    const before = doc();
    const clients = Y.decodeStateVector(Y.encodeStateVector(before)).size;
    for (let i = 0; i < 3; i++) {
      // An existing record's id changed to one that is not a number or a text: seen once applied.
      const peer = new Y.Doc();
      Y.applyUpdate(peer, Y.encodeStateAsUpdate(doc()));
      const since = Y.encodeStateVector(peer);
      const [key] = peer.getMap<Y.Map<unknown>>('resources').keys();
      peer.getMap<Y.Map<unknown>>('resources').get(key)!.set('id', { not: 'an id', i });
      expect(await closeCodeAfter(syncFrame(2, Y.encodeStateAsUpdate(peer, since)))).toBe(1008);
    }
    expect(lines.filter((l) => /reloading from storage/.test(l)).length).toBe(3);
    expect(doc()).not.toBe(before);
    expect(doc().clientID).toBe(before.clientID);
    expect(Y.decodeStateVector(Y.encodeStateVector(doc())).size).toBe(clients);
  });
});
