/**
 * Which names a store may have (they become top-level map names of the document): a letter, then
 * up to 63 letters, digits or underscores. And which of the names listed in `$stores` count as
 * extra stores: plain names that are neither known stores nor the project map, in name order.
 */
import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { extraStoreNames } from '../src/document/layout.js';
import { parseSeed } from '../src/document/seed.js';

const storesOf = (names: string[]) => [...parseSeed(Object.fromEntries(names.map((n) => [n, [{ id: 1 }]]))).stores.keys()];

describe('store names', () => {
  it('may be a single letter, or a letter followed by letters, digits and underscores', () => {
    const plain = ['a', 'z', 'A', 'Z', 'm', 'Q', 'bA0a9_zZ', 'a0', 'a9', 'aa', 'az', 'aA', 'aZ', 'a_', 'a5', 'aM', 'am', 'x'.repeat(64)];
    expect(storesOf(plain)).toEqual(plain);
  });

  it('may not start with anything but a letter, hold other characters, or run past 64 characters', () => {
    const odd = ['', '0a', '9a', '5', '_a', ' a', 'a b', 'a-b', 'ab$', 'a.b', 'aé', 'é', 'a\n', 'x'.repeat(65), `a${'b'.repeat(64)}`, '@a', '[a', '`a', '{a', 'a@', 'a[', 'a`', 'a{', 'a/', 'a:'];
    expect(storesOf(odd)).toEqual([]);
  });
});

describe('extra stores listed in the document', () => {
  it('leave out known stores, the project map and names that are not plain, sorted by name', () => {
    const doc = new Y.Doc();
    const listed = doc.getMap('$stores');
    for (const name of ['zeta', 'tasks', 'project', 'a b', 'alpha', 'resources', '0x']) listed.set(name, true);
    expect(extraStoreNames(doc)).toEqual(['alpha', 'zeta']);
  });
});
