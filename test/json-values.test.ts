/**
 * JSON values (src/document/json.ts): deep equality that ignores key order but tells objects,
 * arrays and scalars apart, and what counts as a nested change set (only `added`, `updated` and
 * `removed`, each an array) rather than a value to store as it is.
 */
import { describe, expect, it } from 'vitest';
import { isNestedChangeSet, sameJson } from '../src/document/json.js';
import { projectOf } from './support/document.js';

describe('sameJson', () => {
  it('finds equal values equal whatever their key order', () => {
    expect(sameJson({ a: 1, b: [1, { c: null }] }, { b: [1, { c: null }], a: 1 })).toBe(true);
    expect(sameJson([], [])).toBe(true);
    expect(sameJson('x', 'x')).toBe(true);
  });

  it('tells an object from a scalar, either way round', () => {
    expect(sameJson({}, 5)).toBe(false);
    expect(sameJson(5, {})).toBe(false);
    expect(sameJson({}, null)).toBe(false);
    expect(sameJson(null, {})).toBe(false);
  });

  it('tells an empty object from an empty array', () => {
    expect(sameJson({}, [])).toBe(false);
    expect(sameJson([], {})).toBe(false);
  });

  it('finds an object with a key more unequal', () => {
    expect(sameJson({ a: 1 }, { a: 1, b: 2 })).toBe(false);
    expect(sameJson({ a: 1, b: 2 }, { a: 1 })).toBe(false);
    expect(sameJson({ a: undefined }, { b: undefined })).toBe(false);
  });

  it('finds arrays of other lengths or items unequal', () => {
    expect(sameJson([1], [1, 2])).toBe(false);
    expect(sameJson([1, 2], [2, 1])).toBe(false);
  });
});

describe('isNestedChangeSet', () => {
  it('takes an object of added, updated and removed lists for a change set', () => {
    expect(isNestedChangeSet({ added: [{ id: 1 }] })).toBe(true);
    expect(isNestedChangeSet({ added: [], updated: [], removed: [] })).toBe(true);
  });

  it('does not take other keys, lists that are not arrays, empty objects, arrays or scalars for one', () => {
    expect(isNestedChangeSet({ rows: [1] })).toBe(false);
    expect(isNestedChangeSet({ added: [1], rows: [1] })).toBe(false);
    expect(isNestedChangeSet({ added: 1 })).toBe(false);
    expect(isNestedChangeSet({})).toBe(false);
    expect(isNestedChangeSet([])).toBe(false);
    expect(isNestedChangeSet(null)).toBe(false);
    expect(isNestedChangeSet('added')).toBe(false);
  });

  it('lets a record store an object of lists under other keys as it is', () => {
    const t = projectOf({ tasks: [{ id: 1, name: 'One' }] });
    t.apply({ tasks: { updated: [{ id: 1, lists: { rows: [1] }, empty: {} }] } });
    expect(t.record('tasks', 1)).toMatchObject({ lists: { rows: [1] }, empty: {} });
    t.apply({ tasks: { updated: [{ id: 1, empty: [] }] } });
    expect(t.record('tasks', 1)?.empty).toEqual([]);
  });
});
