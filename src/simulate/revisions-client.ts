/**
 * A revisions (enveloped `project_change`) client, modelled on Bryntum's revision engine
 * (PROTOCOL.md §6, §8, §12.2):
 * - it keeps the confirmed state (every server revision applied in order) and its own pending
 *   local revisions; what the user sees is the confirmed state with the pending ones on top;
 * - a revision from anyone is replayed from its `$input` onto the confirmed state; when it is one
 *   of its own (same client id and local revision id) the pending copy is dropped, so the
 *   server's version of the change is what stays;
 * - back online it asks `catch_up` from the last server revision it has (a fresh `dataset` when
 *   told to reload), then sends the revisions the server has not confirmed.
 */
import { bryntumChange, withUserInput } from './bryntum-edit.js';
import { countOp, type SimClient } from './client.js';
import type { Op } from './ops.js';
import type { JsonSocket, Msg } from './socket.js';
import { View, applyChangeSet, isPhantom, replayedPart, type ChangeSet, type Rec } from './view.js';
import { SocketClient } from './socket-client.js';

export const SERVER_CLIENT = 'weft-server';

interface Pending {
  local: string;
  changes: ChangeSet;
  /** Client ids it was sent under (a reconnect gives a new one). */
  sentAs: string[];
  sent: boolean;
}


export class RevisionsClient extends SocketClient implements SimClient {
  readonly kind = 'revisions' as const;
  private clientId = '';
  private confirmed = new View();
  private pending: Pending[] = [];
  private cached: View | null = null;
  /** Number N of the last server revision applied (server-N); null before any dataset. */
  private last: number | null = null;
  private localCounter = 0;
  /** A dataset was asked for (a pushed one, after a refused revision, drops the pending ones). */
  private awaitingDataset = false;
  /** Real ids of own phantoms, learnt from confirmations. */
  private readonly realIds = new Map<string, string | number>();
  private readonly repairRevisions = new Set<number>();


  /** The last server revision this client has applied. */
  get lastRevision(): number | null {
    return this.last;
  }

  view(): View {
    if (!this.cached) {
      const view = this.confirmed.clone();
      for (const p of this.pending) applyChangeSet(view, this.translated(p.changes));
      this.cached = view;
    }
    return this.cached;
  }

  /** A pending change with own phantom ids replaced by the real ids already known. */
  private translated(changes: ChangeSet): ChangeSet {
    if (this.realIds.size === 0) return changes;
    const copy = structuredClone(changes);
    const visit = (value: unknown): unknown => {
      if (typeof value === 'string') return this.realIds.get(value) ?? value;
      if (Array.isArray(value)) return value.map(visit);
      if (value && typeof value === 'object') {
        const rec = value as Rec;
        for (const key of Object.keys(rec)) if (key !== '$PhantomId' && key !== '$PhantomParentId') rec[key] = visit(rec[key]);
        if (typeof rec.$PhantomId === 'string' && this.realIds.has(rec.$PhantomId)) rec.id = this.realIds.get(rec.$PhantomId);
      }
      return value;
    };
    visit(copy);
    return copy;
  }

  start(): Promise<void> {
    return this.goOnline();
  }

  edit(op: Op): boolean {
    const changes = bryntumChange(this.view(), op);
    countOp(this.stats, op, changes !== null);
    if (!changes) return false;
    this.pending.push({ local: `local-${++this.localCounter}`, changes: withUserInput(changes), sentAs: [], sent: false });
    this.cached = null;
    if (this.state === 'online') this.flush();
    return true;
  }

  private flush(): void {
    const unsent = this.pending.filter((p) => !p.sent);
    if (!unsent.length || !this.socket) return;
    for (const p of unsent) {
      p.sent = true;
      p.sentAs.push(this.clientId);
    }
    this.socket.send({
      command: 'project_change',
      data: {
        project: this.options.project,
        client: this.clientId,
        revisions: unsent.map((p) => ({ revision: p.local, clientId: this.clientId, changes: p.changes })),
      },
    });
  }

