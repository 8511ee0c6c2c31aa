/**
 * The adapter: one Bryntum change set in, one Yjs transaction and the change to tell clients out.
 *
 * It has no sockets and no storage: ids come from an IdSource, known phantoms from a lookup,
 * and everything the caller must persist or send is returned. The steps follow PROTOCOL.md §7:
 * assign ids to every added record first, then resolve phantom references everywhere, then
 * write to the document, checking each entry against the document as it is now, so what is sent
 * out reflects what the document holds.
 */
import * as Y from 'yjs';
import type { Changes } from '../protocol/schemas.js';
import {
  ORDER_FIELD,
  PARENT_FIELD,
  PROJECT_MAP,
  REFERENCE_STORES,
  TASKS,
  TRANSPORT_FIELDS,
  VERSIONS,
  allStoreNames,
  isRecordId,
  projectMap,
  newRecord,
  readField,
  recordKey,
  registerStore,
  storeMap,
  type FieldMap,
  type RecordId,
  type StoreMap,
} from './layout.js';
import { isOrderKey, keyBetween, keysBetween } from './order.js';
import { ROOT, TreeIndex } from './tree.js';
import { isNestedChangeSet, sameJson } from './json.js';
import { completeInput } from './replayed-input.js';
import { inServerIdSpace, refuseReservedIds } from './reserved-ids.js';
import { NewPhantoms, type KnownPhantoms } from './phantoms.js';
import { mayCorrect, shownValue } from '../protocol/engine-fields.js';

export interface IdSource {
  /** A fresh id for a record of `store`, never handed out before in this project. */
  next(store: string, taken: (id: RecordId) => boolean): RecordId;
  /** A client chose this id itself; ids handed out later must stay clear of it. */
  claim(id: RecordId): void;
  /** True when `id` has the form of this project's ids for `store` and the counter has passed it. */
  mayHaveHeld(store: string, id: unknown): id is RecordId;
}

export interface ChangeContext {
  ids: IdSource;
  /** Phantom ids earlier changes of the same sender named records by (src/document/phantoms.ts). */
  phantoms: KnownPhantoms;
  /** How a re-sent phantom (already mapped) is reported: moved to `updated` (revisions) or kept in `added` with its id. */
  resentPhantoms: 'to-updated' | 'keep-added';
  /** Yjs transaction origin, so observers can tell the adapter's own writes apart. */
  origin: unknown;
  /**
   * The change is a revisions client's engine correction (`isEngineCorrection`): it writes only
   * what the engine computes (`mayCorrect`). Anything else in it, such as a task's parent or a
   * dependency switched off, is that client's passing view (seen with Gantt 7.3 after concurrent
   * moves and cycles), which no other client replays: the sender is told the stored value instead.
   */
  engineCorrection?: boolean;
}

export interface AppliedChange {
  /** The processed change for clients: ids filled in, references resolved, version content removed. */
  outgoing: Changes;
  /** At least one record was added (classic clients then get their own change back). */
  hasAdded: boolean;
  /** Phantom ids this change named new records by, per store. */
  newPhantoms: NewPhantoms;
  /** Version content to store outside the document, keyed by version record key. */
  versionContents: Map<string, unknown>;
  removedVersions: string[];
  /** What the sender must be told because the document did not take its change as sent. */
  corrections: Changes | null;
  /** `store \0 key \0 field` of every field this change wrote, for concurrency tracking. */
  touched: string[];
  /**
   * Phantom ids mapped by earlier changes were resolved: a sender that has since reloaded (and
   * lost its phantom records) does not know the real ids, so it needs the change back.
   */
  usedEarlierPhantoms: boolean;
}

export interface ProjectView {
  doc: Y.Doc;
  tree: TreeIndex;
}

const STORE_ORDER = ['calendars', 'resources', 'tasks', 'dependencies', 'assignments', 'versions', 'changelogs'];
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
type Rec = Record<string, unknown>;
interface StoreEntry {
  added?: Rec[];
  updated?: Rec[];
  removed?: Rec[];
  $input?: { added?: Rec[]; updated?: Rec[]; removed?: Rec[] };
  [k: string]: unknown;
}

export function touchKey(store: string, key: string, field: string): string {
  return `${store}\u0000${key}\u0000${field}`;
}

