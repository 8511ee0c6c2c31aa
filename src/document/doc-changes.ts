/**
 * The reverse of the adapter: what a transaction did to the document, as a Bryntum change set.
 * Used for writes that did not come from a Bryntum change (Yjs peers, restores), so Bryntum
 * clients receive them like any other change. Read from Yjs's own record of the transaction
 * (`tr.changed`), so it works for any writer.
 */
import * as Y from 'yjs';
import { recordJson } from './dataset.js';
import {
  BASE_FIELD,
  HIDDEN_TASK_FIELDS,
  ORDER_FIELD,
  PARENT_FIELD,
  PROJECT_MAP,
  TASKS,
  VERSIONS,
  allStoreNames,
  idOf,
  isRecordId,
  plainValue,
  projectMap,
  readField,
  recordKey,
  storeMap,
  type FieldMap,
  type RecordId,
} from './layout.js';
import { ROOT, parentKeyOf, type TreeIndex } from './tree.js';
import { shownValue } from '../protocol/engine-fields.js';

type Rec = Record<string, unknown>;
interface Entry {
  added?: Rec[];
  updated?: Rec[];
  removed?: Rec[];
}

/** True when the record map was created by this transaction. */
function createdIn(tr: Y.Transaction, record: FieldMap): boolean {
  const item = record._item;
  if (!item) return false;
  return item.id.clock >= (tr.beforeState.get(item.id.client) ?? 0);
}

/**
 * The id of a record removed in this transaction, as clients know it: a value of its `id` (or its
 * base's) that its key names. Its map is deleted, but until the transaction ends its items still
 * hold their content, the older values of a field among them: an id a peer changed in the same
 * update (merged with the removal) is passed over for the one before it.
 */
function removedId(map: Y.Map<FieldMap>, key: string): RecordId {
  const item = (map as unknown as { _map: Map<string, Y.Item> })._map.get(key);
  const record = item?.content.getContent()[0] as FieldMap | undefined;
  const fields = (record as unknown as { _map?: Map<string, Y.Item> } | undefined)?._map;
  const names = (id: unknown): id is RecordId => isRecordId(id) && recordKey(id) === key;
  for (let at = fields?.get('id') ?? null; at !== null; at = at.left as Y.Item | null) {
    const id = at.content.getContent()[0];
    if (names(id)) return id;
  }
  const base = fields?.get(BASE_FIELD)?.content.getContent()[0] as { id?: unknown } | undefined;
  return names(base?.id) ? base.id : key;
}

/**
 * Top-level types an update made that nothing has read yet (a store new to the document), by name.
 * Yjs holds such a type as a bare placeholder until it is first read as a map, and then replaces
 * it with a new object: the transaction's record of changes still knows it by the placeholder.
 * Taken right after applying an update, before anything reads the new stores.
 */
export function unreadRoots(doc: Y.Doc): Map<unknown, string> {
  const out = new Map<unknown, string>();
  for (const [name, type] of doc.share) if (type.constructor === Y.AbstractType) out.set(type, name);
  return out;
}

const MAX_NESTING = 256;

/**
 * The record and top-level field holding `type` when it is nested (at any depth) in a record's
 * field value; null otherwise. The walk is as deep as the nesting, which the input checks bound.
 */
function nestedField(type: Y.AbstractType<any>, stores: Map<unknown, string>): { store: string; key: string; record: FieldMap; field: string } | null {
  let child: Y.AbstractType<any> = type;
  let at = type._item?.parent as Y.AbstractType<any> | null | undefined;
  // Bounded whatever a peer nested (the input checks refuse values deeper than limits.maxValueDepth, 64 by default).
  for (let depth = 0; at && depth < MAX_NESTING; depth++) {
    const holder = at._item;
    if (!holder) return null;
    const store = stores.get(holder.parent);
    if (store !== undefined) {
      // `child` is held by an item: it is `type` (whose item has a parent) or an earlier `at` (which had a holder).
      const field = child._item!.parentSub;
      return holder.parentSub && field ? { store, key: holder.parentSub, record: at as unknown as FieldMap, field } : null;
    }
    child = at;
    at = holder.parent as Y.AbstractType<any> | null;
  }
  return null;
}

