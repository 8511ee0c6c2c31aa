/**
 * Phantom ids: the temporary ids Bryntum clients give new records until the server answers with
 * real ones (PROTOCOL.md §7.2–7.5). They are the client's, not the project's: unique neither
 * across stores nor across clients (older clients count them per page: `_generatedModel1`, and
 * start again at every page load). So a phantom id names a record only
 * - in one store: a task and a resource may share one;
 * - for one user (its login name, the one identity that outlives a connection): another user's
 *   `_generatedModel1` is another record;
 * - as a record sent again (`added` once more, PROTOCOL.md §7.3, or a retry after a lost reply)
 *   from any of that user's connections; except a page-counted id (`_generatedModel1`), which
 *   only the connection that sent it first can send again: on another, the user's page counted
 *   afresh and means a new record.
 * References to it (a parent, a dependency's task, an update) resolve over any of that user's
 * connections, so edits made offline still find the record they name. A mapping is forgotten
 * after `retentionMs`, and all of a project's on a reset.
 */
import type { RecordId } from './layout.js';

/** One remembered phantom id. */
export interface PhantomRecord {
  user: string;
  store: string;
  phantom: string;
  id: RecordId;
  /** The connection whose change named the record so. */
  connection: string;
  /** When (ms since the epoch). */
  at: number;
}

/** What earlier changes of one sender named by phantom ids (the adapter's view). */
export interface KnownPhantoms {
  /**
   * The record an earlier change of this sender added as `phantom` in `store`. `resent`: an
   * `added` row with this phantom id is that record sent again (see above).
   */
  get(store: string, phantom: string): { id: RecordId; resent: boolean } | undefined;
  /** The stores in which earlier changes of this sender named a record `phantom`. */
  storesOf(phantom: string): Iterable<string>;
}

/** Ids older Bryntum clients count per page (`_generated` + model name + counter); current ones carry a UUID. */
const PAGE_COUNTED = /^_generated[A-Za-z]*\d+$/;

export const NO_PHANTOMS: KnownPhantoms = { get: () => undefined, storesOf: () => [] };

type Entry = Omit<PhantomRecord, 'user' | 'store' | 'phantom'>;

/** Phantom ids per user, per phantom id, per store. Keys are client input: Maps only. */
export class PhantomMap {
  private readonly users = new Map<string, Map<string, Map<string, Entry>>>();

  constructor(private readonly retentionMs: number) {}

  set(record: PhantomRecord): void {
    const { user, store, phantom, ...entry } = record;
    let phantoms = this.users.get(user);
    if (!phantoms) this.users.set(user, (phantoms = new Map()));
    let stores = phantoms.get(phantom);
    if (!stores) phantoms.set(phantom, (stores = new Map()));
    stores.set(store, entry);
  }

  /** What changes of `user` over `connection` may resolve (expired mappings left out). */
  of(user: string, connection: string, now = Date.now()): KnownPhantoms {
    const phantoms = this.users.get(user);
    if (!phantoms) return NO_PHANTOMS;
    const live = (entry: Entry | undefined) => (entry && now - entry.at <= this.retentionMs ? entry : undefined);
    return {
      get: (store, phantom) => {
        const entry = live(phantoms.get(phantom)?.get(store));
        return entry && { id: entry.id, resent: entry.connection === connection || !PAGE_COUNTED.test(phantom) };
      },
      storesOf: (phantom) => phantoms.get(phantom)?.keys() ?? [],
    };
  }

  /** Forget mappings older than the retention; returns them (to delete from storage). */
  prune(now = Date.now()): PhantomRecord[] {
    const gone: PhantomRecord[] = [];
    for (const [user, phantoms] of this.users) {
      for (const [phantom, stores] of phantoms) {
        for (const [store, entry] of stores) {
          if (now - entry.at <= this.retentionMs) continue;
          stores.delete(store);
          gone.push({ user, store, phantom, ...entry });
        }
        if (stores.size === 0) phantoms.delete(phantom);
      }
      if (phantoms.size === 0) this.users.delete(user);
    }
    return gone;
  }

  get size(): number {
    let n = 0;
    for (const phantoms of this.users.values()) for (const stores of phantoms.values()) n += stores.size;
    return n;
  }

  /** Every mapping held, as stored. */
  records(): PhantomRecord[] {
    const out: PhantomRecord[] = [];
    for (const [user, phantoms] of this.users) for (const [phantom, stores] of phantoms) for (const [store, entry] of stores) out.push({ user, store, phantom, ...entry });
    return out;
  }
}

/** Phantom ids one change named new records by, per store (the change's own lookup). */
export class NewPhantoms {
  private readonly byPhantom = new Map<string, Map<string, RecordId>>();

  set(store: string, phantom: string, id: RecordId): void {
    let stores = this.byPhantom.get(phantom);
    if (!stores) this.byPhantom.set(phantom, (stores = new Map()));
    stores.set(store, id);
  }

  /** The id of the record named `phantom` in `store`; without a store, in the first store that has one. */
  get(phantom: string, store?: string): RecordId | undefined {
    const stores = this.byPhantom.get(phantom);
    if (!stores) return undefined;
    if (store !== undefined) return stores.get(store);
    return stores.values().next().value;
  }

  *entries(): Generator<{ store: string; phantom: string; id: RecordId }> {
    for (const [phantom, stores] of this.byPhantom) for (const [store, id] of stores) yield { store, phantom, id };
  }

  get size(): number {
    let n = 0;
    for (const stores of this.byPhantom.values()) n += stores.size;
    return n;
  }
}
