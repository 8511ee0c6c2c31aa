/**
 * A client's picture of a project: records per store keyed by String(id), and the task tree as
 * ordered child lists. Built from a dataset, from a Yjs document, or kept current by applying
 * Bryntum change sets the way the server applies them (adapter.ts), so a client in step with the
 * server reaches the same state from the same changes.
 */
import type * as Y from 'yjs';
import { ASSIGNMENT_REFS, DEPENDENCY_ENDS, recordFields } from '../document/layout.js';
import { DATASET_KEYS } from '../document/dataset.js';

export type Rec = Record<string, unknown>;
export type Id = string | number;

/** Parent key of top-level tasks. */
export const ROOT = '\u0000root';
/** Stores the simulation compares. */
export const STORES = ['tasks', 'resources', 'dependencies', 'assignments', 'calendars'] as const;
/** Order in which a change set's stores are applied (as the server does). */
const STORE_ORDER = ['calendars', 'resources', 'tasks', 'dependencies', 'assignments', 'versions', 'changelogs'];
/** Wire fields that describe place or identity, never data. */
export const TRANSPORT_FIELDS = new Set(['$PhantomId', '$PhantomParentId', 'parentIndex', 'orderedParentIndex', 'children']);
export { ASSIGNMENT_REFS, DEPENDENCY_ENDS };

export const keyOf = (id: unknown): string => String(id);
export const isPhantom = (id: unknown): id is string => typeof id === 'string' && id.startsWith('_generated');
const isObject = (v: unknown): v is Rec => typeof v === 'object' && v !== null && !Array.isArray(v);
export const parentKeyOfValue = (parentId: unknown): string => (parentId === null || parentId === undefined ? ROOT : keyOf(parentId));

/** The first of `names` a record has, with its value. */
export function refOf(record: Rec, names: readonly string[]): { name: string; value: unknown } | null {
  for (const name of names) if (record[name] !== undefined) return { name, value: record[name] };
  return null;
}

export interface StoreDelta {
  added?: Rec[];
  updated?: Rec[];
  removed?: Rec[];
  $input?: { added?: Rec[]; updated?: Rec[]; removed?: Rec[] };
}
export type ChangeSet = Record<string, StoreDelta | Rec>;

export class View {
  readonly stores = new Map<string, Map<string, Rec>>();
  /** Ordered child keys per parent key; a key may name a parent that does not exist (orphans). */
  readonly children = new Map<string, string[]>();
  project: Rec = {};
  /** Problems found while building the view (duplicate ids in a dataset). */
  readonly problems: string[] = [];

  store(name: string): Map<string, Rec> {
    let map = this.stores.get(name);
    if (!map) this.stores.set(name, (map = new Map()));
    return map;
  }

  get tasks(): Map<string, Rec> {
    return this.store('tasks');
  }

  childrenOf(parentKey: string): string[] {
    return this.children.get(parentKey) ?? [];
  }

  parentKey(key: string): string {
    return parentKeyOfValue(this.tasks.get(key)?.parentId);
  }

  /** The parent's key, null at the top level. */
  parentKeyOrNull(key: string): string | null {
    const parentKey = this.parentKey(key);
    return parentKey === ROOT ? null : parentKey;
  }

  /** Add a task record (with its `parentId`) at `index` among its parent's children (end by default). */
  insertTask(key: string, record: Rec, index = Infinity): void {
    this.tasks.set(key, record);
    this.attach(key, parentKeyOfValue(record.parentId), index);
  }

  private attach(key: string, parentKey: string, index: number): void {
    let list = this.children.get(parentKey);
    if (!list) this.children.set(parentKey, (list = []));
    list.splice(Math.min(index, list.length), 0, key);
  }

  private detach(key: string, parentKey: string): void {
    const list = this.children.get(parentKey);
    if (!list) return;
    const i = list.indexOf(key);
    if (i !== -1) list.splice(i, 1);
    if (list.length === 0) this.children.delete(parentKey);
  }

