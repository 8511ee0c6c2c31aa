/**
 * A Yjs-native client: a Y.Doc synced by a y-websocket provider at /yjs/<project>, edited directly
 * in Weft's document layout (src/document/layout.ts): a new record is a Y.Map whose `$base` holds
 * its fields (`id`; tasks also `parentId` and a fractional `$order` key), later edits write a key
 * per field. Offline is `provider.disconnect()`: edits go on
 * in the local document and are merged by Yjs when `provider.connect()` syncs again.
 */
import * as Y from 'yjs';
import WebSocket from 'ws';
import { randomUUID } from 'node:crypto';
import { newRecord, readField, recordFields } from '../document/layout.js';
import { isOrderKey, keyBetween } from '../document/order.js';
import { countOp, emptyStats, type ClientOptions, type ClientStats, type SimClient } from './client.js';
import type { Op } from './ops.js';
import { ASSIGNMENT_REFS, DEPENDENCY_ENDS, ROOT, View, keyOf, refOf, type Id } from './view.js';

type Provider = {
  wsconnected: boolean;
  synced: boolean;
  connect(): void;
  disconnect(): void;
  destroy(): void;
  awareness: { destroy(): void };
  on(event: 'sync', listener: (synced: boolean) => void): void;
  off(event: 'sync', listener: (synced: boolean) => void): void;
};
type ProviderClass = new (url: string, room: string, doc: Y.Doc, options: Record<string, unknown>) => Provider;

let providerClass: Promise<ProviderClass> | null = null;

/** y-websocket is loaded on first use, so the rest of the CLI does not need it. */
function loadProvider(): Promise<ProviderClass> {
  providerClass ??= import('y-websocket').then(
    (m) => (m as unknown as { WebsocketProvider: ProviderClass }).WebsocketProvider,
    () => {
      throw new Error("Yjs clients need the 'y-websocket' package (npm install y-websocket)");
    },
  );
  return providerClass;
}

type Records = Y.Map<Y.Map<unknown>>;

export class YjsClient implements SimClient {
  readonly kind = 'yjs' as const;
  readonly stats: ClientStats = emptyStats();
  readonly errors: string[] = [];
  readonly doc = new Y.Doc();
  private provider: Provider | null = null;
  private cached: View | null = null;
  private wantOnline = false;
  /** Settles the goOnline() calls still waiting (going offline again ends them). */
  private readonly waiting = new Set<() => void>();

  constructor(private readonly options: ClientOptions) {
    this.doc.on('update', (_update: Uint8Array, origin: unknown) => {
      this.cached = null;
      if (origin !== null && origin !== this) {
        this.stats.messages++;
        this.options.onActivity?.();
      }
    });
  }

  get name(): string {
    return this.options.name;
  }

  get online(): boolean {
    return !!this.provider && this.provider.wsconnected && this.provider.synced;
  }

  view(): View {
    return (this.cached ??= View.fromDoc(this.doc));
  }

  async start(): Promise<void> {
    const Provider = await loadProvider();
    const { url, project, login, password } = this.options;
    this.provider = new Provider(`${url.replace(/\/+$/, '')}/yjs`, String(project), this.doc, {
      WebSocketPolyfill: WebSocket,
      params: { login, password: password ?? '' },
      // Providers of one room in one process would otherwise sync past the server (and past "offline").
      disableBc: true,
      maxBackoffTime: 500,
    });
    await this.goOnline();
  }

  goOffline(): void {
    if (!this.wantOnline) return;
    this.wantOnline = false;
    this.stats.offlinePeriods++;
    this.provider?.disconnect();
    for (const settle of [...this.waiting]) settle();
  }

