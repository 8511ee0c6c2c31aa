/** The record count behind the project-size limit is kept up to date without walking the stores. */
import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { allStoreNames, storeMap } from '../src/document/layout.js';
import type { ProjectDocument } from '../src/document/project-document.js';
import { readSeedFile } from '../src/document/seed.js';
import { Random } from '../src/simulate/random.js';
import { projectFrom, seedPath } from './support/document.js';
import { TEST_SEED, replayHint } from './support/seed.js';

/** The count as Y.Map#size gives it, store by store. */
const walked = (p: ProjectDocument) => allStoreNames(p.doc).reduce((n, name) => n + storeMap(p.doc, name).size, 0);

describe('the record count of a project', () => {
  it('equals the records in its stores after every kind of write: changes, removals, peer updates and a reset', async () => {
    const seed = await readSeedFile(seedPath('saas'));
    const t = projectFrom(seed);
    const random = new Random(TEST_SEED);
    expect(t.project.recordCount()).toBe(walked(t.project));
    const before = t.project.recordCount();
    let made = 0;
    const seen = new Set<number>();
    for (let step = 0; step < 60; step++) {
      const roll = random.next();
      if (roll < 0.35) {
        const n = random.int(1, 4);
        t.apply({ tasks: { added: Array.from({ length: n }, () => ({ $PhantomId: `p${made++}`, name: 'new', parentId: null })) }, resources: { added: [{ $PhantomId: `r${made++}`, name: 'someone' }] } });
      } else if (roll < 0.6) {
        const ids = [...storeMap(t.project.doc, 'tasks').keys()];
        const key = random.pick(ids);
        t.apply({ tasks: { removed: [{ id: Number.isNaN(Number(key)) ? key : Number(key) }] } });
      } else if (roll < 0.8) {
        const ids = [...storeMap(t.project.doc, 'tasks').keys()];
        t.apply({ tasks: { updated: [{ id: Number.isNaN(Number(ids[1])) ? ids[1] : Number(ids[1]), name: `renamed ${step}` }] } });
      } else {
        // A peer adds one record, replaces another under the same key and removes a third.
        const peer = new Y.Doc();
        Y.applyUpdate(peer, Y.encodeStateAsUpdate(t.project.doc));
        const resources = peer.getMap<Y.Map<unknown>>('resources');
        const keys = [...resources.keys()];
        peer.transact(() => {
          for (const tag of ['a', 'b']) {
            const added = new Y.Map<unknown>();
            resources.set(`peer-${step}-${tag}`, added);
            added.set('id', `peer-${step}-${tag}`);
          }
          if (keys.length > 1) {
            const replaced = new Y.Map<unknown>();
            resources.set(keys[0], replaced);
            replaced.set('id', keys[0]);
            resources.delete(keys[1]);
          }
        });
        const sv = Y.encodeStateVector(t.project.doc);
        t.project.applyUpdate(Y.encodeStateAsUpdate(peer, sv), 'peer');
      }
      seen.add(t.project.recordCount());
      expect(t.project.recordCount(), `after step ${step}; ${replayHint()}`).toBe(walked(t.project));
    }
    // The writes did move the count, up and down.
    expect(seen.size).toBeGreaterThan(10);
    t.project.replaceWith(seed);
    expect(t.project.recordCount()).toBe(walked(t.project));
    expect(t.project.recordCount()).toBe(before);
  });
});