  /** Give a task another parent (`parentId` value), at the end of its new siblings. */
  reparent(key: string, parentId: Id | null): void {
    const record = this.tasks.get(key);
    if (!record) return;
    this.detach(key, parentKeyOfValue(record.parentId));
    record.parentId = parentId;
    this.attach(key, parentKeyOfValue(parentId), Infinity);
  }

  /** True when `ancestor` is `key` or one of its ancestors. */
  isSelfOrAncestor(ancestor: string, key: string): boolean {
    const seen = new Set<string>();
    for (let k = key; k !== ROOT && !seen.has(k); k = this.parentKey(k)) {
      if (k === ancestor) return true;
      seen.add(k);
      if (!this.tasks.has(k)) return false;
    }
    return false;
  }

  descendants(key: string): string[] {
    const out: string[] = [];
    const stack = [key];
    while (stack.length) {
      for (const child of this.childrenOf(stack.pop()!)) {
        out.push(child);
        stack.push(child);
      }
    }
    return out;
  }

  /** Remove a task with its subtree. Returns the removed keys. */
  removeTask(key: string): string[] {
    if (!this.tasks.has(key)) return [];
    const keys = [key, ...this.descendants(key)];
    this.detach(key, this.parentKey(key));
    for (const k of keys) {
      this.tasks.delete(k);
      this.children.delete(k);
    }
    return keys;
  }

  /**
   * Records of other stores that point at removed tasks or resources (the scheduling engine drops
   * them together with what they point at). Returns them per store, already removed.
   */
  dropReferencesTo(store: 'tasks' | 'resources', keys: Set<string>): Map<string, Rec[]> {
    const out = new Map<string, Rec[]>();
    const drop = (name: string, pointsAt: (r: Rec) => boolean) => {
      const map = this.store(name);
      for (const [k, r] of [...map]) {
        if (!pointsAt(r)) continue;
        map.delete(k);
        let list = out.get(name);
        if (!list) out.set(name, (list = []));
        list.push(r);
      }
    };
    const hits = (r: Rec, names: readonly string[]) => {
      const ref = refOf(r, names);
      return ref !== null && ref.value !== null && keys.has(keyOf(ref.value));
    };
    if (store === 'tasks') drop('dependencies', (r) => DEPENDENCY_ENDS.some((names) => hits(r, names)));
    for (const [names, target] of ASSIGNMENT_REFS) if (target === store) drop('assignments', (r) => hits(r, names));
    return out;
  }

  /** Give a record a new key and id (a phantom that got its real id), with every reference to it. */
  rekey(store: string, from: string, id: Id): void {
    const map = this.store(store);
    const record = map.get(from);
    const to = keyOf(id);
    if (!record || from === to) return;
    const existing = map.get(to);
    if (store === 'tasks') {
      const parentKey = this.parentKey(from);
      const siblings = this.childrenOf(parentKey);
      if (existing) {
        // Already there (loaded with a dataset): this copy's values win, the first place stays.
        Object.assign(existing, record, { id, parentId: existing.parentId });
        this.detach(from, parentKey);
      } else siblings[siblings.indexOf(from)] = to;
      const kids = this.children.get(from);
      if (kids) {
        this.children.delete(from);
        this.children.set(to, [...(this.children.get(to) ?? []), ...kids]);
      }
      for (const r of this.tasks.values()) if (r.parentId === from) r.parentId = id;
      for (const r of this.store('dependencies').values()) for (const names of DEPENDENCY_ENDS) rewrite(r, names, from, id);
    }
    for (const [names, target] of ASSIGNMENT_REFS) if (target === store) for (const r of this.store('assignments').values()) rewrite(r, names, from, id);
    map.delete(from);
    if (existing) return;
    record.id = id;
    map.set(to, record);
  }

