/**
 * DependencyIndex (src/document/schedule-cycles.ts) as dependencies change: a dependency pointed
 * at another task is re-indexed under its new ends and reported as a new link, an unchanged one
 * is not, and a task with several dependencies keeps the others when some are removed.
 */
import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { storeMap, type FieldMap, type StoreMap } from '../src/document/layout.js';
import { DependencyIndex } from '../src/document/schedule-cycles.js';

function dependencies(): StoreMap {
  return storeMap(new Y.Doc(), 'dependencies');
}

/** Writes a dependency record under `key` with the given fields. */
function put(deps: StoreMap, key: string, fields: Record<string, unknown>): FieldMap {
  const record = new Y.Map<unknown>() as FieldMap;
  deps.set(key, record);
  for (const [field, value] of Object.entries(fields)) record.set(field, value);
  return record;
}

describe('DependencyIndex.update as dependencies change', () => {
  it('re-indexes a dependency pointed at another task and reports it as a new link', () => {
    const deps = dependencies();
    const record = put(deps, 'd1', { id: 'd1', fromTask: 'a', toTask: 'b' });
    const index = new DependencyIndex(deps);
    record.set('toTask', 'c');
    expect(index.update('d1')).toBe(true);
    expect(index.endsOf('d1')).toEqual({ from: 'a', to: 'c' });
    expect(index.targetsFrom('a')).toEqual(['c']);
    expect(index.touching('b')).toEqual([]);
    expect(index.touching('c')).toEqual(['d1']);
  });

  it('re-indexes a dependency that starts from another task and reports it as a new link', () => {
    const deps = dependencies();
    const record = put(deps, 'd1', { id: 'd1', fromTask: 'a', toTask: 'b' });
    const index = new DependencyIndex(deps);
    record.set('fromTask', 'c');
    expect(index.update('d1')).toBe(true);
    expect(index.endsOf('d1')).toEqual({ from: 'c', to: 'b' });
    expect(index.targetsFrom('a')).toEqual([]);
    expect(index.targetsFrom('c')).toEqual(['b']);
  });

  it('reports no new link for a dependency whose ends did not change', () => {
    const deps = dependencies();
    const record = put(deps, 'd1', { id: 'd1', fromTask: 'a', toTask: 'b' });
    const index = new DependencyIndex(deps);
    record.set('lag', 2);
    expect(index.update('d1')).toBe(false);
    expect(index.endsOf('d1')).toEqual({ from: 'a', to: 'b' });
    expect(index.touching('a')).toEqual(['d1']);
  });

  it('keeps a task\'s other dependencies as its dependencies are removed one by one', () => {
    const deps = dependencies();
    put(deps, 'd1', { id: 'd1', fromTask: 'a', toTask: 'b' });
    put(deps, 'd2', { id: 'd2', fromTask: 'a', toTask: 'c' });
    put(deps, 'd3', { id: 'd3', fromTask: 'a', toTask: 'd' });
    const index = new DependencyIndex(deps);
    expect(index.targetsFrom('a')).toEqual(['b', 'c', 'd']);
    deps.delete('d3');
    expect(index.update('d3')).toBe(false);
    expect(index.targetsFrom('a')).toEqual(['b', 'c']);
    expect(index.endsOf('d3')).toBeUndefined();
    deps.delete('d2');
    index.update('d2');
    expect(index.targetsFrom('a')).toEqual(['b']);
    expect(index.touching('a')).toEqual(['d1']);
    deps.delete('d1');
    index.update('d1');
    expect(index.touching('a')).toEqual([]);
  });

  it('keeps the first and last of a task\'s dependencies when the middle one is removed', () => {
    const deps = dependencies();
    put(deps, 'd1', { id: 'd1', fromTask: 'a', toTask: 'b' });
    put(deps, 'd2', { id: 'd2', fromTask: 'a', toTask: 'c' });
    put(deps, 'd3', { id: 'd3', fromTask: 'a', toTask: 'd' });
    const index = new DependencyIndex(deps);
    deps.delete('d2');
    index.update('d2');
    expect(index.targetsFrom('a')).toEqual(['b', 'd']);
    expect(index.touching('c')).toEqual([]);
  });

  it('leaves the dependencies it is told are pending out until they are updated', () => {
    const deps = dependencies();
    put(deps, 'd1', { id: 'd1', fromTask: 'a', toTask: 'b' });
    put(deps, 'd2', { id: 'd2', fromTask: 'a', toTask: 'c' });
    const index = new DependencyIndex(deps, ['d2']);
    expect(index.targetsFrom('a')).toEqual(['b']);
    expect(index.endsOf('d2')).toBeUndefined();
    expect(index.update('d2')).toBe(true);
    expect(index.targetsFrom('a')).toEqual(['b', 'c']);
  });

  it('reports a dependency switched back on as a new link', () => {
    const deps = dependencies();
    const record = put(deps, 'd1', { id: 'd1', fromTask: 'a', toTask: 'b', active: false });
    const index = new DependencyIndex(deps);
    expect(index.endsOf('d1')).toBeUndefined();
    record.set('active', true);
    expect(index.update('d1')).toBe(true);
    expect(index.touching('a')).toEqual(['d1']);
    expect(index.touching('b')).toEqual(['d1']);
  });
});
