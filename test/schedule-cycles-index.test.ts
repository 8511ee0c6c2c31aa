/**
 * Small pure pieces behind the integrity rules and the project size limit:
 * - DependencyIndex.update: a dependency that does not link two tasks (an end missing, switched
 *   off, or removed) is kept out of the index and never reported as a new link (which is what
 *   makes the integrity rules look for a scheduling cycle through it); one pointed at another task
 *   is re-indexed under its new ends, and a task keeps its other dependencies as some go;
 * - checkProjectSize: only a change that adds records can be refused, with a message naming the
 *   limit, what the project holds and what the change adds.
 */
import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { checkProjectSize } from '../src/document/input-check.js';
import { ACTIVE_FIELD, storeMap, type FieldMap, type StoreMap } from '../src/document/layout.js';
import { RefusedChange } from '../src/document/refused.js';
import { DependencyIndex, closesCycle, type TaskTree } from '../src/document/schedule-cycles.js';

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

/** A flat tree: every task named is top-level. */
const flat: TaskTree = { childKeys: () => [], parentKey: () => undefined };

describe('DependencyIndex.update with a dependency that links no two tasks', () => {
  it('does not index a new dependency that names only the task it starts from, and reports no new link', () => {
    const deps = dependencies();
    const index = new DependencyIndex(deps);
    put(deps, 'd1', { id: 'd1', fromTask: 'a' });
    expect(index.update('d1')).toBe(false);
    expect(index.endsOf('d1')).toBeUndefined();
    expect(index.touching('a')).toEqual([]);
    expect(index.targetsFrom('a')).toEqual([]);
  });

  it('does not index a new dependency that names only the task it leads to, and reports no new link', () => {
    const deps = dependencies();
    const index = new DependencyIndex(deps);
    put(deps, 'd1', { id: 'd1', toTask: 'b' });
    expect(index.update('d1')).toBe(false);
    expect(index.endsOf('d1')).toBeUndefined();
    expect(index.touching('b')).toEqual([]);
  });

  it('leaves a dependency that has one end out of the index built at load', () => {
    const deps = dependencies();
    put(deps, 'd1', { id: 'd1', from: 'a' });
    put(deps, 'd2', { id: 'd2', to: 'a' });
    const index = new DependencyIndex(deps);
    expect(index.endsOf('d1')).toBeUndefined();
    expect(index.endsOf('d2')).toBeUndefined();
    expect(index.touching('a')).toEqual([]);
  });

  it('drops a dependency that loses one of its ends, and reports no new link', () => {
    const deps = dependencies();
    const record = put(deps, 'd1', { id: 'd1', fromTask: 'a', toTask: 'b' });
    const index = new DependencyIndex(deps);
    expect(index.endsOf('d1')).toEqual({ from: 'a', to: 'b' });
    record.delete('toTask');
    expect(index.update('d1')).toBe(false);
    expect(index.endsOf('d1')).toBeUndefined();
    expect(index.touching('a')).toEqual([]);
    expect(index.touching('b')).toEqual([]);
  });

  it('drops a dependency that is switched off, reports no new link, and no longer sees a cycle through it', () => {
    const deps = dependencies();
    put(deps, 'ab', { id: 'ab', fromTask: 'a', toTask: 'b' });
    const ba = put(deps, 'ba', { id: 'ba', fromTask: 'b', toTask: 'a' });
    const index = new DependencyIndex(deps);
    expect(closesCycle('ab', index, flat)).toBe(true);
    ba.set(ACTIVE_FIELD, false);
    expect(index.update('ba')).toBe(false);
    expect(index.endsOf('ba')).toBeUndefined();
    expect(index.touching('b')).toEqual(['ab']);
    expect(index.targetsFrom('b')).toEqual([]);
    expect(closesCycle('ab', index, flat)).toBe(false);
  });

  it('drops a dependency whose record was removed, and reports no new link', () => {
    const deps = dependencies();
    put(deps, 'd1', { id: 'd1', fromTask: 'a', toTask: 'b' });
    const index = new DependencyIndex(deps);
    deps.delete('d1');
    expect(index.update('d1')).toBe(false);
    expect(index.endsOf('d1')).toBeUndefined();
    expect(index.touching('a')).toEqual([]);
    expect(index.targetsFrom('a')).toEqual([]);
  });

  it('reports a new link, and indexes it, once a dependency names both its tasks', () => {
    const deps = dependencies();
    const record = put(deps, 'd1', { id: 'd1', fromTask: 'a' });
    const index = new DependencyIndex(deps);
    record.set('toTask', 'b');
    expect(index.update('d1')).toBe(true);
    expect(index.endsOf('d1')).toEqual({ from: 'a', to: 'b' });
    expect(index.targetsFrom('a')).toEqual(['b']);
  });
});

describe('checkProjectSize', () => {
  it('accepts a change that adds no records even when the project already holds more than the limit', () => {
    // The limit may have been lowered after the project grew: updates and removals still go through.
    expect(() => checkProjectSize(500, 0, 100)).not.toThrow();
    expect(() => checkProjectSize(101, 0, 100)).not.toThrow();
  });

  it('accepts a change that brings the project exactly to the limit', () => {
    expect(() => checkProjectSize(98, 2, 100)).not.toThrow();
  });

  it('refuses a change that would take the project past the limit, saying the limit, the count held and the count added', () => {
    let refused: unknown;
    try {
      checkProjectSize(99, 2, 100);
    } catch (e) {
      refused = e;
    }
    expect(refused).toBeInstanceOf(RefusedChange);
    expect((refused as Error).message).toBe('a project may hold at most 100 records (limits.maxRecordsPerProject); it has 99 and this change adds 2');
  });
});

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
