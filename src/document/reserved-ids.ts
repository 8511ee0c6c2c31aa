/**
 * Ids a client may not use. The server keeps some keys for itself (the task tree's root, see
 * isReservedKey) and an id space for its own versions (`weft-<n>`, src/history/version-records.ts):
 * a record under either would be taken for the server's.
 */
import { isServerVersionId } from '../history/version-records.js';
import { RefusedChange } from './refused.js';
import { PROJECT_MAP, STORE_NAME, VERSIONS, isReservedKey, type RecordId } from './layout.js';

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * A change naming a record (or a parent) by a reserved key, or a store by a name that could be an
 * internal map's, is refused as a whole, before anything is written.
 */
export function refuseReservedIds(change: Record<string, unknown>): void {
  for (const [store, entry] of Object.entries(change)) {
    if (!isObject(entry) || store === PROJECT_MAP) continue;
    // Store names become names of the document's top-level maps, beside internal ones (`$stores`).
    if (!STORE_NAME.test(store)) throw new RefusedChange(`${JSON.stringify(store)} is not a valid store name`);
    const input = isObject(entry.$input) ? entry.$input : {};
    for (const list of [entry.added, entry.updated, entry.removed, input.added, input.updated, input.removed]) {
      if (!Array.isArray(list)) continue;
      for (const rec of list) {
        if (!isObject(rec)) continue;
        for (const field of ['id', 'parentId', '$PhantomId', '$PhantomParentId']) {
          const value = rec[field];
          if (typeof value === 'string' && isReservedKey(value)) {
            throw new RefusedChange(`${store}: ${field} ${JSON.stringify(value)} is reserved (no id may contain U+0000)`);
          }
        }
      }
    }
  }
}

/** A client's own id for a new record that the server must replace, as it lies in the server's id space. */
export function inServerIdSpace(store: string, id: RecordId): boolean {
  return store === VERSIONS && isServerVersionId(id);
}
