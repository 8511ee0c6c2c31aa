/**
 * The pure parts of project history: dataset diffs (and applying them), their text, the
 * retention policy and how versions look to Bryntum clients.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import './support/seed.js';
import { applyDiff, diffDatasets, isEmptyDiff, sameJson } from '../src/history/diff.js';
import { diffText } from '../src/history/diff-text.js';
import { versionsToDrop } from '../src/history/retention.js';
import { serverVersionNumber, versionRecord, versionsChange, withServerVersions } from '../src/history/version-records.js';
import type { VersionMeta } from '../src/history/versions.js';

type Rec = Record<string, any>;

const value = fc.oneof(
  fc.string({ maxLength: 4 }),
  fc.integer({ min: 0, max: 3 }),
  fc.constant(null),
  fc.boolean(),
  fc.array(fc.integer({ min: 0, max: 2 }), { maxLength: 2 }),
  fc.record({ a: fc.integer({ min: 0, max: 2 }) }),
);
const fields = fc.dictionary(fc.constantFrom('name', 'percentDone', 'note', 'cls', 'expanded'), value, { maxKeys: 4 });
/** A small id pool, so two random datasets share many records. */
const id = fc.oneof(fc.integer({ min: 1, max: 12 }), fc.constantFrom('a', 'b', 'c', 'd'));

/** A task tree: each task's parent is one listed before it (or the top level). */
const taskTree = fc
  .uniqueArray(id, { maxLength: 10, selector: String })
  .chain((ids) => fc.tuple(fc.constant(ids), fc.array(fc.nat(), { minLength: ids.length, maxLength: ids.length }), fc.array(fields, { minLength: ids.length, maxLength: ids.length })))
  .map(([ids, parents, data]) => {
    const nodes = ids.map((taskId, i) => ({ ...data[i], id: taskId }) as Rec);
    const top: Rec[] = [];
    nodes.forEach((node, i) => {
      const p = parents[i] % (i + 1);
      if (p === 0) top.push(node);
      else (nodes[p - 1].children ??= []).push(node);
    });
    return top;
  });
const flatStore = fc.uniqueArray(id, { maxLength: 6, selector: String }).chain((ids) =>
  fc.tuple(...ids.map((recordId) => fields.map((f) => ({ ...f, id: recordId }) as Rec))).map((records) => records as Rec[]),
);
const dataset = fc.record({
  tasksData: taskTree,
  resourcesData: flatStore,
  dependenciesData: flatStore,
  versionsData: flatStore,
  project: fields,
});

/** Flat stores carry no order: compare them sorted by id. */
function normalized(ds: Rec): Rec {
  const out: Rec = {};
  for (const [key, v] of Object.entries(ds)) out[key] = Array.isArray(v) && key !== 'tasksData' ? [...v].sort((a, b) => String(a.id).localeCompare(String(b.id))) : v;
  return out;
}

describe('dataset diff', () => {
  it('applying diff(a, b) to a gives b, for random datasets', () => {
    fc.assert(
      fc.property(dataset, dataset, (a, b) => {
        const diff = diffDatasets(a, b);
        expect(normalized(applyDiff(a, diff))).toEqual(normalized(b));
        // The diff is plain JSON: it survives the admin API.
        expect(normalized(applyDiff(a, JSON.parse(JSON.stringify(diff))))).toEqual(normalized(b));
      }),
      { numRuns: 500 },
    );
  });

  it('finds no difference between a dataset and itself, and one whenever they differ', () => {
    fc.assert(
      fc.property(dataset, dataset, (a, b) => {
        expect(isEmptyDiff(diffDatasets(a, structuredClone(a)))).toBe(true);
        expect(isEmptyDiff(diffDatasets(a, b))).toBe(sameJson(normalized(a), normalized(b)));
      }),
      { numRuns: 300 },
    );
  });

  it('reports added, removed and changed records, field by field, and moved tasks by parent', () => {
    const a = {
      tasksData: [{ id: 1, name: 'Top', children: [{ id: 11, name: 'Child', percentDone: 10 }, { id: 12, name: 'Gone' }] }, { id: 2, name: 'Other' }],
      resourcesData: [{ id: 'r1', name: 'Celia', city: 'Barcelona' }],
      project: { startDate: '2019-01-14', hoursPerDay: 24 },
    };
    const b = {
      tasksData: [{ id: 1, name: 'Top' }, { id: 2, name: 'Other', children: [{ id: 11, name: 'Child', percentDone: 40, note: 'n' }] }, { id: 3, name: 'New' }],
      resourcesData: [{ id: 'r1', name: 'Celia' }],
      project: { startDate: '2019-01-21', hoursPerDay: 24 },
    };
    const diff = diffDatasets(a, b);
    expect(diff.stores.tasksData.added).toEqual([{ id: 3, name: 'New' }]);
    expect(diff.stores.tasksData.removed).toEqual([{ id: 12, name: 'Gone' }]);
    expect(diff.stores.tasksData.changed).toEqual([{ id: 11, name: 'Child', fields: { percentDone: { before: 10, after: 40 }, note: { after: 'n' } } }]);
    expect(diff.stores.tasksData.children).toEqual(
      expect.arrayContaining([
        { parent: null, before: [1, 2], after: [1, 2, 3] },
        { parent: 1, before: [11, 12], after: [] },
        { parent: 2, before: [], after: [11] },
      ]),
    );
    expect(diff.stores.resourcesData.changed).toEqual([{ id: 'r1', name: 'Celia', fields: { city: { before: 'Barcelona' } } }]);
    expect(diff.project).toEqual({ startDate: { before: '2019-01-14', after: '2019-01-21' } });

    const text = diffText(diff, 'version 1', 'current');
    expect(text).toContain('diff version 1 -> current');
    expect(text).toContain('tasksData: 1 added, 1 removed, 1 changed');
    expect(text).toContain('  + 3 "New"');
    expect(text).toContain('  - 12 "Gone"');
    expect(text).toContain('  ~ 11 "Child" percentDone: 10 -> 40');
    expect(text).toContain('  ~ 11 "Child" note: (none) -> "n"');
    expect(text).toContain('  > under 2: gained 11');
    expect(text).toContain('  ~ "r1" "Celia" city: "Barcelona" -> (none)');
    expect(text).toContain('  ~ startDate: "2019-01-14" -> "2019-01-21"');
    expect(diffText(diffDatasets(a, a), 'a', 'b')).toBe('diff a -> b\nno differences');
  });
});

