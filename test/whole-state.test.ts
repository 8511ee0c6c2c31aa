/** A new Yjs peer is sent the whole state, encoded once while the project does not change. */
import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { readSeedFile } from '../src/document/seed.js';
import { projectFrom, seedPath } from './support/document.js';

const EMPTY = Y.encodeStateVector(new Y.Doc());

describe('the state sent to a new peer', () => {
  it('is the whole document, the same bytes until it changes, and then the new state', async () => {
    const t = projectFrom(await readSeedFile(seedPath('saas')));
    const first = t.project.missingFrom(EMPTY);
    expect(first).toEqual(Y.encodeStateAsUpdate(t.project.doc));
    expect(t.project.missingFrom(EMPTY)).toBe(first);
    const [id] = [...t.project.recordKeys('resources')];
    t.apply({ resources: { updated: [{ id: Number.isNaN(Number(id)) ? id : Number(id), name: 'renamed for the peer' }] } });
    const second = t.project.missingFrom(EMPTY);
    expect(second).not.toBe(first);
    const peer = new Y.Doc();
    Y.applyUpdate(peer, second);
    expect(JSON.stringify(peer.getMap('resources').toJSON())).toContain('renamed for the peer');
    // A peer that has some of it gets only the rest.
    const since = Y.encodeStateVector(peer);
    expect(t.project.missingFrom(since).length).toBeLessThan(second.length);
  });
});