/** The store, record key and field of a `touchKey`. */
export function touchParts(touch: string): { store: string; key: string; field: string } {
  const [store, key, field] = touch.split('\u0000');
  return { store, key, field };
}

export function applyChange(project: ProjectView, incoming: Changes, ctx: ChangeContext): AppliedChange {
  const { doc } = project;
  const change = structuredClone(incoming) as Record<string, unknown>;
  refuseReservedIds(change);
  // §7.7: no store entry of the outgoing change may be null.
  for (const key of Object.keys(change)) if (change[key] === null || change[key] === undefined) delete change[key];
  const stores = orderedStores(change);
  const newPhantoms = new NewPhantoms();
  let usedEarlierPhantoms = false;
  /** The record a phantom id names: in `store`, or where the field does not tell, in any store. */
  const lookup: PhantomLookup = (p, store) => {
    const id = newPhantoms.get(p, store ?? undefined);
    if (id !== undefined) return id;
    for (const s of store === null ? ctx.phantoms.storesOf(p) : [store]) {
      const earlier = ctx.phantoms.get(s, p);
      if (earlier === undefined) continue;
      usedEarlierPhantoms = true;
      return earlier.id;
    }
    return undefined;
  };
  const resent = new Set<Rec>();
  const usedIds = new Set<string>();
  // Only changes that add records look ids up across all stores.
  let existingStores: string[] | undefined;
  const taken = (id: RecordId) => usedIds.has(recordKey(id)) || (existingStores ??= allStoreNames(doc)).some((name) => storeMap(doc, name).has(recordKey(id)));

  // 1. Ids for every added record, across all stores, before any reference is read.
  let hasAdded = false;
  /** Ids given to records added without a phantom id, by store and the id they were sent with. */
  const ownIds = new Map<string, RecordId>();
  const ownKey = (store: string, sent: RecordId) => `${store}\u0000${recordKey(sent)}`;
  for (const store of stores) {
    const entry = change[store] as StoreEntry;
    for (const rec of entry.added ?? []) {
      hasAdded = true;
      const phantom = typeof rec.$PhantomId === 'string' ? rec.$PhantomId : undefined;
      // The same record sent again (§7.3): in this change, or over the connection that sent it first.
      const earlier = phantom === undefined ? undefined : ctx.phantoms.get(store, phantom);
      const known = phantom === undefined ? undefined : (newPhantoms.get(phantom, store) ?? (earlier?.resent ? earlier.id : undefined));
      if (known !== undefined) {
        if (earlier?.resent && known === earlier.id) usedEarlierPhantoms = true;
        resent.add(rec);
        rec.id = known;
        continue;
      }
      // Bryntum's revision engine, undoing a removal while it rebases, re-adds a record with its
      // own id as the phantom id: that is the record itself (an update of it, refused if it is gone).
      if (ctx.ids.mayHaveHeld(store, rec.$PhantomId)) {
        resent.add(rec);
        rec.id = rec.$PhantomId;
        continue;
      }
      let id: RecordId;
      if (phantom === undefined && (typeof rec.id === 'number' || (typeof rec.id === 'string' && rec.id !== '' && !rec.id.startsWith('_generated'))) && !taken(rec.id) && !inServerIdSpace(store, rec.id)) {
        id = rec.id;
        ctx.ids.claim(id);
      } else {
        id = ctx.ids.next(store, taken);
      }
      usedIds.add(recordKey(id));
      if (phantom === undefined && isRecordId(rec.id)) ownIds.set(ownKey(store, rec.id), id);
      rec.id = id;
      if (phantom !== undefined) newPhantoms.set(store, phantom, id);
    }
  }

  // 2. Phantom references, wherever they are (this change or earlier ones).
  for (const store of stores) {
    const entry = change[store] as StoreEntry;
    for (const list of [entry.added, entry.updated, entry.removed, entry.$input?.added, entry.$input?.updated, entry.$input?.removed]) {
      if (list) for (const rec of list) resolveRecord(rec, store, lookup);
    }
    for (const rec of entry.added ?? []) {
      if (typeof rec.$PhantomParentId === 'string') {
        const parent = lookup(rec.$PhantomParentId, TASKS);
        if (parent !== undefined) rec.parentId = parent;
      }
    }
    for (const rec of entry.$input?.added ?? []) {
      if (typeof rec.$PhantomId === 'string') {
        const id = lookup(rec.$PhantomId, store);
        if (id !== undefined) rec.id = id;
      } else if (rec.$PhantomId !== undefined) {
        // A phantom id that is not text (a record re-added under its own id): the record added with it.
        const id = (entry.added ?? []).find((r) => r.$PhantomId === rec.$PhantomId)?.id;
        if (id !== undefined) rec.id = id;
      } else if (isRecordId(rec.id)) {
        // Added with an id of its own: the id that record was given (another one if its own was taken).
        const id = ownIds.get(ownKey(store, rec.id));
        if (id !== undefined) rec.id = id;
      }
    }
    if (resent.size && ctx.resentPhantoms === 'to-updated') moveResentToUpdated(entry, resent);
  }
  if (isObject(change.project)) resolveRecord(change.project, null, lookup);

  // 3. What receivers replay must hold every user edit the document is about to take.
  for (const store of stores) {
    const map = storeMap(doc, store);
    completeInput(store, change[store] as StoreEntry, {
      field: (id, field) => {
        const record = map.get(recordKey(id as RecordId));
        return record ? { value: readField(record, field) } : undefined;
      },
      isLeafTask: (id) => store === TASKS && map.has(recordKey(id as RecordId)) && !project.tree.hasChildren(recordKey(id as RecordId)),
    });
  }

  // 4. Write to the document in one transaction.
  const result: AppliedChange = {
    outgoing: change,
    hasAdded,
    newPhantoms,
    versionContents: new Map(),
    removedVersions: [],
    corrections: null,
    touched: [],
    usedEarlierPhantoms,
  };
  doc.transact(() => {
    for (const store of stores) writeStore(project, store, change[store] as StoreEntry, resent, result, ctx.engineCorrection === true);
    if (isObject(change.project)) writeProjectFields(doc, change.project, result);
  }, ctx.origin);

  for (const store of stores) stripVersionContent(store, change[store] as StoreEntry);
  return result;
}

