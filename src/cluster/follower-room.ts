/**
 * A project on a node that does not sequence it (cluster mode): its clients load the project from
 * this node's copy, built and kept current from the project's stream (ProjectFollower); their
 * changes are forwarded to the owner node; every committed revision reaches them from the stream,
 * in the stream's order, through the same Fanout the owner uses (src/server/delivery.ts).
 *
 * When the owner cannot be reached (it died, or gave the project up), the room ends: its clients
 * are closed with 1012 and reconnect; the node that opens the project next takes it over.
 */
import type { Config } from '../config/schema.js';
import { datasetPieces, type DatasetTexts } from '../document/dataset.js';
import { checkInput } from '../document/input-check.js';
import { TASKS, type RecordId } from '../document/layout.js';
import { RefusedChange } from '../document/refused.js';
import type { ProjectDocument } from '../document/project-document.js';
import type { VersionMeta } from '../history/versions.js';
import type { ProjectMeta } from '../persistence/storage.js';
import { encoderFor, errorMessage, type OutgoingRevision } from '../protocol/codec.js';
import type { ProjectId } from '../protocol/schemas.js';
import type { Connection } from '../server/connection.js';
import { Fanout, type Delivery } from '../server/delivery.js';
import type { Log } from '../server/log.js';
import { RoomPresence, type PresenceLink } from '../server/room-presence.js';
import type { ChangeRequest, Sender } from '../server/room.js';
import { SerialQueue } from '../server/serial-queue.js';
import type { YjsPeer } from '../server/yjs-peer.js';
import type { Committed } from './entry.js';
import { ProjectFollower } from './follower.js';
import { withServerVersions } from '../history/version-records.js';
import { RpcError, type NodeRpc } from './node-rpc.js';
import type { ProjectStream } from './project-stream.js';
import type { StreamReader } from './stream-reader.js';
import { forwardedSender, NOT_OWNER, type Forwarded } from './forwarding.js';

export interface FollowerRoomOptions {
  project: ProjectId;
  config: Config;
  /** The node that holds the project's lease. */
  owner: string;
  stream: ProjectStream;
  reader: StreamReader;
  rpc: NodeRpc;
  log: Log;
  /** Presence across the nodes. */
  presenceLink?: PresenceLink;
  /** The room ended (owner gone); the registry forgets it. */
  onEnded: (room: FollowerRoom) => void;
}

/** Request failures that mean the owner is gone (not: a request too large, a refusal). */
const OWNER_GONE: ReadonlySet<string> = new Set(['no-receiver', 'timeout', 'closed']);

/** How long a sender's answer waits for the stream to bring its revisions, at most. */
const DELIVERED_WAIT_MS = 10_000;

/** How long a follower waits for the owner to write the project's first entry. */
const FIRST_ENTRY_MS = 30_000;

export class FollowerRoom {
  readonly id: ProjectId;
  readonly queue = new SerialQueue();
  lastActive = Date.now();
  readonly owner: string;
  loaded!: Promise<void>;
  readable!: Promise<void>;
  private follower: ProjectFollower | null = null;
  private readonly fanout: Fanout;
  private readonly presence: RoomPresence;
  private closed = false;
  private closedReason = 'Project was unloaded: open it again';
  private firstEntry: (() => void) | null = null;
  private touchTimer: NodeJS.Timeout | null = null;
  /** Senders waiting for the stream to bring their revisions (see deliveredUpTo). */
  private readonly revisionWaiters = new Set<{ n: number; done: () => void }>();

  private constructor(private readonly options: FollowerRoomOptions) {
    this.id = options.project;
    this.owner = options.owner;
    this.fanout = new Fanout(this.id);
    this.presence = new RoomPresence(this.id, () => [...this.subscribers].flatMap((c) => (c.user ? [c.user.name] : [])), options.presenceLink);
  }

