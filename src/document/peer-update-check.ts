/**
 * What can be told of a Yjs peer's update before it touches the document. Once applied, an update
 * that a later check refuses costs a rebuild of the project from storage (its writes cannot be
 * taken back), and a peer could make that happen at will. Refused here instead: bytes that do not
 * decode, a non-map under a store's key (layout.ts), a new record without a usable id, and record
 * or project fields a Bryntum change could not hold (names, values: input-check.ts). The checks
 * inside the transaction stay the last word; these catch what can be told from the update.
 */
import * as Y from 'yjs';
import { allStoreNames, BASE_FIELD, PROJECT_MAP, projectMap, recordIdProblem, storeMap } from './layout.js';
import { checkValues, isForbiddenKey } from './input-check.js';
import { RefusedChange } from './refused.js';

/** An update whose bytes do not decode as a Yjs update. */
export class MalformedUpdate extends Error {}

type DeleteSet = Map<number, { clock: number; len: number }[]>;

/** An item's first id as a map key. */
const idKey = (id: Y.ID): string => `${id.client}:${id.clock}`;

/** Depth of a record's field value in a Bryntum change set (change, store, list, record, value). */
const FIELD_DEPTH = 4;
/** Depth of a project field's value in one (change, project, value). */
const PROJECT_FIELD_DEPTH = 2;

/** A field's name and the values an item gives it, held to a change's rules; the values. */
function checkField(key: string, content: Y.Item["content"], maxDepth: number): unknown[] {
  if (isForbiddenKey(key)) throw new RefusedChange(`${JSON.stringify(key)} may not be used as a field name`);
  // A Yjs type, bytes or a subdocument as a field's value reaches the change as an object that is
  // not plain JSON, which the checks after applying refuse.
  if (!(content instanceof Y.ContentAny)) throw new RefusedChange(`${JSON.stringify(key.slice(0, 80))}: values must be plain JSON`);
  const values = (content as unknown as { arr: unknown[] }).arr;
  for (const value of values) checkValues(value, maxDepth);
  return values;
}

export function checkPeerUpdate(doc: Y.Doc, update: Uint8Array, limits: { maxDepth: number }, v2 = false): void {
  let decoded: { structs: (Y.Item | Y.GC | Y.AbstractStruct)[]; ds: { clients: DeleteSet } };
  try {
    decoded = (v2 ? Y.decodeUpdateV2(update) : Y.decodeUpdate(update)) as unknown as typeof decoded;
  } catch (e) {
    throw new MalformedUpdate((e as Error).message);
  }
  const storeNames = new Set(allStoreNames(doc));
  const storeTypes = new Map<unknown, string>();
  for (const name of storeNames) if (doc.share.has(name)) storeTypes.set(storeMap(doc, name), name);
  // This update's own items by id: an item written after another one names only that one (its origin).
  const own = new Map<string, Y.Item>();
  for (const s of decoded.structs) if (s instanceof Y.Item) own.set(idKey(s.id), s);
  const live = (s: Y.Item) => !(s.content instanceof Y.ContentDeleted) && !deletedIn(decoded.ds.clients, s.id);
  /** The store and key of a record item (one directly under a store's key), else null. */
  const recordPlace = (s: Y.Item): { store: string; key: string } | null => {
    const place = placeOf(s, own, doc);
    if (!place || place.key === null) return null;
    const store = typeof place.parent === 'string' ? (storeNames.has(place.parent) ? place.parent : undefined) : storeTypes.get(place.parent);
    return store === undefined ? null : { store, key: place.key };
  };
  const where = (r: { store: string; key: string }) => `${r.store} ${JSON.stringify(r.key.slice(0, 80))}`;

  // Records this update creates, with the fields it gives them (for their ids).
  const created = new Map<Y.Item, { place: { store: string; key: string }; fields: Map<string, unknown> }>();
  for (const s of decoded.structs) {
    if (!(s instanceof Y.Item) || !live(s)) continue;
    const record = recordPlace(s);
    if (!record) continue;
    if (!(s.content instanceof Y.ContentType && s.content.type instanceof Y.Map)) throw new RefusedChange(`${where(record)}: a record must be a map`);
    created.set(s, { place: record, fields: new Map() });
  }
  // Fields written into records (new ones or the document's) and project fields: names and
  // values as a change's.
  const projectType = doc.share.has(PROJECT_MAP) ? projectMap(doc) : undefined;
  for (const s of decoded.structs) {
    if (!(s instanceof Y.Item) || !live(s)) continue;
    const place = placeOf(s, own, doc);
    if (!place || place.key === null) continue;
    if (place.parent === PROJECT_MAP || (projectType !== undefined && place.parent === projectType)) {
      checkField(place.key, s.content, limits.maxDepth - PROJECT_FIELD_DEPTH);
      continue;
    }
    if (!place.holder) continue;
    const { holder, key } = place;
    const record = created.get(holder) ?? (own.has(idKey(holder.id)) ? null : recordPlace(holder));
    if (!record) continue;
    const values = checkField(key, s.content, limits.maxDepth - (key === BASE_FIELD ? FIELD_DEPTH - 1 : FIELD_DEPTH));
    if ('fields' in record && values.length) record.fields.set(key, values[values.length - 1]);
  }
  for (const { place, fields } of created.values()) {
    const base = fields.get(BASE_FIELD);
    const id = fields.has('id') ? fields.get('id') : typeof base === 'object' && base !== null && !Array.isArray(base) ? (base as Record<string, unknown>).id : undefined;
    const problem = recordIdProblem(place.key, id);
    if (problem) throw new RefusedChange(`${where(place)}: ${problem}`);
  }
}