  goOnline(): Promise<void> {
    const provider = this.provider;
    if (!provider) return Promise.reject(new Error(`${this.name}: not started`));
    this.wantOnline = true;
    if (this.online) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timeout = this.options.timeoutMs ?? 10_000;
      const done = (error?: Error) => {
        clearTimeout(timer);
        provider.off('sync', onSync);
        this.waiting.delete(settle);
        if (error) reject(error);
        else resolve();
      };
      const settle = () => done();
      const timer = setTimeout(() => done(new Error(`${this.name}: no Yjs sync within ${timeout} ms`)), timeout);
      const onSync = (synced: boolean) => {
        if (synced && provider.wsconnected) done();
      };
      this.waiting.add(settle);
      provider.on('sync', onSync);
      if (!provider.wsconnected) provider.connect();
    });
  }

  private map(store: string): Records {
    return this.doc.getMap(store) as Records;
  }

  private newId(prefix: string): string {
    // No digits after a dash: the server reads trailing numbers of ids as counter values.
    return `${prefix}_${randomUUID().replace(/-/g, '')}y`;
  }

  edit(op: Op): boolean {
    let applied = false;
    this.doc.transact(() => {
      applied = this.write(op);
    }, this);
    countOp(this.stats, op, applied);
    return applied;
  }

  /** An order key for a task placed at `index` among `siblings` (keys in sibling order, itself excluded). */
  private orderAt(siblings: string[], index: number): string {
    const tasks = this.map('tasks');
    const order = (k: string | undefined) => {
      const record = k === undefined ? undefined : tasks.get(k);
      const v = record ? readField(record, '$order') : undefined;
      return isOrderKey(v) ? v : null;
    };
    const i = Math.max(0, Math.min(index, siblings.length));
    const before = i > 0 ? order(siblings[i - 1]) : null;
    const after = i < siblings.length ? order(siblings[i]) : null;
    if (before !== null && after !== null && before >= after) return keyBetween(before, null);
    return keyBetween(before, after);
  }

  private write(op: Op): boolean {
    const view = this.view();
    const tasks = this.map('tasks');
    const idOf = (key: string | null): Id | null => {
      const record = key === null ? undefined : tasks.get(key);
      return record ? ((readField(record, 'id') as Id | undefined) ?? null) : null;
    };
    switch (op.kind) {
      case 'add': {
        if (op.parent !== null && !tasks.has(op.parent)) return false;
        const id = this.newId('task');
        const $order = this.orderAt(view.childrenOf(op.parent ?? ROOT), op.index);
        tasks.set(id, newRecord({ id, name: op.name, duration: op.duration, percentDone: op.percentDone, parentId: idOf(op.parent), $order }));
        return true;
      }
      case 'rename':
      case 'percentDone':
      case 'duration': {
        const record = tasks.get(op.task);
        if (!record) return false;
        record.set(op.kind === 'rename' ? 'name' : op.kind, op.kind === 'rename' ? op.name : op.value);
        return true;
      }
      case 'move': {
        const record = tasks.get(op.task);
        if (!record || (op.parent !== null && (!tasks.has(op.parent) || view.isSelfOrAncestor(op.task, op.parent)))) return false;
        record.set('parentId', idOf(op.parent));
        record.set('$order', this.orderAt(view.childrenOf(op.parent ?? ROOT).filter((k) => k !== op.task), op.index));
        return true;
      }
      case 'reorder': {
        const record = tasks.get(op.task);
        if (!record) return false;
        record.set('$order', this.orderAt(view.childrenOf(view.parentKey(op.task)).filter((k) => k !== op.task), op.index));
        return true;
      }
      case 'link': {
        if (!tasks.has(op.from) || !tasks.has(op.to)) return false;
        this.addRecord('dependencies', { fromTask: idOf(op.from), toTask: idOf(op.to), type: 2, lag: 0 });
        return true;
      }
      case 'assign': {
        const resource = this.map('resources').get(op.resource);
        if (!tasks.has(op.task) || !resource) return false;
        this.addRecord('assignments', { event: idOf(op.task), resource: readField(resource, 'id'), units: 100 });
        return true;
      }
      case 'remove': {
        if (!tasks.has(op.task)) return false;
        const keys = new Set([op.task, ...view.descendants(op.task)]);
        for (const k of keys) tasks.delete(k);
        this.deletePointing('dependencies', DEPENDENCY_ENDS, keys);
        this.deletePointing('assignments', [ASSIGNMENT_REFS[0][0]], keys);
        return true;
      }
      case 'removeResource': {
        const resources = this.map('resources');
        if (!resources.has(op.resource)) return false;
        resources.delete(op.resource);
        this.deletePointing('assignments', [ASSIGNMENT_REFS[1][0]], new Set([op.resource]));
        return true;
      }
    }
  }

  private addRecord(store: string, fields: Record<string, unknown>): void {
    // A new record is one `$base` object, as the layout describes; later edits write own keys.
    const id = this.newId(store.slice(0, -1));
    this.map(store).set(id, newRecord({ id, ...fields }));
  }

  private deletePointing(store: string, refs: readonly (readonly string[])[], keys: Set<string>): void {
    const map = this.map(store);
    for (const [key, record] of [...map]) {
      const json = recordFields(record);
      if (refs.some((names) => keys.has(keyOf(refOf(json, names)?.value)))) map.delete(key);
    }
  }

  settled(): boolean {
    return this.wantOnline && this.online;
  }

  describeState(): string {
    return `${this.provider?.wsconnected ? 'connected' : 'disconnected'}, ${this.provider?.synced ? 'synced' : 'not synced'}`;
  }

  async close(): Promise<void> {
    this.wantOnline = false;
    this.provider?.destroy();
    // The provider's awareness runs a timer of its own until destroyed.
    this.provider?.awareness.destroy();
    this.provider = null;
  }
}
