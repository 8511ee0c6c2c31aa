/**
 * Record-level difference between two datasets (as clients load them): per store the records
 * added, removed and changed (field by field, before/after), for the task tree also the parents
 * whose list of children changed; and the changed project fields. `applyDiff` is its inverse:
 * applying diff(a, b) to a gives b (flat stores up to record order, which carries no meaning).
 */
import { recordKey, type RecordId } from '../document/layout.js';
import { sameJson } from '../document/json.js';

type Rec = Record<string, unknown>;

/** `before` absent: the field was added; `after` absent: it was removed. */
export interface FieldChange {
  before?: unknown;
  after?: unknown;
}
export interface RecordChange {
  id: RecordId;
  /** The record's name, when it has one (for people reading the diff). */
  name?: unknown;
  fields: Record<string, FieldChange>;
}
/** A parent (null = top level) whose children differ in membership or order. */
export interface ChildrenChange {
  parent: RecordId | null;
  before: RecordId[];
  after: RecordId[];
}
export interface StoreDiff {
  added: Rec[];
  removed: Rec[];
  changed: RecordChange[];
  children?: ChildrenChange[];
}
export interface DatasetDiff {
  stores: Record<string, StoreDiff>;
  project: Record<string, FieldChange>;
}

/** Dataset keys holding a nested task tree. */
const TREE_KEYS = new Set(['tasksData', 'tasks']);
const TOP = '\u0000top';

interface FlatStore {
  records: Map<string, Rec>;
  /** Child record keys by parent key (TOP for the top level); tree stores only. */
  children: Map<string, string[]>;
}

const isObject = (v: unknown): v is Rec => typeof v === 'object' && v !== null && !Array.isArray(v);
const hasId = (r: Rec): r is Rec & { id: RecordId } => typeof r.id === 'number' || typeof r.id === 'string';

/** JSON equality that ignores the order of object keys. */

export { sameJson };

function flatten(list: unknown, tree: boolean): FlatStore {
  const flat: FlatStore = { records: new Map(), children: new Map() };
  const walk = (items: unknown[], parent: string) => {
    const keys: string[] = [];
    for (const item of items) {
      if (!isObject(item) || !hasId(item)) continue;
      const { children, ...fields } = item;
      const record = tree && Array.isArray(children) ? fields : item;
      const key = recordKey(item.id);
      flat.records.set(key, record);
      keys.push(key);
      if (tree && Array.isArray(children) && children.length) walk(children, key);
    }
    if (tree && keys.length) flat.children.set(parent, keys);
  };
  if (Array.isArray(list)) walk(list, TOP);
  return flat;
}

function diffFields(a: Rec, b: Rec): Record<string, FieldChange> {
  const out: Record<string, FieldChange> = {};
  for (const [field, before] of Object.entries(a)) {
    if (!Object.hasOwn(b, field)) out[field] = { before };
    else if (!sameJson(before, b[field])) out[field] = { before, after: b[field] };
  }
  for (const [field, after] of Object.entries(b)) if (!Object.hasOwn(a, field)) out[field] = { after };
  return out;
}

function diffStore(a: FlatStore, b: FlatStore, tree: boolean): StoreDiff {
  const diff: StoreDiff = { added: [], removed: [], changed: [] };
  for (const [key, before] of a.records) {
    const after = b.records.get(key);
    if (!after) diff.removed.push(before);
    else {
      const fields = diffFields(before, after);
      if (Object.keys(fields).length) diff.changed.push({ id: after.id as RecordId, ...(after.name !== undefined ? { name: after.name } : {}), fields });
    }
  }
  for (const [key, after] of b.records) if (!a.records.has(key)) diff.added.push(after);
  if (tree) {
    const children: ChildrenChange[] = [];
    const idIn = (store: FlatStore) => (key: string) => store.records.get(key)!.id as RecordId;
    for (const parent of new Set([...a.children.keys(), ...b.children.keys()])) {
      // A removed parent's children are gone or listed under their new parents.
      if (parent !== TOP && !b.records.has(parent)) continue;
      const before = a.children.get(parent) ?? [];
      const after = b.children.get(parent) ?? [];
      if (before.length === after.length && before.every((k, i) => k === after[i])) continue;
      children.push({ parent: parent === TOP ? null : idIn(b)(parent), before: before.map(idIn(a)), after: after.map(idIn(b)) });
    }
    if (children.length) diff.children = children;
  }
  return diff;
}

const isEmpty = (d: StoreDiff) => !d.added.length && !d.removed.length && !d.changed.length && !d.children?.length;

function storeKeys(a: Rec, b: Rec): string[] {
  return [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => Array.isArray(a[k]) || Array.isArray(b[k]));
}

export function diffDatasets(a: Rec, b: Rec): DatasetDiff {
  const stores: Record<string, StoreDiff> = {};
  for (const key of storeKeys(a, b)) {
    const tree = TREE_KEYS.has(key);
    const diff = diffStore(flatten(a[key], tree), flatten(b[key], tree), tree);
    if (!isEmpty(diff)) stores[key] = diff;
  }
  const project = diffFields(isObject(a.project) ? a.project : {}, isObject(b.project) ? b.project : {});
  return { stores, project };
}

export function isEmptyDiff(diff: DatasetDiff): boolean {
  return Object.keys(diff.stores).length === 0 && Object.keys(diff.project).length === 0;
}

function applyFields(record: Rec, fields: Record<string, FieldChange>): Rec {
  const out = { ...record };
  for (const [field, change] of Object.entries(fields)) {
    if ('after' in change) out[field] = change.after;
    else delete out[field];
  }
  return out;
}

function rebuildTree(flat: FlatStore): Rec[] {
  const seen = new Set<string>();
  const visit = (parent: string): Rec[] =>
    (flat.children.get(parent) ?? []).flatMap((key) => {
      const record = flat.records.get(key);
      if (!record || seen.has(key)) return [];
      seen.add(key);
      const children = visit(key);
      return [children.length ? { ...record, children } : { ...record }];
    });
  return visit(TOP);
}

/** The dataset `diff` was computed towards, rebuilt from the one it was computed from. */
export function applyDiff(a: Rec, diff: DatasetDiff): Rec {
  const out: Rec = { ...a };
  for (const [key, change] of Object.entries(diff.stores)) {
    const tree = TREE_KEYS.has(key);
    const flat = flatten(a[key], tree);
    for (const removed of change.removed) if (hasId(removed)) flat.records.delete(recordKey(removed.id));
    for (const added of change.added) if (hasId(added)) flat.records.set(recordKey(added.id), added);
    for (const { id, fields } of change.changed) {
      const record = flat.records.get(recordKey(id));
      if (record) flat.records.set(recordKey(id), applyFields(record, fields));
    }
    if (tree) {
      for (const { parent, after } of change.children ?? []) flat.children.set(parent === null ? TOP : recordKey(parent), after.map(recordKey));
      out[key] = rebuildTree(flat);
    } else {
      out[key] = [...flat.records.values()];
    }
  }
  if (Object.keys(diff.project).length) out.project = applyFields(isObject(a.project) ? a.project : {}, diff.project);
  return out;
}
