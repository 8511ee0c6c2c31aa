/**
 * Seed files as they are configured, without the import checks in front: rows that are no
 * objects, rows and stores that name no record, server-only ids and fields that only travel on
 * the wire are left out; version content is kept beside the document; large seeds are written in
 * parts of a set size.
 */
import { describe, expect, it } from 'vitest';
import { parseSeed, seedParts, type SeedData } from '../src/document/seed.js';
import { projectFrom } from './support/document.js';

describe('seed files', () => {
  it('are refused when they hold no JSON object', () => {
    expect(() => parseSeed([1, 2], 'list.json')).toThrow('list.json: expected a JSON object');
    expect(() => parseSeed('text', 'text.json')).toThrow('text.json: expected a JSON object');
  });

  it('take stores from rows lists and bare arrays under plain names only, and never from the project or success entries', () => {
    const seed = parseSeed({
      project: { rows: [{ id: 1 }], calendar: 'general' },
      success: [{ id: 1 }],
      tasks: [{ id: 1 }],
      resources: { rows: [{ id: 'r1' }] },
      'a b': { rows: [{ id: 1 }] },
      meta: { a: 1 },
      note: 'text',
      calendars: { rows: 'none' },
    });
    expect([...seed.stores.keys()]).toEqual(['tasks', 'resources']);
    expect(seed.project).toEqual({ rows: [{ id: 1 }], calendar: 'general' });
  });

  it('leave out rows that are not objects', () => {
    const seed = parseSeed({
      tasks: [{ id: 1, children: [7, { id: 2 }, null] }, null, 'x', { id: 3 }],
      resources: { rows: [3, null, [1], { id: 'r1' }] },
    });
    expect(seed.stores.get('tasks')).toEqual([
      { id: 1, parentId: null },
      { id: 2, parentId: 1 },
      { id: 3, parentId: null },
    ]);
    expect(seed.stores.get('resources')).toEqual([{ id: 'r1' }]);
  });

  it('keep version content beside the records, only for versions that have some', () => {
    const seed = parseSeed({
      versions: { rows: [{ id: 'v1', name: 'no content' }, { id: 'v2', name: 'with content', content: { big: true } }] },
      resources: { rows: [{ id: 'r1', content: 'a note' }] },
    });
    expect([...seed.versionContents]).toEqual([['v2', { big: true }]]);
    expect(seed.stores.get('versions')).toEqual([
      { id: 'v1', name: 'no content' },
      { id: 'v2', name: 'with content' },
    ]);
    expect(seed.stores.get('resources')).toEqual([{ id: 'r1', content: 'a note' }]);
  });

  it('write no record for rows without an id, under a reserved key, or with a server version id, and store no wire-only fields nor an order key outside tasks', () => {
    const seed = parseSeed({
      tasks: [{ id: 1 }, { id: '\u0000root' }, { name: 'no id' }],
      resources: {
        rows: [
          { name: 'no id' },
          { id: null, name: 'null id' },
          { id: 'weft-3', content: 'kept', parentIndex: 2, orderedParentIndex: 2, $PhantomId: 'p', $PhantomParentId: 'q', $base: { id: 'x' }, children: [], $order: 'zz' },
        ],
      },
      versions: { rows: [{ id: 'weft-1', name: 'server' }, { id: 'v2', name: 'kept' }] },
    });
    const t = projectFrom(seed);
    expect(t.project.recordKeys('tasks')).toEqual(['1']);
    expect(t.project.recordKeys('resources')).toEqual(['weft-3']);
    expect(t.record('resources', 'weft-3')).toEqual({ id: 'weft-3', content: 'kept' });
    expect(t.project.recordKeys('versions')).toEqual(['v2']);
  });

  it('are cut into parts of at most the batch size, the first carrying the project and every store name', () => {
    const seed: SeedData = parseSeed({
      project: { calendar: 'general' },
      tasks: [{ id: 1, children: [{ id: 2 }] }, { id: 3 }],
      resources: [{ id: 'r1' }, { id: 'r2' }],
    });
    const parts = [...seedParts(seed, 2)];
    expect(parts.map((p) => [...p.stores].map(([name, rows]) => [name, rows.map((r) => r.id)]))).toEqual([
      [
        ['tasks', [1, 2]],
        ['resources', []],
      ],
      [
        ['tasks', [3]],
        ['resources', ['r1']],
      ],
      [['resources', ['r2']]],
    ]);
    expect(parts.map((p) => p.project)).toEqual([{ calendar: 'general' }, {}, {}]);
    expect(parts.every((p) => p.ordered)).toBe(true);
    // Written one after another, the parts give the seed's tree in its order.
    const t = projectFrom(seed);
    expect(t.children(null)).toEqual([1, 3]);
    expect(t.children(1)).toEqual([2]);
  });
});