function orderedStores(change: Record<string, unknown>): string[] {
  const names = Object.keys(change).filter((k) => k !== PROJECT_MAP && isObject(change[k]));
  return names.sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
}
const rank = (store: string) => {
  const i = STORE_ORDER.indexOf(store);
  return i === -1 ? STORE_ORDER.length : i;
};

type PhantomLookup = (phantom: string, store: string | null) => RecordId | undefined;

/**
 * §7.4: phantom ids in the fields of a record of `store` (null: project fields) become real ids.
 * A record's own `id` names a record of its store, a reference field one of the store it points
 * into (REFERENCE_STORES); any other field, and anything nested, a record of any store.
 */
function resolveRecord(rec: Rec, store: string | null, lookup: PhantomLookup): void {
  for (const key in rec) {
    if (key === '$PhantomId' || key === '$PhantomParentId') continue;
    const v = rec[key];
    if (typeof v === 'string') {
      const id = lookup(v, key === 'id' ? store : (REFERENCE_STORES.get(key) ?? null));
      if (id !== undefined) rec[key] = id;
    } else if (typeof v === 'object' && v !== null) resolveNested(v as Rec | unknown[], lookup);
  }
}

function resolveNested(value: Rec | unknown[], lookup: PhantomLookup): void {
  // Depth-first with an explicit stack: a value may nest deeper than the call stack allows.
  const stack: (Rec | unknown[])[] = [value];
  while (stack.length) {
    const node = stack.pop()! as Record<string | number, unknown>;
    for (const key of Array.isArray(node) ? node.keys() : Object.keys(node)) {
      if (key === '$PhantomId' || key === '$PhantomParentId') continue;
      const v = node[key];
      if (typeof v === 'string') {
        const id = lookup(v, null);
        if (id !== undefined) node[key] = id;
      } else if (typeof v === 'object' && v !== null) stack.push(v as Rec | unknown[]);
    }
  }
}

