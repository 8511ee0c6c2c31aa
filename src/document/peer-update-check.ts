/**
 * What can be told of a Yjs peer's update before it touches the document. Once applied, an update
 * that a later check refuses costs a rebuild of the project from storage (its writes cannot be
 * taken back), and a peer could make that happen at will: an update that does not decode, and one
 * that puts something other than a map under a store's key (layout.ts), are refused here instead.
 * The checks inside the transaction stay the last word; these catch the common cases early.
 */
import * as Y from 'yjs';
import { allStoreNames, storeMap } from './layout.js';
import { RefusedChange } from './refused.js';

/** An update whose bytes do not decode as a Yjs update. */
export class MalformedUpdate extends Error {}

type DeleteSet = Map<number, { clock: number; len: number }[]>;

export function checkPeerUpdate(doc: Y.Doc, update: Uint8Array, v2 = false): void {
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
  for (const s of decoded.structs) if (s instanceof Y.Item) own.set(`${s.id.client}:${s.id.clock}`, s);

  for (const s of decoded.structs) {
    if (!(s instanceof Y.Item) || s.content instanceof Y.ContentDeleted || deletedIn(decoded.ds.clients, s.id)) continue;
    const place = placeOf(s, own, doc);
    if (!place || place.key === null) continue;
    const store = typeof place.parent === 'string' ? (storeNames.has(place.parent) ? place.parent : undefined) : storeTypes.get(place.parent);
    if (store === undefined) continue;
    if (!(s.content instanceof Y.ContentType && s.content.type instanceof Y.Map)) {
      throw new RefusedChange(`${store} ${JSON.stringify(place.key.slice(0, 80))}: a record must be a map`);
    }
  }
}

/**
 * Where an item goes: its parent (a top-level name, or a type of the document) and its key in a
 * map. An item placed after another one carries neither: they are its neighbour's, found in this
 * update or in the document. Null when that neighbour is in neither (Yjs holds such items back).
 */
function placeOf(item: Y.Item, own: Map<string, Y.Item>, doc: Y.Doc): { parent: unknown; key: string | null } | null {
  let at: Y.Item = item;
  // Each step moves to an item the update holds; a chain longer than the update would loop.
  for (let steps = 0; steps <= own.size; steps++) {
    if (at.parent !== null) {
      // Decoded: a top-level name, or the id of the item holding the parent type.
      if (typeof at.parent === 'string') return { parent: at.parent, key: at.parentSub };
      if (at.parent instanceof Y.ID) {
        const holder = lookUp(at.parent, own, doc);
        return holder && holder.content instanceof Y.ContentType ? { parent: holder.content.type, key: at.parentSub } : null;
      }
      return { parent: at.parent, key: at.parentSub };
    }
    const neighbour = at.origin ?? at.rightOrigin;
    if (!neighbour) return null;
    const next = own.get(`${neighbour.client}:${neighbour.clock}`);
    if (!next) {
      const found = lookUp(neighbour, own, doc);
      return found && found.parent !== null && !(found.parent instanceof Y.ID) && typeof found.parent !== 'string' ? { parent: found.parent, key: found.parentSub } : null;
    }
    at = next;
  }
  return null;
}

/** The item holding `id`, in this update (its first id) or the document; null when in neither. */
function lookUp(id: Y.ID, own: Map<string, Y.Item>, doc: Y.Doc): Y.Item | null {
  const mine = own.get(`${id.client}:${id.clock}`);
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