describe('retention', () => {
  const DAY = 86_400_000;
  const now = Date.parse('2025-06-30T12:00:00Z');
  const at = (n: number, msAgo: number) => ({ n, time: new Date(now - msAgo).toISOString() });

  it('keeps the last N, then the newest of each day within D days, and drops the rest', () => {
    const versions = [
      at(1, 40 * DAY), // beyond the daily window
      at(2, 3 * DAY + 3600_000), // day -3, older
      at(3, 3 * DAY), // day -3, newest of that day
      at(4, 2 * DAY),
      at(5, 3600_000),
      at(6, 1800_000),
      at(7, 60_000),
    ];
    expect(versionsToDrop(versions, { keepLast: 3, keepDaily: 30 }, now).sort()).toEqual([1, 2]);
    expect(versionsToDrop(versions, { keepLast: 3, keepDaily: 0 }, now).sort()).toEqual([1, 2, 3, 4]);
    expect(versionsToDrop(versions, { keepLast: 10, keepDaily: 0 }, now)).toEqual([]);
  });

  it('never drops the newest version', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 100 * DAY }), { minLength: 1, maxLength: 30 }), fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: 10 }), (ages, keepLast, keepDaily) => {
        const versions = ages.map((age, i) => at(i + 1, age));
        const dropped = versionsToDrop(versions, { keepLast, keepDaily }, now);
        expect(dropped).not.toContain(versions.length);
        expect(versions.length - dropped.length).toBeGreaterThanOrEqual(Math.min(versions.length, Math.max(1, keepLast)));
      }),
    );
  });
});

describe('server versions as Bryntum sees them', () => {
  const meta = (n: number, reason: VersionMeta['reason']): VersionMeta => ({ n, time: '2025-06-30T12:00:00.000Z', label: `V${n}`, reason, authors: [], changes: 0, lastRevision: null, bytes: 1 });

  it('are version records with weft-<n> ids, added to the dataset text of the versions store', () => {
    expect(versionRecord(meta(3, 'auto'))).toEqual({ id: 'weft-3', name: 'V3', savedAt: '2025-06-30T12:00:00.000Z', isAutosave: true });
    expect(serverVersionNumber('weft-3')).toBe(3);
    expect(serverVersionNumber('weft-0')).toBeNull();
    expect(serverVersionNumber(3)).toBeNull();
    expect(serverVersionNumber('versions-3')).toBeNull();
    const texts = { stores: new Map([['versions', '[{"id":1}]']]), project: '{}' };
    const shown = withServerVersions(texts, [meta(1, 'manual'), meta(2, 'before-reset'), meta(3, 'auto')]);
    expect(JSON.parse(shown.stores.get('versions')!)).toEqual([{ id: 1 }, versionRecord(meta(1, 'manual')), versionRecord(meta(3, 'auto'))]);
    expect(texts.stores.get('versions')).toBe('[{"id":1}]');
    const empty = withServerVersions({ stores: new Map([['versions', '[]']]), project: '{}' }, [meta(1, 'manual')]);
    expect(JSON.parse(empty.stores.get('versions')!)).toEqual([versionRecord(meta(1, 'manual'))]);
  });

  it('are announced as a versions change; safety versions are not shown', () => {
    expect(versionsChange(meta(4, 'manual'), [meta(1, 'auto'), meta(2, 'before-restore')])).toEqual({
      versions: { added: [versionRecord(meta(4, 'manual'))], removed: [{ id: 'weft-1' }] },
    });
    expect(versionsChange(meta(5, 'before-reset'), [])).toBeNull();
  });
});