/** §7.3: a re-sent phantom becomes an update of the record it already created. */
function moveResentToUpdated(entry: StoreEntry, resent: Set<Rec>): void {
  if (!entry.added?.some((rec) => resent.has(rec))) return;
  const phantoms = new Set<unknown>();
  entry.added = entry.added.filter((rec) => {
    if (!resent.has(rec)) return true;
    phantoms.add(rec.$PhantomId);
    delete rec.$PhantomId;
    delete rec.$PhantomParentId;
    (entry.updated ??= []).push(rec);
    return false;
  });
  const input = entry.$input;
  if (input?.added) {
    input.added = input.added.filter((rec) => {
      if (!phantoms.has(rec.$PhantomId)) return true;
      delete rec.$PhantomId;
      delete rec.$PhantomParentId;
      (input.updated ??= []).push(rec);
      return false;
    });
  }
}

interface Placement {
  key: string;
  index: number;
}

function writeStore(project: ProjectView, store: string, entry: StoreEntry, resent: Set<Rec>, result: AppliedChange, computedOnly: boolean): void {
  const { doc, tree } = project;
  registerStore(doc, store);
  const map = storeMap(doc, store);
  const isTasks = store === TASKS;
  const placements = new Map<string, Placement[]>();
  const place = (parentKey: string, key: string, rec: Rec) => {
    let list = placements.get(parentKey);
    if (!list) placements.set(parentKey, (list = []));
    list.push({ key, index: positionOf(rec) });
  };

  const refusedMoves = new Set<string>();
  const update = (rec: Rec) => {
    if (updateRecord(project, store, map, rec, result, place, computedOnly) === 'move-refused') refusedMoves.add(recordKey(rec.id as RecordId));
  };

  let resentOfRemoved: Set<Rec> | undefined;
  for (const rec of entry.added ?? []) {
    const key = recordKey(rec.id as RecordId);
    if (resent.has(rec)) {
      // Re-sent phantom kept in `added`: an update of its record, unless that record is gone.
      if (!map.has(key)) (resentOfRemoved ??= new Set()).add(rec);
      update(rec);
      continue;
    }
    const fields: Rec = {};
    for (const [field, value] of Object.entries(rec)) {
      if (TRANSPORT_FIELDS.has(field)) continue;
      if (store === VERSIONS && field === 'content') {
        result.versionContents.set(key, value);
        continue;
      }
      fields[field] = storedValue(value, undefined);
    }
    if (isTasks) fields[PARENT_FIELD] = rec.parentId ?? null;
    map.set(key, newRecord(fields));
    if (isTasks) {
      const parentKey = rec.parentId === null || rec.parentId === undefined ? ROOT : recordKey(rec.parentId as RecordId);
      tree.attach(key, parentKey);
      place(parentKey, key, rec);
    }
  }

  if (resentOfRemoved) entry.added = entry.added!.filter((rec) => !resentOfRemoved.has(rec));
  for (const rec of entry.updated ?? []) update(rec);
  // Receivers replay `$input`: a refused move must not reach them through it either.
  // Stryker disable next-line ConditionalExpression: with no move refused the loop drops nothing; this skips it
  if (refusedMoves.size) {
    for (const rec of [...(entry.$input?.added ?? []), ...(entry.$input?.updated ?? [])]) {
      if (rec.id !== undefined && refusedMoves.has(recordKey(rec.id as RecordId))) dropPlacement(rec);
    }
  }

  const listed = new Set((entry.removed ?? []).map((rec) => recordKey(rec.id as RecordId)));
  for (const rec of entry.removed ?? []) {
    const key = recordKey(rec.id as RecordId);
    if (!map.has(key)) continue;
    const keys = isTasks ? [key, ...tree.descendants(key)] : [key];
    for (const k of keys) {
      // A child added or moved here by someone else meanwhile goes with the subtree; the sender
      // may receive that change only after its removal, so tell it.
      if (!listed.has(k)) correction(result, store, 'removed').push({ id: readField(map.get(k)!, 'id') ?? k });
      map.delete(k);
      if (isTasks) tree.detach(k);
      if (store === VERSIONS) result.removedVersions.push(k);
    }
  }

  // Indices a client sends are positions in its final view, where the records it removed are
  // gone already: place after the removals.
  for (const [parentKey, list] of placements) placeChildren(project, parentKey, list);
}