  static start(options: FollowerRoomOptions): FollowerRoom {
    const room = new FollowerRoom(options);
    room.loaded = room.load();
    // While clients here have the project open, the owner keeps it loaded (and its lease) even
    // when nobody there writes: else it would unload it, and the next change here would find no owner.
    const every = Math.max(1000, (options.config.storage.unloadAfterSeconds * 1000) / 3);
    room.touchTimer = setInterval(() => {
      if (room.subscribers.size === 0 && room.presence.peers.size === 0) return;
      room.forward('touch', { project: room.id }).catch(() => undefined);
    }, every);
    room.touchTimer.unref();
    room.readable = room.loaded;
    // A room that never loaded takes no part in anything.
    room.loaded.catch(() => {
      if (room.touchTimer) clearInterval(room.touchTimer);
      room.presence.destroy();
    });
    return room;
  }

  private async load(): Promise<void> {
    const { stream, reader } = this.options;
    const first = new Promise<void>((resolve) => (this.firstEntry = resolve));
    this.follower = await ProjectFollower.open({
      stream,
      reader,
      project: this.id,
      exclusive: (step) => this.queue.run(step),
      onCommitted: (seq, committed) => this.committed(committed),
      onRebuilt: (_from, _seq, document) => this.rebuilt(document),
      onError: (error) => this.options.log(`project ${JSON.stringify(this.id)}: following its stream: ${error.message}`, { level: 'warn', project: this.id }),
    });
    this.presence.attach(this.follower.document);
    if (this.follower.seq > 0) return;
    // The owner writes the first entry as it opens the project: wait for it, bounded.
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`its owner ${this.owner} wrote nothing within ${FIRST_ENTRY_MS / 1000} s`)), FIRST_ENTRY_MS)));
    try {
      await Promise.race([first, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  get subscribers(): Set<Connection> {
    return this.fanout.subscribers;
  }

  /** The project as clients load it: the document's stores and the server-side versions. */
  private async datasetTexts(): Promise<DatasetTexts> {
    const texts = await this.document.datasetTexts();
    return withServerVersions(texts, this.follower?.serverVersions ?? []);
  }

  private get document(): ProjectDocument {
    if (!this.follower) throw new Error(this.closedReason);
    return this.follower.document;
  }

  private get meta(): ProjectMeta | null {
    return this.follower?.meta ?? null;
  }

  get lastRevision(): string | null {
    const next = this.meta?.nextRevision ?? 1;
    return next > 1 ? `server-${next - 1}` : null;
  }

  // ---- what the stream brings ----------------------------------------------------------------

  /** An entry applied (inside the queue): its revisions go to this node's clients, as the owner addressed them. */
  private committed(committed: Committed): void {
    this.firstEntry?.();
    this.firstEntry = null;
    const revisions = committed.revisions.map((r) => JSON.parse(r.text) as OutgoingRevision);
    const deliveries = committed.deliveries ?? (revisions.length ? [{ count: revisions.length }] : []);
    let at = 0;
    for (const d of deliveries) {
      const delivery: Delivery = { revisions: revisions.slice(at, at + d.count) };
      at += d.count;
      if (d.noEcho !== undefined) delivery.noEcho = d.noEcho;
      if (d.finals) delivery.finals = { connection: d.finals.connection, changes: d.finals.changes };
      if (d.classic) delivery.classic = d.classic as OutgoingRevision[];
      if (delivery.revisions.length) this.fanout.deliver(delivery, false);
      if (d.reset) void this.sendDatasets(d.reset);
    }
    this.presence.flushToPeers();
    const delivered = this.deliveredRevision();
    for (const waiter of [...this.revisionWaiters]) if (waiter.n <= delivered) waiter.done();
  }

  /** The document was rebuilt from a snapshot: clients load the project again. */
  private rebuilt(document: ProjectDocument): void {
    this.presence.attach(document);
    void this.sendDatasets(null);
  }

  /** Every subscriber gets the project anew (after a reset: with the reset message). */
  private sendDatasets(reset: { user: string; announce: boolean } | null): Promise<void> {
    return this.queue.run(async () => {
      if (this.closed || this.subscribers.size === 0) return;
      const dataset = datasetPieces(await this.datasetTexts(), this.options.config.datasetKeys);
      for (const connection of this.subscribers) {
        const encoder = encoderFor(connection.generation);
        connection.sendPieces(encoder.resetDataset(this.id, dataset));
        if (reset) connection.send(encoder.reset(reset.user, reset.announce ? this.id : undefined));
      }
    });
  }

  // ---- subscription and presence -------------------------------------------------------------

  subscribe(connection: Connection, reply: (texts: DatasetTexts, revision: string | null) => string[]): Promise<void> {
    return this.queue.run(async () => {
      if (this.closed) return void connection.send(errorMessage(this.closedReason, this.id));
      const texts = await this.datasetTexts();
      connection.subscribeTo(this);
      this.subscribers.add(connection);
      this.lastActive = Date.now();
      connection.sendPieces(reply(texts, this.lastRevision));
      this.presence.publishSoon();
    });
  }

  unsubscribe(connection: Connection): void {
    this.subscribers.delete(connection);
    this.presence.unwatch(connection);
    this.lastActive = Date.now();
    this.presence.publishSoon();
  }

  watchPresence(connection: Connection): string[] {
    return this.presence.watch(connection);
  }

  // Yjs peers sync with this node's copy; their updates go to the owner like any change.
  addPeer(peer: YjsPeer): Promise<void> {
    return this.queue.run(() => {
      if (this.closed) return peer.close(1012, 'project moving to another node: reconnect');
      this.lastActive = Date.now();
      this.presence.addPeer(peer);
    });
  }

  removePeer(peer: YjsPeer): void {
    this.lastActive = Date.now();
    this.presence.removePeer(peer);
  }

  /** What a peer lacks, in the queue: this node's copy at one entry, never half of one. */
  answerSyncStep1(peer: YjsPeer, stateVector: Uint8Array): Promise<void> {
    return this.queue.run(() => this.presence.answerSyncStep1(peer, stateVector));
  }

  applyAwareness(peer: YjsPeer, update: Uint8Array): void {
    this.presence.applyAwareness(peer, update);
  }

  /**
   * A peer's update is committed by the owner (checked, repaired, stored, appended) and comes back
   * to every peer here from the stream. Refused there, the peer is closed as the owner would.
   */
  async applyPeerUpdate(peer: YjsPeer, update: Uint8Array): Promise<void> {
    this.lastActive = Date.now();
    const refusal = (await this.forward('peerUpdate', { project: this.id, peer: { id: peer.id, user: peer.user.name }, update: Buffer.from(update).toString('base64') })) as { code: number; reason: string } | null;
    if (refusal) peer.close(refusal.code, refusal.reason);
  }

  // ---- forwarded to the owner ------------------------------------------------------------------

  /**
   * Changes go to the owner, which commits them and appends them to the stream: the sender hears
   * of its own revisions from the stream like everyone. Resolves with the refusal, if any.
   */
  async submit(sender: Sender, requests: ChangeRequest[], onRefused?: (message: string) => void): Promise<string | null> {
    this.lastActive = Date.now();
    // The owner's first check, made here: a change it would refuse before applying anything is not
    // sent (one nested too deep could not even be written as a request). Those before it are.
    const { maxValueDepth, maxRecordsPerChange } = this.options.config.limits;
    let refused: string | null = null;
    let valid = requests.length;
    for (let i = 0; i < requests.length && refused === null; i++) {
      try {
        checkInput(requests[i].changes, { maxDepth: maxValueDepth, maxRecords: maxRecordsPerChange });
      } catch (error) {
        if (!(error instanceof RefusedChange)) throw error;
        refused = error.message;
        valid = i;
      }
    }
    let failure: string | null = null;
    if (valid > 0) {
      const answer = (await this.forward('submit', { project: this.id, sender: forwardedSender(sender), requests: requests.slice(0, valid) } satisfies Forwarded)) as { failure: string | null; revision: string | null };
      // As on the owner: the sender hears of a refusal after the revisions committed before it.
      await this.deliveredUpTo(answer.revision);
      failure = answer.failure;
    }
    failure ??= refused;
    if (failure !== null) onRefused?.(failure);
    return failure;
  }

  async reset(userName: string, announceProject: boolean): Promise<void> {
    await this.forward('reset', { project: this.id, user: userName, announce: announceProject });
  }

  async versionContent(versionId: RecordId): Promise<{ found: boolean; content?: unknown; json?: string[] }> {
    return (await this.forward('versionContent', { project: this.id, versionId })) as { found: boolean; content?: unknown; json?: string[] };
  }

  async createVersion(label?: string): Promise<VersionMeta> {
    return (await this.forward('createVersion', { project: this.id, label })) as VersionMeta;
  }

  async restore(n: number, userName: string): Promise<{ restored: VersionMeta; before: VersionMeta; revision: string | null }> {
    return (await this.forward('restore', { project: this.id, n, user: userName })) as { restored: VersionMeta; before: VersionMeta; revision: string | null };
  }

  /**
   * Catch-up from the owner's revision log, up to what this node delivered, in the queue: no entry
   * is delivered between the answer and the subscription, so the client misses none and gets none twice.
   */
  catchUp(connection: Connection, since: number): Promise<{ revisions: string[] | null; revision: string | null }> {
    return this.queue.run(async () => {
      const delivered = this.deliveredRevision();
      if (this.closed || since > delivered) return { revisions: null, revision: this.lastRevision };
      const revisions = since === delivered ? [] : ((await this.forward('revisions', { project: this.id, from: since + 1, to: delivered })) as string[] | null);
      if (!revisions || this.closed) return { revisions: null, revision: this.lastRevision };
      connection.subscribeTo(this);
      this.subscribers.add(connection);
      this.lastActive = Date.now();
      return { revisions, revision: this.lastRevision };
    });
  }

  /** Resolves once the stream was delivered here up to `revision` (bounded: never later than DELIVERED_WAIT_MS). */
  private deliveredUpTo(revision: string | null): Promise<void> {
    const n = revision === null ? 0 : Number(revision.slice('server-'.length));
    if (this.closed || this.deliveredRevision() >= n) return Promise.resolve();
    return new Promise((resolve) => {
      const waiter = {
        n,
        done: () => {
          clearTimeout(timer);
          this.revisionWaiters.delete(waiter);
          resolve();
        },
      };
      const timer = setTimeout(waiter.done, DELIVERED_WAIT_MS);
      this.revisionWaiters.add(waiter);
    });
  }

  private deliveredRevision(): number {
    return (this.meta?.nextRevision ?? 1) - 1;
  }

  private async forward(method: string, payload: unknown): Promise<unknown> {
    if (this.closed) throw new Error(this.closedReason);
    try {
      return await this.options.rpc.call(this.owner, method, payload);
    } catch (error) {
      // The owner is gone or no longer has the project: clients reconnect and the project moves.
      if (error instanceof RpcError && (OWNER_GONE.has(error.code) || (error.code === 'remote' && error.message.includes(NOT_OWNER)))) this.ownerGone(error.message);
      throw error;
    }
  }

  private ownerGone(why: string): void {
    if (this.closed) return;
    this.options.log(`project ${JSON.stringify(this.id)}: owner ${this.owner} unavailable (${why}); its clients here reconnect`, { level: 'warn', project: this.id });
    this.closedReason = `project ${JSON.stringify(this.id)} is moving to another node: reconnect`;
    for (const connection of [...this.subscribers]) connection.close(1012, 'project moving to another node: reconnect');
    void this.shut();
    this.options.onEnded(this);
  }

  // ---- the rest of a room's surface ------------------------------------------------------------

  get taskCount(): number {
    return this.document.recordKeys(TASKS).length;
  }

  dataset(): Promise<Record<string, unknown>> {
    return this.queue.run(() => this.document.dataset(true));
  }

  close(): Promise<void> {
    return this.shut();
  }

  end(reason: string): Promise<void> {
    this.closedReason = reason;
    for (const connection of [...this.subscribers]) {
      connection.send(errorMessage(reason, this.id));
      connection.unsubscribe();
    }
    return this.shut();
  }

  private async shut(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.touchTimer) clearInterval(this.touchTimer);
    // Outside the queue: the follower's own steps run in it.
    await this.follower?.close();
    await this.queue.run(async () => {
      this.presence.closePeers(1001, 'project unloaded');
      this.presence.destroy();
      this.follower?.document.destroy();
    });
  }
}