  clone(): View {
    const copy = new View();
    for (const [name, map] of this.stores) copy.stores.set(name, new Map([...map].map(([k, r]) => [k, structuredClone(r)])));
    for (const [k, list] of this.children) copy.children.set(k, [...list]);
    copy.project = structuredClone(this.project);
    return copy;
  }

  /** From a dataset (either generation; `project` fields from `dataset.project` or `projectMeta`). */
  static fromDataset(dataset: Rec, projectMeta?: Rec): View {
    const view = new View();
    view.project = structuredClone((isObject(dataset.project) ? dataset.project : projectMeta) ?? {});
    for (const store of STORES) {
      const rows = dataset[DATASET_KEYS[store]] ?? dataset[store];
      if (!Array.isArray(rows)) continue;
      if (store === 'tasks') {
        const walk = (list: unknown[], parentId: Id | null) => {
          for (const row of list) {
            if (!isObject(row)) continue;
            const { children, ...fields } = row;
            const key = keyOf(fields.id);
            if (view.tasks.has(key)) view.problems.push(`tasks: id ${JSON.stringify(fields.id)} listed twice`);
            else view.insertTask(key, { ...structuredClone(fields), parentId });
            if (Array.isArray(children)) walk(children, fields.id as Id);
          }
        };
        walk(rows, null);
        continue;
      }
      const map = view.store(store);
      for (const row of rows) {
        if (!isObject(row)) continue;
        const key = keyOf(row.id);
        if (map.has(key)) view.problems.push(`${store}: id ${JSON.stringify(row.id)} listed twice`);
        map.set(key, structuredClone(row));
      }
    }
    return view;
  }

  /** From a Yjs document in Weft's layout (src/document/layout.ts: own field keys over `$base`). */
  static fromDoc(doc: Y.Doc): View {
    const view = new View();
    view.project = doc.getMap('project').toJSON();
    for (const store of STORES) {
      const map = doc.getMap(store) as Y.Map<Y.Map<unknown>>;
      if (store !== 'tasks') {
        for (const [key, record] of map) view.store(store).set(key, recordFields(record));
        continue;
      }
      const byParent = new Map<string, [string, string][]>();
      for (const [key, record] of map) {
        const { $order, ...fields } = recordFields(record);
        fields.parentId ??= null;
        view.tasks.set(key, fields);
        const parentKey = parentKeyOfValue(fields.parentId);
        let list = byParent.get(parentKey);
        if (!list) byParent.set(parentKey, (list = []));
        list.push([typeof $order === 'string' ? $order : '', key]);
      }
      // Sibling order as the server's tree index gives it: by order key, ties by record key.
      for (const [parentKey, list] of byParent) {
        list.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
        view.children.set(parentKey, list.map((e) => e[1]));
      }
    }
    return view;
  }
}

function rewrite(record: Rec, names: readonly string[], from: string, to: Id): void {
  const ref = refOf(record, names);
  if (ref && ref.value === from) record[ref.name] = to;
}

function positionOf(rec: Rec): number {
  const index = typeof rec.orderedParentIndex === 'number' ? rec.orderedParentIndex : rec.parentIndex;
  return typeof index === 'number' && Number.isInteger(index) && index >= 0 ? index : Infinity;
}

