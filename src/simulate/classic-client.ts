/**
 * A classic (flat `projectChange`) client, modelled on Bryntum's ProjectWebSocketHandlerMixin
 * (PROTOCOL.md §5, §12.1):
 * - own edits show in the view at once; new records live under their phantom id until the echo
 *   carrying that `$PhantomId` gives them their real id;
 * - every incoming `projectChange` is applied to the view (added, updated, removed);
 * - offline, edits pile up in one change set, merged the way a Bryntum store tracks changes;
 * - back online: new socket, login, `dataset` (the server's state replaces the view), the pending
 *   change set is re-applied on top of it (edits of records gone meanwhile drop out) and sent.
 */
import { bryntumChange } from './bryntum-edit.js';
import { countOp, type SimClient } from './client.js';
import type { Op } from './ops.js';
import type { Msg } from './socket.js';
import { View, applyChangeSet, isPhantom, keyOf, type ChangeSet, type Rec } from './view.js';
import { SocketClient } from './socket-client.js';

interface StoreChanges {
  added: Map<string, Rec>;
  updated: Map<string, Rec>;
  removed: Map<string, Rec>;
}

/** Changes not yet sent, merged as a Bryntum store does between two syncs. */
export class ChangeTracker {
  private readonly stores = new Map<string, StoreChanges>();

  private of(store: string): StoreChanges {
    let s = this.stores.get(store);
    if (!s) this.stores.set(store, (s = { added: new Map(), updated: new Map(), removed: new Map() }));
    return s;
  }

  record(changes: ChangeSet): void {
    for (const [store, entry] of Object.entries(changes)) {
      const s = this.of(store);
      const { added, updated, removed } = entry as { added?: Rec[]; updated?: Rec[]; removed?: Rec[] };
      for (const rec of added ?? []) s.added.set(rec.$PhantomId as string, structuredClone(rec));
      for (const rec of updated ?? []) {
        const key = keyOf(rec.id);
        const pending = s.added.get(key);
        if (pending) {
          // Still unsent: the new record is sent once, with its latest values.
          const { id: _id, ...fields } = rec;
          Object.assign(pending, structuredClone(fields));
          if ('parentId' in fields) {
            if (isPhantom(fields.parentId)) pending.$PhantomParentId = fields.parentId;
            else delete pending.$PhantomParentId;
          }
        } else s.updated.set(key, Object.assign(s.updated.get(key) ?? {}, structuredClone(rec)));
      }
      for (const rec of removed ?? []) {
        const key = keyOf(rec.id);
        if (s.added.delete(key)) continue;
        s.updated.delete(key);
        s.removed.set(key, { id: rec.id });
      }
    }
  }

  /** Fields of a record edited locally and not sent yet (`key`: its key in the view). */
  pendingFields(store: string, key: string): Set<string> {
    const s = this.stores.get(store);
    return new Set(Object.keys(s?.updated.get(key) ?? s?.added.get(key) ?? {}));
  }

  get empty(): boolean {
    for (const s of this.stores.values()) if (s.added.size || s.updated.size || s.removed.size) return false;
    return true;
  }

  /** The pending change set; task positions as they are in `view` now (Bryntum sends current indices). */
  changes(view?: View): ChangeSet {
    const out: ChangeSet = {};
    for (const [store, s] of this.stores) {
      const entry: Record<string, Rec[]> = {};
      if (s.added.size) entry.added = [...s.added.values()].map((r) => structuredClone(r));
      if (s.updated.size) entry.updated = [...s.updated.values()].map((r) => structuredClone(r));
      if (s.removed.size) entry.removed = [...s.removed.values()].map((r) => structuredClone(r));
      if (store === 'tasks' && view) {
        for (const rec of [...(entry.added ?? []), ...(entry.updated ?? [])]) {
          if (typeof rec.parentIndex !== 'number') continue;
          const key = keyOf(rec.id ?? rec.$PhantomId);
          const index = view.tasks.has(key) ? view.childrenOf(view.parentKey(key)).indexOf(key) : -1;
          if (index >= 0) rec.parentIndex = rec.orderedParentIndex = index;
        }
      }
      if (Object.keys(entry).length) out[store] = entry;
    }
    return out;
  }

  clear(): void {
    this.stores.clear();
  }
}


/** Fields of an echoed record that are not plain values of it (identity, place in the tree). */
const ECHO_SKIPS = new Set(['id', '$PhantomId', '$PhantomParentId', 'parentId', 'parentIndex', 'orderedParentIndex', 'children']);

export class ClassicClient extends SocketClient implements SimClient {
  readonly kind = 'classic' as const;
  private current = new View();
  private readonly pending = new ChangeTracker();
  /** Own phantom ids sent and not yet echoed back with their real id. */
  private readonly unconfirmed = new Set<string>();
  /** Own phantom records deleted before their echo came (the echo must not bring them back). */
  private readonly deletedPhantoms = new Set<string>();