function updateRecord(
  project: ProjectView,
  store: string,
  map: StoreMap,
  rec: Rec,
  result: AppliedChange,
  place: (parentKey: string, key: string, rec: Rec) => void,
  computedOnly: boolean,
): 'move-refused' | undefined {
  const { tree } = project;
  const key = recordKey(rec.id as RecordId);
  const record = map.get(key);
  if (!record) {
    // Removed meanwhile (or never existed): the sender still shows it, so tell it to drop it.
    correction(result, store, 'removed').push({ id: rec.id });
    return;
  }
  const isTasks = store === TASKS;
  let kept: Rec | undefined;
  for (const [field, value] of Object.entries(rec)) {
    if (field === 'id' || TRANSPORT_FIELDS.has(field) || field === PARENT_FIELD && isTasks) continue;
    if (store === VERSIONS && field === 'content') {
      result.versionContents.set(key, value);
      continue;
    }
    const current = readField(record, field);
    const next = storedValue(value, current);
    if (computedOnly && !mayCorrect(store, field)) {
      const shown = shownValue(store, field, current);
      // Where the client's own value for a field never stored is unknown, it cannot be restated.
      if (shown !== undefined && !sameJson(shown, next)) (kept ??= { id: rec.id })[field] = shown;
      delete rec[field];
      continue;
    }
    if (!sameJson(current, next)) record.set(field, next);
    result.touched.push(touchKey(store, key, field));
  }
  if (kept) correction(result, store, 'updated').push(kept);
  if (!isTasks) return;
  const currentParent = tree.parentKey(key) ?? ROOT;
  if ('parentId' in rec) {
    const parentKey = rec.parentId === null || rec.parentId === undefined ? ROOT : recordKey(rec.parentId as RecordId);
    if (parentKey !== currentParent) {
      if (computedOnly || tree.isSelfOrAncestor(key, parentKey)) {
        // A task cannot move below itself (nor by a correction): keep it where it is and put the
        // sender back in step.
        refuseMove(result, rec, record, tree, currentParent);
        return 'move-refused';
      }
      record.set(PARENT_FIELD, rec.parentId ?? null);
      tree.attach(key, parentKey);
      result.touched.push(touchKey(store, key, PARENT_FIELD));
      place(parentKey, key, rec);
      return;
    }
  }
  if (positionOf(rec) !== Infinity) place(currentParent, key, rec);
}

function refuseMove(result: AppliedChange, rec: Rec, record: FieldMap, tree: TreeIndex, currentParent: string): void {
  dropPlacement(rec);
  const siblings = tree.childrenOf(currentParent);
  const index = siblings.indexOf(recordKey(rec.id as RecordId));
  correction(result, TASKS, 'updated').push({ id: rec.id, parentId: readField(record, PARENT_FIELD) ?? null, parentIndex: index, orderedParentIndex: index });
}

/** Remove a record's place in the tree from an outgoing copy. */
function dropPlacement(rec: Rec): void {
  delete rec.parentId;
  delete rec.$PhantomParentId;
  delete rec.parentIndex;
  delete rec.orderedParentIndex;
}

function correction(result: AppliedChange, store: string, kind: 'updated' | 'removed'): Rec[] {
  // Keyed by store names: own entries only, so a store named like an Object method stays a store.
  const corrections = (result.corrections ??= {});
  const entry = (Object.hasOwn(corrections, store) ? corrections[store] : (corrections[store] = {})) as StoreEntry;
  return (entry[kind] ??= []);
}

function positionOf(rec: Rec): number {
  const index = typeof rec.orderedParentIndex === 'number' ? rec.orderedParentIndex : rec.parentIndex;
  return typeof index === 'number' && Number.isInteger(index) && index >= 0 ? index : Infinity;
}

/**
 * Give the placed children of one parent order keys so that each lands at the index the client
 * asked for; children already in a fitting place keep their key (no write).
 */