function orderedStores(changes: ChangeSet): string[] {
  const rank = (s: string) => (STORE_ORDER.includes(s) ? STORE_ORDER.indexOf(s) : STORE_ORDER.length);
  return Object.keys(changes)
    .filter((k) => k !== 'project' && isObject(changes[k]))
    .sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * The part of a revision a revisions client replays: `$input` of each entry that has one
 * (PROTOCOL.md §12). Null when no entry has `$input` (the client skips the revision).
 */
export function replayedPart(changes: ChangeSet): ChangeSet | null {
  const out: ChangeSet = {};
  let any = false;
  for (const [key, entry] of Object.entries(changes)) {
    if (!isObject(entry) || !isObject(entry.$input)) continue;
    any = true;
    out[key] = key === 'project' ? { ...entry.$input } : { ...(entry.$input as Rec) };
  }
  return any ? out : null;
}

/**
 * Apply a Bryntum change set as the server does: per store added, updated, removed (a task with
 * its subtree), then the placements among siblings. Removing tasks or resources also drops
 * the dependencies and assignments pointing at them, as the clients' scheduling engine does.
 */
export function applyChangeSet(view: View, changes: ChangeSet): void {
  for (const store of orderedStores(changes)) applyStore(view, store, changes[store] as StoreDelta);
  const project = changes.project;
  if (isObject(project)) {
    for (const [field, value] of Object.entries(project)) if (field !== '$input' && field !== 'id') view.project[field] = structuredClone(value);
  }
}

interface Placement {
  key: string;
  index: number;
}

function applyStore(view: View, store: string, entry: StoreDelta): void {
  const map = view.store(store);
  const isTasks = store === 'tasks';
  const placements = new Map<string, Placement[]>();
  const place = (parentKey: string, key: string, rec: Rec) => {
    let list = placements.get(parentKey);
    if (!list) placements.set(parentKey, (list = []));
    list.push({ key, index: positionOf(rec) });
  };

  const update = (key: string, rec: Rec) => {
    const record = map.get(key);
    if (!record) return;
    for (const [field, value] of Object.entries(rec)) {
      if (field === 'id' || TRANSPORT_FIELDS.has(field) || (isTasks && field === 'parentId')) continue;
      record[field] = structuredClone(value);
    }
    if (!isTasks) return;
    const current = view.parentKey(key);
    if ('parentId' in rec) {
      const parentKey = parentKeyOfValue(rec.parentId);
      if (parentKey !== current) {
        // A task cannot go below itself; the server refuses such a move too.
        if (parentKey !== ROOT && view.isSelfOrAncestor(key, parentKey)) return;
        view.reparent(key, (rec.parentId ?? null) as Id | null);
        place(parentKey, key, rec);
        return;
      }
    }
    if (positionOf(rec) !== Infinity) place(current, key, rec);
  };

  for (const rec of entry.added ?? []) {
    const id = (rec.id ?? rec.$PhantomId) as Id | undefined;
    if (id === undefined) continue;
    const key = keyOf(id);
    if (map.has(key)) {
      // A re-sent phantom the server kept in `added`: an update of the record it made.
      update(key, rec);
      continue;
    }
    const record: Rec = {};
    for (const [field, value] of Object.entries(rec)) if (!TRANSPORT_FIELDS.has(field)) record[field] = structuredClone(value);
    record.id = id;
    if (isTasks) {
      record.parentId = rec.parentId ?? null;
      view.insertTask(key, record);
      place(parentKeyOfValue(record.parentId), key, rec);
    } else map.set(key, record);
  }
  for (const rec of entry.updated ?? []) if (rec.id !== undefined) update(keyOf(rec.id), rec);

  const removedKeys = new Set<string>();
  for (const rec of entry.removed ?? []) {
    if (rec.id === undefined) continue;
    const key = keyOf(rec.id);
    if (!map.has(key)) continue;
    if (isTasks) for (const k of view.removeTask(key)) removedKeys.add(k);
    else {
      map.delete(key);
      removedKeys.add(key);
    }
  }

  // Indices are positions in the sender's final view: placed after the removals, last one wins.
  for (const [parentKey, list] of placements) {
    const byKey = new Map<string, Placement>();
    for (const p of list) if (map.has(p.key) && view.parentKey(p.key) === parentKey) byKey.set(p.key, p);
    if (byKey.size === 0) continue;
    const final = view.childrenOf(parentKey).filter((k) => !byKey.has(k));
    for (const { key, index } of [...byKey.values()].sort((a, b) => a.index - b.index)) final.splice(Math.min(index, final.length), 0, key);
    view.children.set(parentKey, final);
  }
  if (removedKeys.size && (store === 'tasks' || store === 'resources')) view.dropReferencesTo(store, removedKeys);
}