  view(): View {
    return this.current;
  }

  start(): Promise<void> {
    return this.goOnline();
  }

  edit(op: Op): boolean {
    const changes = bryntumChange(this.current, op);
    countOp(this.stats, op, changes !== null);
    if (!changes) return false;
    applyChangeSet(this.current, changes);
    if (op.kind === 'remove' || op.kind === 'removeResource') {
      for (const entry of Object.values(changes)) for (const r of (entry as { removed?: Rec[] }).removed ?? []) if (isPhantom(r.id)) this.deletedPhantoms.add(r.id);
    }
    this.pending.record(changes);
    if (this.state === 'online') this.flush();
    return true;
  }

  private flush(): void {
    if (this.pending.empty || !this.socket) return;
    const changes = this.pending.changes(this.current);
    this.pending.clear();
    for (const entry of Object.values(changes)) for (const r of (entry as { added?: Rec[] }).added ?? []) this.unconfirmed.add(r.$PhantomId as string);
    this.socket.send({ command: 'projectChange', project: this.options.project, changes });
  }

  protected async connectAs(attempt: number): Promise<void> {
    const { project, login, password, timeoutMs = 10_000 } = this.options;
    const socket = await this.open(attempt);
    if (!socket) return;
    socket.send({ command: 'login', login, password });
    const reply = await socket.waitFor((m) => m.command === 'login' && !('userName' in m), timeoutMs, 'login reply');
    if (reply.error) throw new Error(`${this.name}: login refused: ${reply.error}`);
    socket.send({ command: 'dataset', project });
    const loaded = await socket.waitFor((m) => m.command === 'dataset' && (m.project === project || m.error !== undefined), timeoutMs, 'dataset');
    if (loaded.error) throw new Error(`${this.name}: dataset refused: ${loaded.error}`);
  }

  protected receive(msg: Msg): void {
    switch (msg.command) {
      case 'dataset':
        if (msg.project === this.options.project && msg.dataset) this.loaded(msg.dataset, msg.projectMeta);
        return;
      case 'projectChange':
        if (msg.project === this.options.project && this.state === 'online') this.applyIncoming(msg.changes ?? {});
        return;
      case 'error':
        this.errors.push(String(msg.message));
        return;
      default:
        if (typeof msg.error === 'string') this.errors.push(`${msg.command}: ${msg.error}`);
    }
  }

  private loaded(dataset: Rec, projectMeta: Rec | undefined): void {
    this.current = View.fromDataset(dataset, projectMeta);
    // Echoes sent to an earlier socket are lost; the re-sent change set brings what matters.
    this.unconfirmed.clear();
    if (!this.pending.empty) applyChangeSet(this.current, this.pending.changes());
    this.state = 'online';
    this.flush();
  }

  private applyIncoming(changes: ChangeSet): void {
    const rest: ChangeSet = {};
    for (const [store, entry] of Object.entries(changes)) {
      const delta = entry as { added?: Rec[] };
      if (store === 'project' || !delta.added) {
        rest[store] = entry;
        continue;
      }
      const others: Rec[] = [];
      for (const rec of delta.added) {
        const phantom = rec.$PhantomId;
        if (typeof phantom === 'string' && this.unconfirmed.has(phantom)) {
          // Our own record: it keeps what we have locally and takes its real id.
          this.unconfirmed.delete(phantom);
          if (this.deletedPhantoms.delete(phantom)) continue;
          if (this.current.store(store).has(phantom)) {
            const unsent = this.pending.pendingFields(store, phantom);
            this.current.rekey(store, phantom, rec.id as string | number);
            // Fields as the server holds them (a repair, such as a dependency switched off for
            // closing a loop, or a reference to a phantom this client no longer holds), except
            // those edited here since.
            const local = this.current.store(store).get(keyOf(rec.id as string | number));
            if (local) {
              for (const [field, value] of Object.entries(rec)) {
                if (!ECHO_SKIPS.has(field) && !unsent.has(field) && JSON.stringify(local[field]) !== JSON.stringify(value)) local[field] = structuredClone(value);
              }
            }
            continue;
          }
        }
        others.push(rec);
      }
      rest[store] = { ...delta, added: others };
    }
    applyChangeSet(this.current, rest);
  }

  settled(): boolean {
    return this.state === 'online' && this.pending.empty && this.unconfirmed.size === 0;
  }

  describeState(): string {
    return `${this.state}, ${this.pending.empty ? 'nothing' : 'changes'} pending, ${this.unconfirmed.size} phantom(s) awaiting their id`;
  }

}
