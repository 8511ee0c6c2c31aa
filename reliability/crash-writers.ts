/**
 * The crash part's writers: classic and revisions clients over plain sockets and Yjs peers,
 * each changing only its own records (so what it expects after a crash follows from its own
 * changes), every change also renaming its ledger task to the change's token. What every client
 * receives is read for tokens (acknowledgements), ids given to records and revision numbers.
 */
import * as Y from 'yjs';
import { newPhantom, withUserInput } from '../src/simulate/bryntum-edit.js';
import type { Random } from '../src/simulate/random.js';
import { JsonSocket, type Msg } from '../src/simulate/socket.js';
import { YjsClient } from '../src/simulate/yjs-client.js';
import { newRecord, readField } from '../src/document/layout.js';
import { keyBetween, isOrderKey } from '../src/document/order.js';
import { TOKEN, apply, cloneState, ledgerBorn, pointingAt, subtree, tokenOf, type Change, type Op, type State } from './crash-model.js';

export type WriterKind = 'classic' | 'revisions' | 'yjs';

/** What the clients of one cycle received before the server died. */
export class Received {
  /** Highest acknowledged change number per writer (this cycle). */
  readonly acked = new Map<string, number>();
  /** Ids given to records, as the frames said: born -> ids (more than one is a repeated id). */
  readonly ids = new Map<string, Set<string>>();
  readonly phantoms = new Map<string, string>();
  /** Highest and lowest `server-N` seen in revisions of this cycle; highest of datasets too. */
  maxRevision = -1;
  minChangeRevision = Infinity;
  readonly errors: string[] = [];
  frozen = false;

  constructor(private readonly cycle: number) {}

  /** Read one frame's text (any client, any generation). */
  read(text: string, msg: Msg | null): void {
    if (this.frozen) return;
    for (const m of text.matchAll(TOKEN)) {
      if (Number(m[2]) !== this.cycle) continue;
      const k = Number(m[3]);
      if (k > (this.acked.get(m[1]) ?? 0)) this.acked.set(m[1], k);
    }
    if (!msg) return;
    if (msg.command === 'error' || typeof msg.error === 'string') this.errors.push(`${msg.command}: ${msg.error ?? msg.message}`);
    for (const m of text.matchAll(/"server-(\d+)"/g)) this.maxRevision = Math.max(this.maxRevision, Number(m[1]));
    if (msg.command === 'project_change') for (const r of msg.data?.revisions ?? []) {
      const n = Number(String(r.revision).slice(7));
      if (Number.isFinite(n)) this.minChangeRevision = Math.min(this.minChangeRevision, n);
    }
    this.collectIds(msg);
  }

  private collectIds(value: unknown, depth = 0): void {
    if (depth > 12 || value === null || typeof value !== 'object') return;
    if (Array.isArray(value)) {
      for (const v of value) this.collectIds(v, depth + 1);
      return;
    }
    const rec = value as Record<string, unknown>;
    const id = rec.id;
    if ((typeof id === 'number' || (typeof id === 'string' && !id.startsWith('_generated')))) {
      const born = typeof rec.born === 'string' ? rec.born : typeof rec.$PhantomId === 'string' ? this.phantoms.get(rec.$PhantomId) : undefined;
      if (born) {
        const set = this.ids.get(born) ?? new Set<string>();
        set.add(String(id));
        this.ids.set(born, set);
      }
    }
    for (const v of Object.values(rec)) this.collectIds(v, depth + 1);
  }
}

export interface Endpoint {
  url: string;
  project: number;
  password: string;
  /** Resource ids of the project's seed (assignments point at them). */
  resources: string[];
}

/** One writer across cycles: its records as last stored, and this cycle's changes. */
export abstract class Writer {
  state: State = new Map();
  baseline: State = new Map();
  changes: Change[] = [];
  /** Ids of its records (born -> id), as stored or as given back. */
  ids = new Map<string, string>();
  protected cycle = 0;
  protected received: Received | null = null;
  protected stopped = false;

  constructor(readonly name: string, readonly kind: WriterKind, protected readonly random: Random) {}

  /** A new cycle: the stored records are where it starts from. */
  begin(cycle: number, stored: State, ids: Map<string, string>, received: Received): void {
    this.cycle = cycle;
    this.baseline = cloneState(stored);
    this.state = cloneState(stored);
    this.changes = [];
    this.ids = new Map([...ids].filter(([born]) => stored.has(born)));
    this.received = received;
    this.stopped = false;
  }

