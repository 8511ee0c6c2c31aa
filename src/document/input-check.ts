/**
 * Checks on a client's change before any of it is written. Everything here is refused as a whole
 * (RefusedChange), so the document stays as it was and the project is not reloaded:
 * - keys that are names of Object.prototype's own machinery (`__proto__`, `constructor`,
 *   `prototype`) at any depth: they reach Yjs (which throws on them) and plain-object lookups;
 * - values nested deeper than `maxDepth` (structuredClone and the dataset writer recurse);
 * - more records than `maxRecords` in one change (it is one transaction, applied at once);
 * - store names outside STORE_NAME or naming an Object.prototype member (`toString`, ...).
 * One linear, iterative pass: no recursion, so depth itself cannot overflow the stack here.
 */
import { RefusedChange } from './refused.js';
import { PROJECT_MAP, STORE_NAME } from './layout.js';

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

export interface InputLimits {
  maxDepth: number;
  maxRecords: number;
}

/** A name a client may give a store: plain, and never one of Object.prototype's members. */
export function isValidStoreName(name: string): boolean {
  return STORE_NAME.test(name) && !(name in Object.prototype);
}

/** Records a change adds, in all stores. */
export function addedRecords(change: Record<string, unknown>): number {
  let added = 0;
  for (const [store, entry] of Object.entries(change)) {
    if (store === PROJECT_MAP || typeof entry !== 'object' || entry === null) continue;
    const list = (entry as { added?: unknown }).added;
    if (Array.isArray(list)) added += list.length;
  }
  return added;
}

/** Refuse a change that would take the project past `maxRecords` records. */
export function checkProjectSize(current: number, added: number, maxRecords: number): void {
  if (added > 0 && current + added > maxRecords) {
    throw new RefusedChange(`a project may hold at most ${maxRecords} records (limits.maxRecordsPerProject); it has ${current} and this change adds ${added}`);
  }
}

export function checkInput(change: Record<string, unknown>, limits: InputLimits): void {
  let records = 0;
  for (const store of Object.keys(change)) {
    if (store !== PROJECT_MAP && !isValidStoreName(store)) throw new RefusedChange(`${JSON.stringify(store.slice(0, 80))} is not a valid store name`);
    const entry = change[store];
    if (store === PROJECT_MAP || typeof entry !== 'object' || entry === null) continue;
    for (const list of Object.values(entry as Record<string, unknown>)) if (Array.isArray(list)) records += list.length;
  }
  if (records > limits.maxRecords) {
    throw new RefusedChange(`a change may hold at most ${limits.maxRecords} records (this one has ${records}); send it in parts`);
  }
  checkValues(change, limits.maxDepth);
}

/** Refuse values that are not plain JSON, hold forbidden keys or nest deeper than `maxDepth`. */
export function checkValues(root: unknown, maxDepth: number): void {
  // Only objects go on the stack: values that are no object hold nothing to check.
  const isObject = (value: unknown): value is object => typeof value === 'object' && value !== null;
  if (!isObject(root)) return;
  const stack: object[] = [root];
  const depths: number[] = [0];
  while (stack.length) {
    const value = stack.pop()!;
    const depth = depths.pop()!;
    if (depth > maxDepth) throw new RefusedChange(`values may be nested at most ${maxDepth} levels deep`);
    if (Array.isArray(value)) {
      for (const item of value) if (isObject(item)) (stack.push(item), depths.push(depth + 1));
      continue;
    }
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) throw new RefusedChange('values must be plain JSON');
    for (const key of Object.keys(value)) {
      if (isForbiddenKey(key)) throw new RefusedChange(`${JSON.stringify(key)} may not be used as a field name`);
      const item = (value as Record<string, unknown>)[key];
      if (isObject(item)) (stack.push(item), depths.push(depth + 1));
    }
  }
}

/** Names of Object.prototype's own machinery, refused as keys at any depth. */
export const isForbiddenKey = (key: string): boolean => FORBIDDEN_KEYS.has(key);