function placeChildren(project: ProjectView, parentKey: string, placements: Placement[]): void {
  const { doc, tree } = project;
  const tasks = storeMap(doc, TASKS);
  // Only records still under this parent (not removed or moved on by the same change); the last
  // placement of a record wins.
  const byKey = new Map<string, Placement>();
  for (const p of placements) if (tree.parentKey(p.key) === parentKey && tasks.has(p.key)) byKey.set(p.key, p);
  placements = [...byKey.values()];
  if (placements.length === 0) return;
  const placed = new Set(placements.map((p) => p.key));
  const final = tree.childrenOf(parentKey).filter((k) => !placed.has(k));
  const sorted = [...placements].sort((a, b) => a.index - b.index);
  for (const { key, index } of sorted) final.splice(Math.min(index, final.length), 0, key);

  const orderOf = (k: string) => {
    const record = tasks.get(k);
    const v = record ? readField(record, ORDER_FIELD) : undefined;
    return isOrderKey(v) ? v : null;
  };
  // Key of the nearest fixed (not placed) sibling to the right of each position.
  const rightBound: (string | null)[] = new Array(final.length);
  let bound: string | null = null;
  for (let i = final.length - 1; i >= 0; i--) {
    rightBound[i] = bound;
    if (!placed.has(final[i])) bound = orderOf(final[i]);
  }
  let left: string | null = null;
  for (let i = 0; i < final.length; i++) {
    const key = final[i];
    const current = orderOf(key);
    if (!placed.has(key)) {
      if (current === null || (left !== null && current <= left)) return rekeyAll(tasks, final, tree, parentKey);
      left = current;
      continue;
    }
    const right = rightBound[i];
    if (current !== null && (left === null || current > left) && (right === null || current < right)) {
      left = current;
      continue;
    }
    if (left !== null && right !== null && left >= right) return rekeyAll(tasks, final, tree, parentKey);
    left = keyBetween(left, right);
    tasks.get(key)!.set(ORDER_FIELD, left);
  }
  tree.touch(parentKey);
}

/** Equal keys (concurrent inserts) leave no room between them: renumber this parent's children. */
function rekeyAll(tasks: StoreMap, final: string[], tree: TreeIndex, parentKey: string): void {
  const keys = keysBetween(null, null, final.length);
  final.forEach((k, i) => {
    const record = tasks.get(k);
    if (record && readField(record, ORDER_FIELD) !== keys[i]) record.set(ORDER_FIELD, keys[i]);
  });
  tree.touch(parentKey);
}

function writeProjectFields(doc: Y.Doc, fields: Rec, result: AppliedChange): void {
  const map = projectMap(doc);
  for (const [field, value] of Object.entries(fields)) {
    // `id` is the client's own (phantom) project record id, never data.
    if (field === '$input' || field === 'id') continue;
    if (!sameJson(map.get(field), value)) map.set(field, value);
    result.touched.push(touchKey(PROJECT_MAP, '', field));
  }
}

/**
 * A nested change set inside a record (a calendar's `intervals: {added: [...]}`) becomes the plain
 * array it describes, applied to the value already stored.
 */
function storedValue(value: unknown, existing: unknown): unknown {
  if (!isNestedChangeSet(value)) return value;
  let rows = Array.isArray(existing) ? [...(existing as Rec[])] : [];
  const idOf = (r: unknown) => (isObject(r) ? r.id : undefined);
  if (Array.isArray(value.removed)) {
    const gone = new Set<unknown>(value.removed.map(idOf).filter((id) => id !== undefined));
    rows = rows.filter((r) => !gone.has(idOf(r)));
  }
  if (Array.isArray(value.updated)) {
    // By id: one pass over the rows however many updates there are (rows that are not records are passed over).
    const updates = new Map<unknown, Rec>();
    for (const update of value.updated) {
      const id = idOf(update);
      if (id !== undefined) updates.set(id, { ...updates.get(id), ...(update as Rec) });
    }
    rows = rows.map((row) => {
      const update = updates.get(idOf(row));
      return update ? { ...row, ...update } : row;
    });
  }
  if (Array.isArray(value.added)) {
    for (const added of value.added) {
      if (!isObject(added)) continue;
      const { $PhantomId: _p, ...fields } = added;
      rows.push(fields);
    }
  }
  return rows;
}


/** §7.7 / §9.2: version content never travels in change broadcasts. */
function stripVersionContent(store: string, entry: StoreEntry): void {
  if (store !== VERSIONS) return;
  for (const list of [entry.added, entry.updated, entry.$input?.added, entry.$input?.updated]) {
    if (list) for (const rec of list) delete rec.content;
  }
}