  abstract connect(endpoint: Endpoint): Promise<void>;
  abstract close(): void;
  /** Send one change on the wire; false when it could not be sent. */
  protected abstract send(change: Change, removed: { tasks: string[]; others: string[] }): boolean;

  hasLedger(): boolean {
    return this.state.has(ledgerBorn(this.name)) && this.idOf(ledgerBorn(this.name)) !== undefined;
  }

  idOf(born: string): string | undefined {
    if (born.startsWith('id:')) return born.slice(3);
    const id = this.ids.get(born);
    if (id !== undefined) return id;
    const given = this.received?.ids.get(born);
    return given ? [...given][0] : undefined;
  }

  /** Make and send the next change (the first one makes the ledger). */
  step(endpoint: Endpoint): boolean {
    const k = this.changes.length + 1;
    const token = tokenOf(this.name, this.cycle, k);
    const first = !this.state.has(ledgerBorn(this.name));
    if (!first && this.idOf(ledgerBorn(this.name)) === undefined) return false;
    const op = first ? null : this.pickOp(token, endpoint);
    const change: Change = { token, op };
    const removed = { tasks: [] as string[], others: [] as string[] };
    if (op?.kind === 'remove') {
      removed.tasks = subtree(this.state, op.born);
      removed.others = pointingAt(this.state, new Set(removed.tasks));
    }
    if (!this.send(change, removed)) return false;
    this.changes.push(change);
    apply(this.state, this.name, change);
    return true;
  }

  /** An edit of its own records whose ids it knows. */
  private pickOp(token: string, endpoint: Endpoint): Op | null {
    const ledger = ledgerBorn(this.name);
    const tasks = [...this.state.values()].filter((r) => r.store === 'tasks' && r.born !== ledger && this.idOf(r.born) !== undefined).map((r) => r.born);
    const known = (b: string) => this.idOf(b) !== undefined;
    const parents = [null, ledger, ...tasks];
    for (let attempt = 0; attempt < 6; attempt++) {
      const kind = this.random.weighted({ add: tasks.length < 25 ? 30 : 0, update: 30, move: 10, remove: tasks.length > 3 ? 12 : 0, link: 10, assign: 8 });
      if (kind === 'add') return { kind, born: token, parent: this.random.pick(parents), percentDone: this.random.int(0, 100) };
      if (!tasks.length) continue;
      const task = this.random.pick(tasks);
      if (kind === 'update') return { kind, born: task, percentDone: this.random.int(0, 100) };
      if (kind === 'move') {
        const below = new Set(subtree(this.state, task));
        const parent = this.random.pick(parents.filter((p) => p === null || !below.has(p)));
        if (parent === this.state.get(task)!.fields.parent) continue;
        return { kind, born: task, parent };
      }
      if (kind === 'remove') {
        const gone = subtree(this.state, task);
        if (!gone.every(known) || !pointingAt(this.state, new Set(gone)).every(known)) continue;
        return { kind, born: task };
      }
      if (kind === 'link') {
        const to = this.random.pick(tasks);
        const linked = [...this.state.values()].some((r) => r.store === 'dependencies' && [r.fields.from, r.fields.to].includes(task) && [r.fields.from, r.fields.to].includes(to));
        if (to === task || linked) continue;
        return { kind, born: token, from: task, to };
      }
      if (kind === 'assign' && endpoint.resources.length) {
        const resource = this.random.pick(endpoint.resources);
        const taken = [...this.state.values()].some((r) => r.store === 'assignments' && r.fields.event === task && r.fields.resource === resource);
        if (taken) continue;
        return { kind, born: token, event: task, resource };
      }
    }
    return null;
  }

  /** Write until stopped: a change every 60-240 ms. */
  async run(endpoint: Endpoint): Promise<void> {
    while (!this.stopped) {
      try {
        this.step(endpoint);
      } catch {
        // The socket went away with the server: stop writing.
        return;
      }
      await new Promise((r) => setTimeout(r, this.random.int(60, 240)));
    }
  }

  stop(): void {
    this.stopped = true;
  }
}

const num = (id: string): string | number => (/^\d+$/.test(id) ? Number(id) : id);