/**
 * Where an item goes: its parent (a top-level name, or a type), the item holding that type when
 * there is one, and its key in a map. An item placed after another one carries none of these:
 * they are its neighbour's, found in this update or in the document. Null when that neighbour is
 * in neither (Yjs holds such items back until it comes).
 */
function placeOf(item: Y.Item, own: Map<string, Y.Item>, doc: Y.Doc): { parent: unknown; holder: Y.Item | null; key: string | null } | null {
  let at: Y.Item = item;
  // Each step moves to an item the update holds; a chain longer than the update would loop.
  for (let steps = 0; steps <= own.size; steps++) {
    if (at.parent !== null) {
      // Decoded: a top-level name, or the id of the item holding the parent type.
      if (typeof at.parent === 'string') return { parent: at.parent, holder: null, key: at.parentSub };
      if (at.parent instanceof Y.ID) {
        const holder = lookUp(at.parent, own, doc);
        return holder && holder.content instanceof Y.ContentType ? { parent: holder.content.type, holder, key: at.parentSub } : null;
      }
      return typeOf(at.parent, at.parentSub);
    }
    const neighbour = at.origin ?? at.rightOrigin;
    // Stryker disable next-line ConditionalExpression: Yjs writes a parent for every item without neighbours, so the branch above returned; this only satisfies the type
    if (!neighbour) return null;
    const next = own.get(idKey(neighbour));
    if (!next) {
      const found = lookUp(neighbour, own, doc);
      return found && found.parent instanceof Y.AbstractType ? typeOf(found.parent, found.parentSub) : null;
    }
    at = next;
  }
  return null;
}

/** A document item's place: its parent type and the item holding that type (none at the top level). */
function typeOf(parent: unknown, key: string | null): { parent: unknown; holder: Y.Item | null; key: string | null } {
  const holder = parent instanceof Y.AbstractType ? (parent._item as Y.Item | null) : null;
  return { parent, holder, key };
}

/** The item holding `id`, in this update (its first id) or the document; null when in neither. */
function lookUp(id: Y.ID, own: Map<string, Y.Item>, doc: Y.Doc): Y.Item | null {
  const mine = own.get(idKey(id));
  if (mine) return mine;
  const structs = doc.store.clients.get(id.client);
  if (!structs || structs.length === 0) return null;
  const last = structs[structs.length - 1];
  if (id.clock >= last.id.clock + last.length) return null;
  const found = Y.getItem(doc.store, id);
  return found instanceof Y.Item ? found : null;
}

/** Whether the update's own delete set removes `id` (sorted ranges per client). */
function deletedIn(clients: DeleteSet, id: Y.ID): boolean {
  const ranges = clients.get(id.client);
  if (!ranges) return false;
  let lo = 0;
  let hi = ranges.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const r = ranges[mid];
    if (id.clock < r.clock) hi = mid - 1;
    else if (id.clock >= r.clock + r.len) lo = mid + 1;
    else return true;
  }
  return false;
}