  protected async connectAs(attempt: number): Promise<void> {
    const { project, login, password, timeoutMs = 10_000 } = this.options;
    const socket = await this.open(attempt);
    if (!socket) return;
    socket.send({ command: 'login', data: { login, password: password ?? '' } });
    const reply = await socket.waitFor((m) => m.command === 'login', timeoutMs, 'login reply');
    if (reply.error || !reply.data?.client) throw new Error(`${this.name}: login refused: ${reply.error ?? 'no client id'}`);
    this.clientId = reply.data.client;
    // Replies are handled in `receive`, in arrival order with the revisions that follow them.
    const inStep = socket.waitFor((m) => (m.command === 'dataset' && m.data?.project === project) || (m.command === 'catch_up' && !m.data?.reload) || m.error !== undefined, timeoutMs, 'dataset or catch_up reply');
    if (this.last === null) this.requestDataset(socket);
    else socket.send({ command: 'catch_up', data: { project, since: `server-${this.last}` } });
    const answer = await inStep;
    if (answer.error) throw new Error(`${this.name}: ${answer.command} refused: ${answer.error}`);
  }

  private requestDataset(socket: JsonSocket): void {
    this.awaitingDataset = true;
    socket.send({ command: 'dataset', data: { project: this.options.project } });
  }

  /** Caught up or reloaded: everything not confirmed yet goes (again) under the new client id. */
  private backInStep(): void {
    for (const p of this.pending) p.sent = false;
    this.state = 'online';
    this.flush();
  }

  protected receive(msg: Msg): void {
    if (msg.command === 'error' || typeof msg.error === 'string') {
      this.errors.push(msg.command === 'error' ? String(msg.message) : `${msg.command}: ${msg.error}`);
      return;
    }
    const data = msg.data ?? {};
    if (data.project !== this.options.project) return;
    switch (msg.command) {
      case 'catch_up':
        if (data.reload) {
          if (this.socket) this.requestDataset(this.socket);
          return;
        }
        for (const revision of data.revisions ?? []) this.applyRevision(revision);
        this.backInStep();
        return;
      case 'dataset':
        if (data.dataset) this.loaded(data.dataset, data.revision);
        return;
      case 'project_change':
        if (this.state === 'online') for (const revision of data.revisions ?? []) this.applyRevision(revision);
        return;
    }
  }

  private loaded(dataset: Rec, revision: unknown): void {
    this.confirmed = View.fromDataset(dataset);
    this.last = typeof revision === 'string' && /^server-\d+$/.test(revision) ? Number(revision.slice(7)) : 0;
    this.cached = null;
    if (this.awaitingDataset) {
      this.awaitingDataset = false;
      this.backInStep();
    } else {
      // Pushed by the server after it refused a revision (§12.2): the client starts over from it.
      this.pending = [];
    }
  }

  private applyRevision(revision: Msg): void {
    const n = typeof revision.revision === 'string' ? Number(revision.revision.slice(7)) : NaN;
    if (!Number.isFinite(n) || (this.last !== null && n <= this.last)) return;
    this.last = n;
    if (revision.client === SERVER_CLIENT && !this.repairRevisions.has(n)) {
      this.repairRevisions.add(n);
      this.stats.repairs++;
    }
    const own = this.pending.findIndex((p) => p.local === revision.localRevision && p.sentAs.includes(revision.client));
    if (own !== -1) {
      const [p] = this.pending.splice(own, 1);
      this.learnIds(revision.changes ?? {});
    }
    const replay = replayedPart(revision.changes ?? {});
    if (replay) applyChangeSet(this.confirmed, replay);
    this.cached = null;
  }

  /** Real ids the server gave to own phantoms (in `added`, matched by `$PhantomId`). */
  private learnIds(received: ChangeSet): void {
    for (const entry of Object.values(received)) {
      for (const rec of ((entry as { added?: Rec[] })?.added ?? [])) {
        if (isPhantom(rec.$PhantomId) && rec.id !== undefined) this.realIds.set(rec.$PhantomId, rec.id as string | number);
      }
    }
  }

  settled(): boolean {
    return this.state === 'online' && this.pending.length === 0;
  }

  describeState(): string {
    return `${this.state}, ${this.pending.length} revision(s) pending, last server-${this.last}`;
  }

}