/** The Bryntum change set of a change (ids of the records it names must be known). */
function bryntumChanges(w: Writer, change: Change, removed: { tasks: string[]; others: string[] }, phantoms: Map<string, string>): Record<string, Record<string, Record<string, unknown>[]>> {
  const ref = (born: string | null) => (born === null ? null : num(w.idOf(born)!));
  const out: Record<string, Record<string, Record<string, unknown>[]>> = {};
  const push = (store: string, part: string, rec: Record<string, unknown>) => ((out[store] ??= {})[part] ??= []).push(rec);
  const ledger = ledgerBorn(w.name);
  const phantom = (model: string, born: string) => {
    const p = newPhantom(model);
    phantoms.set(p, born);
    return p;
  };
  if (!w.state.has(ledger)) push('tasks', 'added', { $PhantomId: phantom('TaskModel', ledger), name: change.token, percentDone: 0, parentId: null, parentIndex: 0, orderedParentIndex: 0, born: ledger });
  else push('tasks', 'updated', { id: ref(ledger), name: change.token });
  const op = change.op;
  if (!op) return out;
  switch (op.kind) {
    case 'add':
      push('tasks', 'added', { $PhantomId: phantom('TaskModel', op.born), name: op.born, percentDone: op.percentDone, parentId: ref(op.parent), parentIndex: 0, orderedParentIndex: 0, born: op.born });
      break;
    case 'update':
      push('tasks', 'updated', { id: ref(op.born), name: change.token, percentDone: op.percentDone });
      break;
    case 'move':
      push('tasks', 'updated', { id: ref(op.born), parentId: ref(op.parent), parentIndex: 0, orderedParentIndex: 0 });
      break;
    case 'remove':
      for (const b of removed.tasks) push('tasks', 'removed', { id: ref(b) });
      for (const b of removed.others) push(w.state.get(b)!.store, 'removed', { id: ref(b) });
      break;
    case 'link':
      push('dependencies', 'added', { $PhantomId: phantom('DependencyModel', op.born), fromTask: ref(op.from), toTask: ref(op.to), type: 2, lag: 0, born: op.born });
      break;
    case 'assign':
      push('assignments', 'added', { $PhantomId: phantom('AssignmentModel', op.born), event: ref(op.event), resource: num(op.resource), units: 100, born: op.born });
      break;
  }
  return out;
}

/** A socket whose every frame is read by `received`. */
async function openSocket(url: string, received: Received): Promise<JsonSocket> {
  const socket = await JsonSocket.open(url, 10_000);
  socket.onMessage = (msg) => received.read(JSON.stringify(msg), msg);
  return socket;
}

export class ClassicWriter extends Writer {
  private socket: JsonSocket | null = null;
  private project = 0;

  constructor(name: string, random: Random) {
    super(name, 'classic', random);
  }

  async connect(endpoint: Endpoint): Promise<void> {
    this.project = endpoint.project;
    const socket = (this.socket = await openSocket(endpoint.url, this.received!));
    socket.send({ command: 'login', login: this.name, password: endpoint.password });
    const reply = await socket.waitFor((m) => m.command === 'login' && !('userName' in m), 10_000, 'login reply');
    if (reply.error) throw new Error(`${this.name}: login refused: ${reply.error}`);
    socket.send({ command: 'dataset', project: endpoint.project });
    const loaded = await socket.waitFor((m) => m.command === 'dataset' && (m.project === endpoint.project || m.error !== undefined), 10_000, 'dataset');
    if (loaded.error) throw new Error(`${this.name}: dataset refused: ${loaded.error}`);
  }

  protected send(change: Change, removed: { tasks: string[]; others: string[] }): boolean {
    if (!this.socket?.isOpen) return false;
    this.socket.send({ command: 'projectChange', project: this.project, changes: bryntumChanges(this, change, removed, this.received!.phantoms) });
    return true;
  }

  close(): void {
    this.socket?.close();
    this.socket = null;
  }
}

export class RevisionsWriter extends Writer {
  private socket: JsonSocket | null = null;
  private project = 0;
  private client = '';

  constructor(name: string, random: Random) {
    super(name, 'revisions', random);
  }

  async connect(endpoint: Endpoint): Promise<void> {
    this.project = endpoint.project;
    const socket = (this.socket = await openSocket(endpoint.url, this.received!));
    socket.send({ command: 'login', data: { login: this.name, password: endpoint.password } });
    const reply = await socket.waitFor((m) => m.command === 'login', 10_000, 'login reply');
    if (reply.error || !reply.data?.client) throw new Error(`${this.name}: login refused: ${reply.error ?? 'no client id'}`);
    this.client = reply.data.client;
    socket.send({ command: 'dataset', data: { project: endpoint.project } });
    const loaded = await socket.waitFor((m) => m.command === 'dataset' || m.error !== undefined, 10_000, 'dataset');
    if (loaded.error) throw new Error(`${this.name}: dataset refused: ${loaded.error}`);
  }

