/**
 * The checks on a client's change before anything is written (src/document/input-check.ts): which
 * store entries count towards the per-change record limit, where the depth, record and project
 * size limits sit exactly, the forbidden field names, and which store names are accepted and how a
 * refused one is reported.
 */
import { describe, expect, it } from 'vitest';
import { addedRecords, checkInput, checkProjectSize, checkValues, isValidStoreName } from '../src/document/input-check.js';
import { RefusedChange } from '../src/document/refused.js';

/** A value whose objects sit at depths 0 .. levels-1 (the innermost holds a number). */
function nested(levels: number): unknown {
  let v: unknown = 1;
  for (let i = 0; i < levels; i++) v = { a: v };
  return v;
}

describe('records in one change', () => {
  it('counts the lists of every store entry except the project fields and empty entries, and accepts exactly the limit', () => {
    const change = { project: { holidays: [1, 2, 3] }, tasks: null, resources: { added: [{ id: 1 }], removed: [{ id: 2 }] } };
    expect(() => checkInput(change, { maxDepth: 10, maxRecords: 2 })).not.toThrow();
  });

  it('refuses one record more than the limit, saying how many it holds', () => {
    const change = { resources: { added: [{}, {}], updated: [{ id: 1 }] } };
    expect(() => checkInput(change, { maxDepth: 10, maxRecords: 2 })).toThrow(RefusedChange);
    expect(() => checkInput(change, { maxDepth: 10, maxRecords: 2 })).toThrow('at most 2 records (this one has 3)');
  });

  it('counts added records of real stores only, passing over the project fields, empty entries and values that are no entry', () => {
    expect(addedRecords({ project: { added: [1, 2] }, tasks: null, notes: 'x', resources: { added: [{}, {}] }, calendars: { added: [{}] } })).toBe(3);
  });
});

describe('records in one project', () => {
  it('accepts a change that fills the project exactly, and refuses one record more', () => {
    expect(() => checkProjectSize(3, 2, 5)).not.toThrow();
    expect(() => checkProjectSize(3, 3, 5)).toThrow('a project may hold at most 5 records (limits.maxRecordsPerProject); it has 3 and this change adds 3');
  });

  it('lets a project already past the limit take changes that add nothing', () => {
    expect(() => checkProjectSize(10, 0, 5)).not.toThrow();
  });
});

describe('nesting depth', () => {
  it('accepts a value nested exactly to the limit, and refuses one nested a level deeper', () => {
    expect(() => checkValues(nested(3), 2)).not.toThrow();
    expect(() => checkValues(nested(4), 2)).toThrow('values may be nested at most 2 levels deep');
  });

  it('applies the same limit to a whole change, counting its store entries as the first level', () => {
    // change (0) > tasks (1) > added (2) > record (3) > field (4)
    const change = { tasks: { added: [{ meta: { a: 1 } }] } };
    expect(() => checkInput(change, { maxDepth: 4, maxRecords: 10 })).not.toThrow();
    expect(() => checkInput(change, { maxDepth: 3, maxRecords: 10 })).toThrow(RefusedChange);
  });
});

describe('field names', () => {
  it.each(['__proto__', 'constructor', 'prototype'])('refuses %s as a field name at any depth', (name) => {
    const value = JSON.parse(`{"a": {"b": [{"${name}": 1}]}}`);
    expect(() => checkValues(value, 10)).toThrow(`"${name}" may not be used as a field name`);
  });

  it('accepts field names that only resemble the forbidden ones', () => {
    expect(() => checkValues({ proto: 1, Prototype: 2, constructors: 3, '': 4 }, 10)).not.toThrow();
  });
});

describe('store names', () => {
  it('accepts plain names and refuses names outside the allowed form or naming an Object member', () => {
    expect(isValidStoreName('tasks')).toBe(true);
    expect(isValidStoreName('my_store2')).toBe(true);
    expect(isValidStoreName('$stores')).toBe(false);
    expect(isValidStoreName('2tasks')).toBe(false);
    expect(isValidStoreName('')).toBe(false);
    expect(isValidStoreName('toString')).toBe(false);
    expect(isValidStoreName('hasOwnProperty')).toBe(false);
  });

  it('accepts the project fields entry whatever it holds', () => {
    expect(() => checkInput({ project: { hoursPerDay: 8 } }, { maxDepth: 10, maxRecords: 10 })).not.toThrow();
  });

  it('refuses a change with an invalid store name, quoting at most its first 80 characters', () => {
    const long = 'x'.repeat(60) + '-' + 'y'.repeat(60);
    expect(() => checkInput({ [long]: {} }, { maxDepth: 10, maxRecords: 10 })).toThrow(RefusedChange);
    // The whole message, so neither a longer quote nor another text passes.
    expect(() => checkInput({ [long]: {} }, { maxDepth: 10, maxRecords: 10 })).toThrow(new RefusedChange(`"${long.slice(0, 80)}" is not a valid store name`));
  });
});