/** `unreadRoots`: the document's new stores as the transaction knows them (see there). */
export function changesOfTransaction(tr: Y.Transaction, tree: TreeIndex, unreadRootsOf: Map<unknown, string> = new Map()): Record<string, unknown> | null {
  const doc = tr.doc;
  const out: Record<string, unknown> = {};
  const names = allStoreNames(doc);
  const stores = new Map(names.map((name) => [storeMap(doc, name) as unknown, name]));
  for (const [type, name] of unreadRootsOf) if (names.includes(name)) stores.set(type, name);
  const entries = new Map<string, Entry>();
  const entry = (store: string) => {
    let e = entries.get(store);
    if (!e) entries.set(store, (e = {}));
    return e;
  };
  const updates = new Map<string, Map<string, Rec>>();
  const update = (store: string, key: string, id: RecordId) => {
    let byKey = updates.get(store);
    if (!byKey) updates.set(store, (byKey = new Map()));
    let rec = byKey.get(key);
    if (!rec) byKey.set(key, (rec = { id }));
    return rec;
  };
  const position = (key: string, rec: Rec) => {
    const index = tree.childrenOf(tree.parentKey(key) ?? ROOT).indexOf(key);
    rec.parentIndex = index;
    rec.orderedParentIndex = index;
  };

  for (const [type, subs] of tr.changed) {
    const store = stores.get(type);
    if (store !== undefined) {
      const map = storeMap(doc, store) as Y.Map<FieldMap>;
      for (const key of subs) {
        if (key === null) continue;
        const record = map.get(key);
        if (!record) {
          (entry(store).removed ??= []).push({ id: removedId(map, key) });
        } else if (createdIn(tr, record)) {
          const rec = recordJson(record, store === TASKS ? HIDDEN_TASK_FIELDS : undefined);
          if (store === VERSIONS) delete rec.content;
          if (store === TASKS) {
            rec.parentId = readField(record, PARENT_FIELD) ?? null;
            position(key, rec);
          }
          (entry(store).added ??= []).push(rec);
        } else {
          // The whole record was replaced: send all its fields.
          Object.assign(update(store, key, idOf(record, key)), recordJson(record, store === TASKS ? HIDDEN_TASK_FIELDS : undefined));
        }
      }
      continue;
    }
    const parent = type._item?.parent;
    const parentStore = parent ? stores.get(parent) : undefined;
    if (parentStore !== undefined && type._item?.parentSub) {
      const key = type._item.parentSub;
      // Older than this transaction and still there: Yjs leaves types it made out of its changes
      // (a new record is sent whole, as added) and drops deleted ones (a removal is told as such).
      const record = type as unknown as FieldMap;
      const rec = update(parentStore, key, idOf(record, key));
      const hidden = parentStore === TASKS ? HIDDEN_TASK_FIELDS : undefined;
      // A new base (a peer rewrote the record) may change any field.
      if (subs.has(BASE_FIELD)) Object.assign(rec, recordJson(record, hidden));
      for (const field of subs) {
        if (field === null || field === ORDER_FIELD || field === BASE_FIELD) continue;
        if (field === PARENT_FIELD && parentStore === TASKS) rec.parentId = parentKeyOf(record) === ROOT ? null : readField(record, PARENT_FIELD);
        // A field deleted (a restore) shows the model's default where there is one: `null` would
        // switch a dependency off.
        else rec[field] = readField(record, field) ?? shownValue(parentStore, field, undefined) ?? null;
      }
      const moved = subs.has(ORDER_FIELD) || subs.has(PARENT_FIELD) || subs.has(BASE_FIELD);
      if (parentStore === TASKS && moved) {
        if (!('parentId' in rec)) rec.parentId = readField(record, PARENT_FIELD) ?? null;
        position(key, rec);
      }
      continue;
    }
    // A change inside a type a peer nested in a record's field: that field, whole, as it is now.
    const nested = nestedField(type, stores);
    if (nested) {
      const { store, key, record, field } = nested;
      update(store, key, idOf(record, key))[field] = plainValue(record.get(field)) ?? null;
      continue;
    }
    if ((type as unknown) === projectMap(doc)) {
      const fields: Rec = {};
      for (const field of subs) if (field !== null) fields[field] = projectMap(doc).get(field) ?? null;
      out[PROJECT_MAP] = fields;
    }
  }
  for (const [store, byKey] of updates) {
    const list = [...byKey.entries()];
    // Receivers apply moves one after another and refuse one that would put a task below itself:
    // moving shallow tasks first, by their depth in the result, never passes through a cycle.
    if (store === TASKS) list.sort((a, b) => depthOf(a[1], a[0], tree) - depthOf(b[1], b[0], tree));
    entry(store).updated = list.map(([, rec]) => rec);
  }
  for (const [store, e] of entries) out[store] = e;
  return Object.keys(out).length ? out : null;
}

/** Depth of a moved task in the tree after the transaction (0 at the top); -1 for other updates. */
function depthOf(rec: Rec, key: string, tree: TreeIndex): number {
  if (!('parentId' in rec)) return -1;
  let depth = 0;
  for (let k = tree.parentKey(key); k !== undefined && k !== ROOT && depth < 100_000; k = tree.parentKey(k)) depth++;
  return depth;
}