  protected send(change: Change, removed: { tasks: string[]; others: string[] }): boolean {
    if (!this.socket?.isOpen) return false;
    const changes = withUserInput(bryntumChanges(this, change, removed, this.received!.phantoms));
    this.socket.send({
      command: 'project_change',
      data: { project: this.project, client: this.client, revisions: [{ revision: `local-${this.changes.length + 1}`, clientId: this.client, changes }] },
    });
    return true;
  }

  close(): void {
    this.socket?.close();
    this.socket = null;
  }
}

type Records = Y.Map<Y.Map<unknown>>;

/** A Yjs peer writing Weft's document layout; its ids are its own, known at once. */
export class YjsWriter extends Writer {
  private client: YjsClient | null = null;

  constructor(name: string, random: Random) {
    super(name, 'yjs', random);
  }

  async connect(endpoint: Endpoint): Promise<void> {
    this.client = new YjsClient({ name: this.name, url: endpoint.url, project: endpoint.project, login: this.name, password: endpoint.password, timeoutMs: 10_000 });
    await this.client.start();
  }

  private map(store: string): Records {
    return this.client!.doc.getMap(store) as Records;
  }

  /** An order key after the last child of `parentId`. */
  private lastOrder(parentId: string | number | null): string {
    let last: string | null = null;
    for (const record of this.map('tasks').values()) {
      const parent = readField(record, 'parentId') ?? null;
      if (String(parent) !== String(parentId)) continue;
      const order = readField(record, '$order');
      if (typeof order === 'string' && isOrderKey(order) && (last === null || order > last)) last = order;
    }
    return keyBetween(last, null);
  }

  private newId(store: string, born: string): string {
    // The born token with its dots kept apart (ck.y2.3.12 and ck.y2.31.2 must not meet); no digits
    // after a dash, which the server would read as a counter value.
    const id = `${store.slice(0, -1)}_${born.replace(/\./g, '_')}y`;
    this.ids.set(born, id);
    return id;
  }

  protected send(change: Change, removed: { tasks: string[]; others: string[] }): boolean {
    const client = this.client;
    if (!client?.online) return false;
    const ref = (born: string | null) => (born === null ? null : num(this.idOf(born)!));
    const ledger = ledgerBorn(this.name);
    const op = change.op;
    client.doc.transact(() => {
      const tasks = this.map('tasks');
      if (!this.state.has(ledger)) {
        const id = this.newId('tasks', ledger);
        tasks.set(id, newRecord({ id, name: change.token, percentDone: 0, parentId: null, $order: this.lastOrder(null), born: ledger }));
        return;
      }
      tasks.get(this.idOf(ledger)!)?.set('name', change.token);
      if (!op) return;
      switch (op.kind) {
        case 'add': {
          const id = this.newId('tasks', op.born);
          const parentId = ref(op.parent);
          tasks.set(id, newRecord({ id, name: op.born, percentDone: op.percentDone, parentId, $order: this.lastOrder(parentId), born: op.born }));
          break;
        }
        case 'update': {
          const record = tasks.get(this.idOf(op.born)!);
          record?.set('name', change.token);
          record?.set('percentDone', op.percentDone);
          break;
        }
        case 'move': {
          const record = tasks.get(this.idOf(op.born)!);
          const parentId = ref(op.parent);
          record?.set('$order', this.lastOrder(parentId));
          record?.set('parentId', parentId);
          break;
        }
        case 'remove':
          for (const b of removed.tasks) tasks.delete(this.idOf(b)!);
          for (const b of removed.others) this.map(this.state.get(b)!.store).delete(this.idOf(b)!);
          break;
        case 'link': {
          const id = this.newId('dependencies', op.born);
          this.map('dependencies').set(id, newRecord({ id, fromTask: ref(op.from), toTask: ref(op.to), type: 2, lag: 0, born: op.born }));
          break;
        }
        case 'assign': {
          const id = this.newId('assignments', op.born);
          this.map('assignments').set(id, newRecord({ id, event: ref(op.event), resource: num(op.resource), units: 100, born: op.born }));
          break;
        }
      }
    }, this);
    return true;
  }

  close(): void {
    // Destroyed before the server comes back: a peer syncing its old state would put back what a crash lost.
    void this.client?.close();
    this.client = null;
  }
}
