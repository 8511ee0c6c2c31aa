/** A new Yjs peer is sent the whole state as encoded once, plus the updates made since. */
import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import * as encoding from 'lib0/encoding';
import { readSeedFile } from '../src/document/seed.js';
import { projectFrom, projectOf, seedPath } from './support/document.js';

const EMPTY = Y.encodeStateVector(new Y.Doc());

/** A peer document built from what the server sends, in the order it sends it: the updates since the whole state first. */
function peerFrom([whole, ...since]: Uint8Array[]): Y.Doc {
  const peer = new Y.Doc();
  for (const u of since) Y.applyUpdate(peer, u);
  Y.applyUpdate(peer, whole);
  return peer;
}

describe('the state sent to a new peer', () => {
  it('is the whole document encoded once, with the updates made since, and equals the document', async () => {
    const t = projectFrom(await readSeedFile(seedPath('saas')));
    const first = t.project.missingFrom(EMPTY);
    expect(first).toEqual([Y.encodeStateAsUpdate(t.project.doc)]);
    expect(t.project.missingFrom(EMPTY)[0]).toBe(first[0]);
    const [id] = [...t.project.recordKeys('resources')];
    const key = Number.isNaN(Number(id)) ? id : Number(id);
    t.apply({ resources: { updated: [{ id: key, name: 'renamed for the peer' }] } });
    const second = t.project.missingFrom(EMPTY);
    // The same encoding of the whole state, and the change after it.
    expect(second[0]).toBe(first[0]);
    expect(second.length).toBe(2);
    const peer = peerFrom(second);
    expect(JSON.stringify(peer.getMap('resources').toJSON())).toContain('renamed for the peer');
    expect(Y.encodeStateVector(peer)).toEqual(Y.encodeStateVector(t.project.doc));
    expect(peer.store.pendingStructs).toBeNull();
    // A peer that has some of it gets only the rest.
    const since = Y.encodeStateVector(peer);
    expect(t.project.missingFrom(since)).toHaveLength(1);
    expect(t.project.missingFrom(since)[0].length).toBeLessThan(first[0].length);
  });

  it('treats a state vector of other documents\' clients as empty', async () => {
    const t = projectFrom(await readSeedFile(seedPath('saas')));
    const other = new Y.Doc();
    other.getMap('x').set('a', 1);
    const whole = t.project.missingFrom(EMPTY);
    expect(t.project.missingFrom(Y.encodeStateVector(other))[0]).toBe(whole[0]);
  });

  it('treats a state vector that names the document\'s own clients at clock 0 as empty', async () => {
    const t = projectFrom(await readSeedFile(seedPath('saas')));
    const whole = t.project.missingFrom(EMPTY);
    // Yjs never writes a clock of 0, but a peer may send one: it holds nothing of those clients.
    const e = encoding.createEncoder();
    const clients = [...t.project.doc.store.clients.keys()];
    encoding.writeVarUint(e, clients.length);
    for (const client of clients) (encoding.writeVarUint(e, client), encoding.writeVarUint(e, 0));
    expect(t.project.missingFrom(encoding.toUint8Array(e))[0]).toBe(whole[0]);
  });

  it('is kept with up to 256 updates after it, however small, and encoded again at the next', () => {
    const t = projectOf({ resources: Array.from({ length: 2000 }, (_, i) => ({ id: i + 1, name: `Resource ${i + 1}` })) });
    const first = t.project.missingFrom(EMPTY);
    for (let i = 0; i < 256; i++) t.apply({ resources: { updated: [{ id: 1, name: `n${i}` }] } });
    const kept = t.project.missingFrom(EMPTY);
    expect(kept).toHaveLength(257);
    expect(kept[0]).toBe(first[0]);
    t.apply({ resources: { updated: [{ id: 1, name: 'the next one' }] } });
    const again = t.project.missingFrom(EMPTY);
    expect(again).toHaveLength(1);
    expect(again[0]).not.toBe(first[0]);
    expect(peerFrom(again).getMap('resources').toJSON()['1']).toMatchObject({ name: 'the next one' });
  });

  it('is encoded again once the updates since would weigh more than half of it', async () => {
    const t = projectFrom(await readSeedFile(seedPath('saas')));
    const first = t.project.missingFrom(EMPTY);
    const [id] = [...t.project.recordKeys('resources')];
    const key = Number.isNaN(Number(id)) ? id : Number(id);
    const big = 'x'.repeat(first[0].length);
    t.apply({ resources: { updated: [{ id: key, name: big }] } });
    const after = t.project.missingFrom(EMPTY);
    expect(after[0]).not.toBe(first[0]);
    expect(after).toHaveLength(1);
    expect(JSON.stringify(peerFrom(after).getMap('resources').toJSON())).toContain(big);
  });
});
