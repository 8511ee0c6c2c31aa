/**
 * A loaded project: its document, its subscribers and its sequencer. Every change, dataset
 * snapshot and reset of the project runs through one serial queue, which gives the project one
 * total order of revisions and makes "snapshot + subscribe" atomic with respect to them.
 *
 * The hot path is `submit`: adapter transaction -> one LevelDB batch -> broadcast.
 */
import { ProjectClosed } from './project-closed.js';
import type { Log } from './log.js';
import type { Config, ProjectConfig } from '../config/schema.js';
import { datasetPieces, type DatasetTexts } from '../document/dataset.js';
import { Pacer } from '../document/pacer.js';
import { CounterIds, counterAbove, saneCounter } from '../document/ids.js';
import { KNOWN_STORES, PROJECT_MAP, recordKey, TASKS, VERSIONS, type RecordId } from '../document/layout.js';
import { RecentPlacements, fieldValues, fieldWrites, lostByMoves } from '../document/placements.js';
import { RecentWrites, finalFields } from './recent-writes.js';
import { ProjectDocument } from '../document/project-document.js';
import { PhantomMap, type PhantomRecord } from '../document/phantoms.js';
import { restoreState } from '../document/restore.js';
import { RefusedChange } from '../document/refused.js';
import { addedRecords, checkInput, checkProjectSize } from '../document/input-check.js';
import { touchKey } from '../document/adapter.js';
import { CorrectionLoops } from './correction-loops.js';
import { Disputes } from './disputes.js';
import { seedIds, type SeedData } from '../document/seed.js';
import { ProjectHistory, type VersionMirror } from '../history/project-history.js';
import { serverVersionNumber, shownToClients, versionsChange } from '../history/version-records.js';
import type { VersionMeta, VersionReason } from '../history/versions.js';
import { updatesOf, type Commit, type ProjectMeta, type ProjectStorage } from '../persistence/storage.js';
import { UpdateLog } from '../persistence/update-log.js';
import { isEngineCorrection, together, withInput, withoutFields } from '../protocol/changes.js';
import { amending, encoderFor, errorMessage, withChanges, revisionText, type Generation, type OutgoingRevision } from '../protocol/codec.js';
import type { Changes, ProjectId } from '../protocol/schemas.js';
import type { Connection } from './connection.js';
import { RoomPresence, type PresenceLink } from './room-presence.js';
import { Fanout, type Delivery } from './delivery.js';
import { SerialQueue } from './serial-queue.js';
import { WhenQuiet } from './when-quiet.js';
import type { YjsPeer } from './yjs-peer.js';

/** Ids of records a change added, so the id counter stays above ids chosen elsewhere. */
function* addedIds(changes: Changes | null): Generator<RecordId> {
  for (const entry of Object.values(changes ?? {})) {
    const added = (entry as { added?: { id?: unknown }[] })?.added;
    for (const rec of added ?? []) if (typeof rec.id === 'number' || typeof rec.id === 'string') yield rec.id;
  }
}

export interface ChangeRequest {
  changes: Changes;
  /** The client's own revision id (revisions generation), returned as `localRevision`. */
  localRevision?: unknown;
  conflictResolutionFor?: unknown;
}

export interface Sender {
  /** A connection of this node, or of another node that forwarded its change (cluster mode). */
  connection: Pick<Connection, 'id' | 'user'>;
  generation: Generation;
}

/** Client id used on revisions the server itself makes (repairs, corrections). */
export const SERVER_CLIENT = 'weft-server';

export interface RoomOptions {
  project: Pick<ProjectConfig, 'id' | 'ids'>;
  config: Config;
  storage: ProjectStorage;
  loadSeed: () => Promise<SeedData>;
  log: Log;
  /** Told what the metrics count. */
  observer?: RoomObserver;
  /** Cluster mode: where every commit goes once stored, before anyone is told (src/cluster). */
  replica?: CommitReplica;
  /** Cluster mode: presence across the nodes. */
  presenceLink?: PresenceLink;
}

/**
 * Where a project's commits are replicated (several nodes: the project's stream in Redis). A
 * rejection means the commit may not be told to anyone; the replica then ends the room itself.
 */
export interface CommitReplica {
  append(commit: ReplicatedCommit, deliveries: Delivery[], reset?: { user: string; announce: boolean }): Promise<void>;
  /** After every load: `whole()` is the project as one commit, for a replica that holds nothing yet. */
  loaded(whole: () => ReplicatedCommit): Promise<void>;
  /** A server-side version, written to the replica before this node's storage (VersionMirror). */
  version?: VersionMirror;
}

/** A commit as replicated: with the server-side versions after it when it changed them. */
export type ReplicatedCommit = Omit<Commit, 'seq'> & { serverVersions?: readonly VersionMeta[] };

/** What a room reports for the metrics. */
export interface RoomObserver {
  /** A write to storage: how long it took and how many revisions it logged. */
  stored(seconds: number, revisions: number): void;
  /** A change committed: from its turn in the queue to stored and sent. */
  committed(seconds: number): void;
  /** A project was loaded, or unloaded (idle, deleted, closing) (ProjectRegistry). */
  loaded?(project: ProjectId): void;
  unloaded?(project: ProjectId): void;
  /** Revisions stored and sent; `author` made the ones of `client` (the others are the server's). */
  delivered?(project: ProjectId, revisions: OutgoingRevision[], author: { client: string; name: string } | null): void;
}

export class ProjectRoom {
  readonly id: ProjectId;
  /** This node's subscribers, and how committed revisions reach them. */
  private readonly fanout: Fanout;
  readonly queue = new SerialQueue();
  lastActive = Date.now();
  private document!: ProjectDocument;
  private meta!: ProjectMeta;
  private phantoms!: PhantomMap;
  private readonly log: UpdateLog;
  private autoVersioning = false;
  private pendingUpdates: Uint8Array[] = [];
  /** Who is present, and the Yjs peers' side of the project. */
  private readonly presence: RoomPresence;
  /** Changes waiting for the queue, committed together (see commitSubmissions). */
  private readonly submissions: Submission[] = [];
  /** Last writer of each recently written field, for telling classic senders of concurrent edits. */
  private readonly recentWrites: RecentWrites;
  /** Recent task placements, for telling classic senders the final sibling order. */
  private readonly placements: RecentPlacements;
  private closed = false;
  /** What a client that reaches a closed room is told. */
  private closedReason = 'Project was unloaded: open it again';
  /** Server-side versions of the project (src/history). */
  private history!: ProjectHistory;
  /** When the last change was committed; background work waits for a quiet moment after it. */
  private lastChange = 0;
  private readonly foldSoon: WhenQuiet;
  private readonly versionSoon: WhenQuiet;
  /** Fields clients keep correcting each other on (src/server/correction-loops.ts). */
  private readonly loops: CorrectionLoops;
  /** Fields revisions clients' engines gave different values (src/server/disputes.ts). */
  private readonly disputes: Disputes;
  /** Classic clients that get a fresh dataset because of a correction loop (soon, even if the loop goes on). */
  private readonly loopTargets = new Set<Connection>();
  /**
   * Clients that get one because engines disagree (only once the project is really quiet: a
   * revisions client that gets a dataset while its own revision is on the way replays stale records).
   */
  private readonly settleTargets = new Set<Connection>();
  private readonly settleSoon: WhenQuiet;
  /** When clients were last given a fresh dataset, for changes that crossed it on the wire. */
  private readonly resyncedAt = new Map<Connection, number>();
  private readonly resyncSoon: WhenQuiet;

  private constructor(private readonly options: RoomOptions) {
    this.id = options.project.id;
    this.log = new UpdateLog(options.storage);
    this.fanout = new Fanout(this.id);
    this.presence = new RoomPresence(this.id, () => [...this.subscribers].flatMap((c) => (c.user ? [c.user.name] : [])), options.presenceLink);
    this.placements = new RecentPlacements(options.config.concurrencyWindowMs);
    this.recentWrites = new RecentWrites(options.config.concurrencyWindowMs);
    const { quietMs, quietMaxMs } = options.config.storage;
    const lastChange = () => this.lastChange;
    this.foldSoon = new WhenQuiet(lastChange, quietMs, quietMaxMs, () => {
      this.prunePhantoms();
      // Debug lines around background work, so a crash test can tell what a kill interrupted.
      this.options.log(`project ${JSON.stringify(this.id)}: folding the log`, { level: 'debug', project: this.id });
      this.log.fold().then(
        () => this.options.log(`project ${JSON.stringify(this.id)}: log folded`, { level: 'debug', project: this.id }),
        (e) => this.options.log(`project ${JSON.stringify(this.id)}: compaction failed: ${(e as Error).message}`, { level: 'error', project: this.id }),
      );
    });
    this.versionSoon = new WhenQuiet(lastChange, quietMs, quietMaxMs, () => void this.autoVersion());
    this.loops = new CorrectionLoops(RESYNC.windowMs);
    this.disputes = new Disputes(RESYNC.windowMs);
    this.resyncSoon = new WhenQuiet(lastChange, RESYNC.quietMs, RESYNC.maxDelayMs, () => void this.resync(this.loopTargets));
    this.settleSoon = new WhenQuiet(lastChange, RESYNC.quietMs, RESYNC.settleMaxDelayMs, () => void this.resync(this.settleTargets));
  }

  /**
   * Start loading a project (the first job of its queue). `loaded` resolves once it is loaded;
   * `readable` as soon as datasets can be served: at once when the texts stored at its last unload
   * are of the state its log holds (see `early`), else when loaded.
   */
  static start(options: RoomOptions): ProjectRoom {
    const room = new ProjectRoom(options);
    room.loaded = room.queue.run(() => room.load(true)).catch((e: Error) => {
      // Whoever opened it (a client's dataset request, a seed at start) hears which project and why.
      const message = `Project ${JSON.stringify(room.id)} cannot be loaded: ${e.message}`;
      room.options.log(message, { level: 'error', project: room.id });
      room.failedToLoad(`Project ${JSON.stringify(room.id)} cannot be loaded: open it again`);
      throw new Error(message, { cause: e });
    });
    room.readable = new Promise<void>((resolve, reject) => {
      room.markReadable = resolve;
      room.loaded.then(resolve, reject);
    });
    room.readable.catch(() => undefined);
    return room;
  }

  static async open(options: RoomOptions): Promise<ProjectRoom> {
    const room = ProjectRoom.start(options);
    await room.loaded;
    return room;
  }

  /** Resolves once the project is loaded (see `start`). */
  loaded!: Promise<void>;
  /** Resolves once a dataset can be served (see `start`). */
  readable!: Promise<void>;
  private markReadable: () => void = () => undefined;

  /**
   * While a project loads: the dataset texts stored when it was last unloaded, when they are of the
   * state its log holds, with the revision they are at. Subscribers get them at once, without
   * waiting for the document; nothing can be committed before the load ends (it is the queue's
   * first job), so they miss no revision. Null otherwise.
   */
  private early: { texts: DatasetTexts; revision: string | null } | null = null;

  /** `clientID`: the Yjs client id the rebuilt document writes with (see `recover`). */
  private async load(first = false, clientID?: number): Promise<void> {
    this.history ??= await ProjectHistory.open(this.options.storage, this.options.config.history, () => this.versionSoon.request(), { mirror: this.options.replica?.version });
    const stored = await this.options.storage.load();
    this.pendingUpdates = [];
    if (stored) {
      this.log.reset(stored);
      const texts = first ? await this.options.storage.datasetTexts(stored.lastSeq, KNOWN_STORES).catch(() => null) : null;
      if (texts) {
        this.early = { texts, revision: stored.meta.nextRevision > 1 ? `server-${stored.meta.nextRevision - 1}` : null };
        this.markReadable();
      }
      this.attach(await ProjectDocument.load(this.log.read(), clientID).catch(damaged));
      // The texts are of this very state: the document need not serialize it again.
      if (this.early) this.document.primeDataset(this.early.texts);
      this.early = null;
      // A counter stored out of bounds would fail every allocation: start again above the ids held.
      this.meta = { ...stored.meta, nextId: saneCounter(stored.meta.nextId, () => this.document.ids()) };
      this.phantoms = this.newPhantomMap(stored.phantoms);
      // Mappings of other epochs, and of the layout before phantom ids were kept per store, go.
      await this.options.storage.dropPhantomsExcept(stored.meta.phantomEpoch);
      await this.options.replica?.loaded(() => this.wholeCommit());
      return;
    }
    // First start: the seed becomes the first state of the document, written in parts so a large
    // seed neither builds one huge update nor holds up other projects. The counters go with the
    // last part: until they are stored the project does not exist and would be seeded again.
    const seed = await this.options.loadSeed();
    this.attach(new ProjectDocument());
    this.phantoms = this.newPhantomMap();
    this.log.reset(null);
    const meta: ProjectMeta = {
      nextId: counterAbove(seedIds(seed)),
      nextRevision: 1,
      phantomEpoch: 0,
      firstLoggedRevision: 1,
      createdAt: new Date().toISOString(),
    };
    const parts = this.document.importSeed(seed);
    for (let part = await parts.next(); !part.done; ) {
      const update = this.takeUpdate();
      const next = await parts.next();
      await this.log.write(next.done ? { update, meta, versionContents: seed.versionContents } : { update });
      part = next;
    }
    this.meta = meta;
    this.options.log(`project ${JSON.stringify(this.id)} seeded`, { project: this.id });
    await this.options.replica?.loaded(() => this.wholeCommit());
  }

  /** The project as one commit: its whole document, counters, phantom ids and server-side versions. */
  private wholeCommit(): ReplicatedCommit {
    return { update: this.document.encodeState(), meta: this.meta, phantoms: this.phantoms.records(), serverVersions: this.history.list() };
  }

  private newPhantomMap(records: PhantomRecord[] = []): PhantomMap {
    const map = new PhantomMap(this.options.config.storage.phantomDays * 24 * 3600 * 1000);
    for (const record of records) map.set(record);
    return map;
  }

  /** Forget phantom ids past their retention, in memory and in storage. */
  private prunePhantoms(): void {
    const gone = this.phantoms.prune();
    if (gone.length) void this.options.storage.forgetPhantoms(this.meta.phantomEpoch, gone).catch((e: Error) => this.options.log(`project ${JSON.stringify(this.id)}: cannot forget phantom ids: ${e.message}`, { level: 'error', project: this.id }));
  }

  private attach(document: ProjectDocument): void {
    this.document = document;
    document.onUpdate((update) => this.pendingUpdates.push(update));
    this.presence.attach(document);
  }

  /** The Yjs update of the transactions since the last call (null when nothing changed). */
  private takeUpdate(): Uint8Array | null {
    const updates = this.takeUpdates();
    if (updates.length === 0) return null;
    // Stryker disable next-line ConditionalExpression: one update merged alone is the same update; the test only spares the merge
    return updates.length === 1 ? updates[0] : ProjectDocument.mergeUpdates(updates);
  }

  /** The same, one update per transaction (many large ones are cheaper to store than to merge). */
  private takeUpdates(): Uint8Array[] {
    const updates = this.pendingUpdates;
    this.pendingUpdates = [];
    return updates;
  }

  /** This node's subscribers. */
  get subscribers(): Set<Connection> {
    return this.fanout.subscribers;
  }

  get lastRevision(): string | null {
    return this.meta.nextRevision > 1 ? `server-${this.meta.nextRevision - 1}` : null;
  }

  // ---- subscription --------------------------------------------------------------------------

  /**
   * Snapshot the dataset and subscribe `connection`, with no revision in between; `reply` turns
   * the snapshot into the message the connection gets.
   */
  subscribe(connection: Connection, reply: (texts: DatasetTexts, revision: string | null) => string[]): Promise<void> {
    if (this.early && !this.closed) {
      // Presence is published once the document is loaded (attach).
      this.join(connection, reply, this.early.texts, this.early.revision);
      return Promise.resolve();
    }
    return this.queue.run(async () => {
      if (this.closed) return void connection.send(errorMessage(this.closedReason, this.id));
      this.join(connection, reply, await this.document.datasetTexts(), this.lastRevision);
      this.presence.publishSoon();
    });
  }

  /** Subscribe `connection` and send it the dataset `texts` at `revision` (with the server's versions). */
  private join(connection: Connection, reply: (texts: DatasetTexts, revision: string | null) => string[], texts: DatasetTexts, revision: string | null): void {
    connection.subscribeTo(this);
    this.subscribers.add(connection);
    this.lastActive = Date.now();
    connection.sendPieces(reply(this.history.withVersions(texts), revision));
  }

  /**
   * The load failed: the room is closed (what was queued behind the load is refused, nothing is
   * written), and subscribers given the stored texts meanwhile must open the project again.
   */
  private failedToLoad(message: string): void {
    this.early = null;
    this.closed = true;
    this.closedReason = message;
    this.cancelBackground();
    this.history?.stop();
    this.presence.destroy();
    for (const connection of [...this.subscribers]) {
      connection.send(errorMessage(message, this.id));
      connection.unsubscribe();
    }
  }

  unsubscribe(connection: Connection): void {
    this.subscribers.delete(connection);
    this.loopTargets.delete(connection);
    this.settleTargets.delete(connection);
    this.resyncedAt.delete(connection);
    this.presence.unwatch(connection);
    this.lastActive = Date.now();
    this.presence.publishSoon();
  }

  // ---- presence and Yjs peers (src/server/room-presence.ts) ------------------------------------

  watchPresence(connection: Connection): string[] {
    return this.presence.watch(connection);
  }

  addPeer(peer: YjsPeer): Promise<void> {
    return this.queue.run(() => {
      this.lastActive = Date.now();
      this.presence.addPeer(peer);
    });
  }

  removePeer(peer: YjsPeer): void {
    this.lastActive = Date.now();
    this.presence.removePeer(peer);
  }

  /** A peer's sync step 1: what it lacks, taken in the queue so it holds only committed state. */
  answerSyncStep1(peer: YjsPeer, stateVector: Uint8Array): Promise<void> {
    return this.queue.run(() => this.presence.answerSyncStep1(peer, stateVector));
  }

  applyAwareness(peer: YjsPeer, update: Uint8Array): void {
    this.presence.applyAwareness(peer, update);
  }

  /**
   * A Yjs update from a peer: merged and repaired in one transaction, persisted, then passed on —
   * to Bryntum clients as a revision (with `$input`), to every peer as a Yjs update.
   */
  applyPeerUpdate(peer: YjsPeer, update: Uint8Array): Promise<void> {
    return this.queue.run(async () => {
      if (this.closed) return;
      try {
        // Refused before it touches the document: an update refused once applied costs a rebuild.
        this.document.checkPeerUpdate(update, { maxDepth: this.options.config.limits.maxValueDepth });
        await this.commitWrite(peer.id, peer.user.name, () => this.notePeerWrites(peer.id, this.document.applyUpdate(update, peer)), peer);
      } catch (e) {
        // Nobody else was told of it: only the peer that wrote it has to sync again.
        if (e instanceof RefusedChange) peer.close(1008, e.message.slice(0, 120));
        else throw e;
      }
    });
  }

  /**
   * Commit a write made directly on the document (a Yjs update, a restore): `write` returns what it
   * changed as a Bryntum change set; that is persisted with the Yjs update and sent to everyone —
   * Bryntum clients as a revision of `client` (with `$input`), Yjs peers as an update.
   * Resolves with the revision id, or null when the write changed nothing.
   */
  private async commitWrite(client: string, author: string, write: () => Changes | null, peer?: YjsPeer): Promise<string | null> {
    this.lastActive = Date.now();
    let changes: Changes | null;
    let revisions: OutgoingRevision[];
    let entries: { n: number; text: string }[];
    let n = this.meta.nextRevision;
    try {
      changes = write();
      // A peer's update is held to the limits a Bryntum change is (depth, names), so that nothing
      // it wrote fails later, when it is serialized for clients or the log.
      if (peer && changes) {
        checkInput(changes, { maxDepth: this.options.config.limits.maxValueDepth, maxRecords: Number.POSITIVE_INFINITY });
        // Already applied: the count includes what it added.
        const added = addedRecords(changes);
        if (added) checkProjectSize(this.document.recordCount() - added, added, this.options.config.limits.maxRecordsPerProject);
      }
      revisions = changes ? [{ revision: `server-${n++}`, client, changes: withInput(changes) }] : [];
      entries = logEntries(revisions);
    } catch (e) {
      // Applied in memory but not stored: memory goes back to what is on disk. Other peers were
      // not sent a peer's update before it is stored, so only its writer needs to sync again.
      await this.recover(e as Error, !(e instanceof RefusedChange) && !peer);
      throw e;
    }
    const update = this.takeUpdate();
    if (!update) {
      this.presence.discardPending();
      return null;
    }
    const meta: ProjectMeta = { ...this.meta, nextId: counterAbove(addedIds(changes), this.meta.nextId), nextRevision: n };
    const delivery = this.deliveryOf(revisions);
    try {
      await this.persist({ update, meta, revisions: entries }, [delivery]);
    } catch (e) {
      // Not stored, so nobody may keep it: memory goes back to what is on disk.
      await this.recover(e as Error, !peer);
      throw e;
    }
    this.meta = meta;
    this.afterCommit();
    this.noteChange(author);
    this.deliver(delivery, { client, name: author });
    if (this.queue.size <= 1) this.fanout.flush();
    this.presence.flushToPeers();
    return revisions.length ? revisions[0].revision : null;
  }

  // ---- changes (the hot path) ----------------------------------------------------------------

  /**
   * Apply a batch of changes from one sender, each as one revision, and tell everyone.
   * Resolves with an error message when a revision was refused (the ones before it stand);
   * `onRefused` hears of it first, in order with what the room sends (before later changes' revisions).
   */
  submit(sender: Sender, requests: ChangeRequest[], onRefused?: (message: string) => void): Promise<string | null> {
    return new Promise((resolve, reject) => {
      this.submissions.push({ sender, requests, resolve, reject, onRefused });
      // One job per submission; a job takes every submission waiting by then (see commitSubmissions).
      this.queue.run(() => this.commitSubmissions()).catch(reject);
    });
  }

  /**
   * The hot path. Every submission waiting (up to MAX_GROUP) is applied to the document, each
   * change its own transaction and revision; then all of them are stored in one LevelDB batch;
   * then they are delivered in order. Under a burst of changes one write and one round trip to
   * LevelDB's thread serve many changes; a lone change goes through as before. Nobody is told of
   * a change before the batch holding it is stored.
   */
  private async commitSubmissions(): Promise<void> {
    const group = this.submissions.splice(0, MAX_GROUP);
    // Stryker disable next-line ConditionalExpression: commitGroup of an empty group stores and sends nothing and ends with the same flush (it only marks the room active)
    if (group.length === 0) {
      // Taken by an earlier job: the last job of a burst lets its messages leave.
      if (this.queue.size <= 1) this.fanout.flush();
      return;
    }
    if (this.closed) return group.forEach((s) => settle(s, this.closedReason));
    try {
      await this.commitGroup(group);
    } catch (e) {
      // Unexpected (rebuilding the document failed): every submission of the group hears of it.
      for (const submission of group) submission.reject(e as Error);
    }
  }

  private async commitGroup(group: Submission[]): Promise<void> {
    this.lastActive = Date.now();
    const started = performance.now();
    const results: SubmissionResult[] = [];
    const commits: Omit<Commit, 'seq'>[] = [];
    // A failure other than a refusal leaves the document half-written: what came before it is
    // stored, then the document is rebuilt from storage, and later submissions wait for that.
    let broken: Error | null = null;
    for (const submission of group) {
      const result: SubmissionResult = { submission, outgoing: [], failure: null, added: false, finals: null, changes: 0, delivery: { revisions: [] } };
      results.push(result);
      for (const request of submission.requests) {
        try {
          const prepared = this.prepare(submission.sender, request);
          commits.push(prepared.commit);
          result.outgoing.push(...prepared.revisions);
          result.added ||= prepared.hasAdded;
          result.finals = together(result.finals, prepared.finals);
          result.changes++;
        } catch (e) {
          result.failure = (e as Error).message;
          if (!(e instanceof RefusedChange)) broken = e as Error;
          break;
        }
      }
      if (broken) break;
    }
    // Those after a broken one wait for the next job (each submission queued one).
    this.submissions.unshift(...group.splice(results.length));
    // What telling each submission sends, known before storing: a replica stores it with the commit.
    for (const result of results) result.delivery = this.resultDelivery(result);
    let stored = false;
    try {
      if (commits.length) await this.persist(joinCommits(commits), results.flatMap((r) => (r.delivery.revisions.length ? [r.delivery] : [])));
      stored = commits.length > 0;
    } catch (e) {
      // Nothing of the group was stored or told: memory goes back to what is on disk.
      for (const result of results) result.failure ??= (e as Error).message;
      for (const result of results) result.outgoing = [];
      broken ??= e as Error;
    }
    if (stored) {
      // Peers' pending updates would include a broken change's: they sync again after the rebuild instead.
      if (!broken) this.presence.flushToPeers();
      this.afterCommit();
    }
    for (const { submission, outgoing, failure, changes, delivery } of results) {
      const { sender } = submission;
      for (let i = 0; i < changes && outgoing.length; i++) {
        this.options.observer?.committed((performance.now() - started) / 1000);
        this.noteChange(sender.connection.user?.name ?? sender.connection.id);
      }
      if (outgoing.length) this.deliver(delivery, sender.connection.user ? { client: sender.connection.id, name: sender.connection.user.name } : null);
      settle(submission, failure);
    }
    // After what was stored is delivered: a rebuild that fails must not keep it from anyone.
    if (broken) await this.recover(broken);
    // The last of a burst lets its messages leave (others leave at most HOLD_MS after the first).
    if (this.queue.size <= 1) this.fanout.flush();
  }

  /**
   * What a submission's revisions send. Classic senders learn new ids from their own change;
   * without added records they get no echo of it (server revisions that follow, such as
   * corrections, they do get), and they get the final values of what they wrote concurrently.
   */
  private resultDelivery({ submission: { sender }, outgoing, added, finals }: SubmissionResult): Delivery {
    const client = sender.connection.id;
    return this.deliveryOf(outgoing, {
      ...(!added ? { noEcho: client } : {}),
      ...(finals && outgoing.length ? { finals: { connection: client, changes: finals } } : {}),
    });
  }

  /** A peer's writes count as concurrent with classic senders' ones like any other writer's. */
  private notePeerWrites(peer: string, changes: Changes | null): Changes | null {
    this.recentWrites.note(peer, fieldWrites(changes));
    this.placements.note(peer, [changes]);
    return changes;
  }

  /**
   * One change as one revision (and a server revision for what the document did beyond it).
   * `finals`: for a classic sender only, the final values and places of what it wrote concurrently
   * with another writer. Everyone else gets the writes in the server's order anyway; told again,
   * their engines reschedule and write back, which kept classic clients busy correcting each other.
   * Applied to the document and the counters now; `commit` is what storing it takes (the caller
   * stores it before anyone is told, or rebuilds the document from storage if that fails).
   */
  private prepare(sender: Sender, request: ChangeRequest): { commit: Omit<Commit, 'seq'>; revisions: OutgoingRevision[]; hasAdded: boolean; finals: Changes | null } {
    const { maxValueDepth, maxRecordsPerChange } = this.options.config.limits;
    // Before the transaction: a bad record refused here costs no reload of the project.
    checkInput(request.changes, { maxDepth: maxValueDepth, maxRecords: maxRecordsPerChange });
    const added = addedRecords(request.changes);
    if (added) checkProjectSize(this.document.recordCount(), added, this.options.config.limits.maxRecordsPerProject);
    const ids = new CounterIds(this.meta.nextId, this.options.project.ids);
    const applied = this.document.applyChange(request.changes, {
      ids,
      phantoms: this.phantoms.of(sender.connection.user?.name ?? '', sender.connection.id),
      resentPhantoms: sender.generation === 'revisions' ? 'to-updated' : 'keep-added',
      engineCorrection: sender.generation === 'revisions' && isEngineCorrection(request.changes),
    });
    const update = this.takeUpdate();
    const tree = this.placements.note(sender.connection.id, [applied.outgoing, applied.corrections, applied.repairs]);
    const classic = sender.generation === 'classic';
    const order = classic && tree.concurrent ? this.placements.finals(this.document) : null;
    // Like field finals, these may reach the sender after a newer move of its own.
    if (order) this.placements.markWriter(SERVER_CLIENT);
    const lost = classic ? lostByMoves(applied.outgoing, applied.repairs, this.document) : null;
    const finals = together(this.fieldFinals(sender, applied.touched), order);
    const fixes = together(applied.corrections, applied.repairs, lost);
    // A fix may reach a classic client after its own write of the same field (a task sent again
    // whole after a move under a removed parent, with the name it had then): that write then
    // counts as concurrent, and its writer gets the final value.
    if (fixes) this.recentWrites.note(SERVER_CLIENT, fieldWrites(fixes, true));

    // Activity for the quiet-time timers: the changes before this one in its group are not stored yet.
    this.lastChange = Date.now();
    this.watchForDrift(sender, applied.outgoing);
    let n = this.meta.nextRevision;
    const revision: OutgoingRevision = {
      revision: `server-${n++}`,
      ...(request.localRevision !== undefined ? { localRevision: request.localRevision } : {}),
      client: sender.connection.id,
      changes: sender.generation === 'revisions' ? applied.outgoing : withInput(applied.outgoing),
      ...(request.conflictResolutionFor ? { conflictResolutionFor: request.conflictResolutionFor } : {}),
    };
    const revisions = [revision];
    // What the document did beyond the change as sent (repairs, refused parts) travels as a server
    // revision of its own, to every client; classic clients get it in the same message when it
    // broke a scheduling loop.
    if (fixes) {
      const server: OutgoingRevision = { revision: `server-${n++}`, client: SERVER_CLIENT, changes: withInput(fixes) };
      // Between the two, a classic client would hold a schedule that waits for itself.
      revisions.push(applied.loops ? amending(server) : server);
    }

    const at = Date.now();
    const user = sender.connection.user?.name ?? '';
    const named = [...applied.newPhantoms.entries()].map((p) => ({ ...p, user, connection: sender.connection.id, at }));
    const meta: ProjectMeta = { ...this.meta, nextId: ids.nextValue, nextRevision: n };
    const commit = {
      update,
      meta,
      phantoms: named,
      versionContents: applied.versionContents,
      removedVersions: applied.removedVersions,
      revisions: logEntries(revisions),
    };
    // The next change of the group counts on from here.
    this.meta = meta;
    for (const record of named) this.phantoms.set(record);
    // A classic sender back from offline may hold a record only under the real id its dataset gave
    // it, while its change named it by the phantom id: it learns the result only from an echo.
    return { commit, revisions, hasAdded: applied.hasAdded || applied.usedEarlierPhantoms, finals };
  }

  /**
   * Classic clients are not echoed their own updates, so when another writer changed the same
   * field moments before (`RecentWrites`), the sender may hold that writer's value: the final ones.
   */
  private fieldFinals(sender: Sender, touched: string[]): Changes | null {
    const concurrent = this.recentWrites.concurrent(sender.connection.id, touched);
    if (concurrent.length === 0 || sender.generation === 'revisions') return null;
    // Written again before the final arrives, a field gets a final of its own.
    this.recentWrites.note(SERVER_CLIENT, concurrent);
    const out: Record<string, Record<string, unknown>> = {};
    for (const { store, record, fields } of finalFields(concurrent).values()) {
      const values = this.document.readFields(store, record, store === 'project' ? fields : [...fields, 'id']);
      if (!values) continue;
      if (store === 'project') out.project = { ...(out.project ?? {}), ...values };
      else {
        const entry = (Object.hasOwn(out, store) ? out[store] : (out[store] = {})) as { updated?: unknown[] };
        (entry.updated ??= []).push(values);
      }
    }
    return Object.keys(out).length ? out : null;
  }

  /** A revision failed half-way: rebuild the document from storage so memory matches disk. */
  private async recover(error: Error, closePeers = true): Promise<void> {
    this.options.log(`project ${JSON.stringify(this.id)}: change refused (${error.message}); reloading from storage`, { level: 'warn', project: this.id });
    this.pendingUpdates = [];
    this.presence.discardPending();
    // The rebuilt document goes on writing as the old one's client: what that wrote beyond the
    // stored state was never stored or sent, and every new client id makes each later Yjs
    // transaction (and every load) of the project slower, which a client could cause at will.
    const clientID = this.document.clientID;
    this.document.destroy();
    // A fold runs beside the queue: reading the project while it writes its snapshot could take the
    // new snapshot's seq without its chunk, and leave the folded changes out of the document.
    await this.log.settled();
    await this.load(false, clientID);
    // Peers may hold state the document no longer has: they reconnect and sync again.
    if (closePeers) this.presence.closePeers(1011, 'project reloaded: sync again');
  }

  private afterCommit(): void {
    const { storage, revisionLog } = this.options.config;
    this.lastChange = Date.now();
    if (this.log.unfoldedCount >= storage.compactAfterUpdates) this.foldSoon.request();
    const logged = this.meta.nextRevision - this.meta.firstLoggedRevision;
    // Prune in steps rather than on every commit.
    if (logged > revisionLog.keep + Math.max(100, revisionLog.keep / 10)) void this.queue.run(() => this.pruneLog());
  }

  private async pruneLog(): Promise<void> {
    const first = this.meta.nextRevision - this.options.config.revisionLog.keep;
    if (first <= this.meta.firstLoggedRevision) return;
    this.meta = { ...this.meta, firstLoggedRevision: first };
    await this.persist({ update: null, meta: this.meta });
    await this.options.storage.pruneRevisions(first);
  }

  /**
   * The one place a commit is stored: one LevelDB batch (src/persistence/update-log.ts), then the
   * replica when there is one (cluster mode). `deliveries` are what telling it will send.
   */
  private async persist(commit: ReplicatedCommit, deliveries: Delivery[] = [], reset?: { user: string; announce: boolean }): Promise<void> {
    const started = performance.now();
    await this.log.write(commit);
    await this.options.replica?.append(commit, deliveries, reset);
    this.options.observer?.stored((performance.now() - started) / 1000, commit.revisions?.length ?? 0);
  }

  /**
   * The one place committed revisions leave: to this node's subscribers (src/server/delivery.ts),
   * then to the observer. `author` made the revisions of its client (the others are the server's).
   */
  private deliver(delivery: Delivery, author: { client: string; name: string } | null): void {
    if (delivery.revisions.length === 0) return;
    // More changes waiting: hold these to leave with theirs.
    this.fanout.deliver(delivery, this.queue.size > 1);
    this.options.observer?.delivered?.(this.id, delivery.revisions, author);
  }

  /** Revisions as a delivery to everyone (fields muted for classic clients, see CorrectionLoops). */
  private deliveryOf(revisions: OutgoingRevision[], extra: Pick<Delivery, 'noEcho' | 'finals'> = {}): Delivery {
    const delivery: Delivery = { revisions, ...extra };
    // Stryker disable next-line ConditionalExpression,LogicalOperator: with nothing muted (or no revisions) the classic variant holds the same revisions; the condition only saves the work
    if (this.loops.anyMuted && revisions.length) delivery.classic = revisions.map((r) => this.withoutMuted(r));
    return delivery;
  }

  /**
   * A revision as classic clients get it while fields are muted (CorrectionLoops): the stored one
   * and what revisions clients get stay whole, so catch-up and their replay miss nothing.
   */
  private withoutMuted(revision: OutgoingRevision): OutgoingRevision {
    const changes = withoutFields(revision.changes, (store, id, field) => this.loops.isMuted(touchKey(store, store === PROJECT_MAP ? '' : recordKey(id as RecordId), field)));
    return changes === revision.changes ? revision : withChanges(revision, changes);
  }

  /**
   * Engines that fell out of step, noticed in what they send. Classic engines answer each other's
   * values (CorrectionLoops); revisions engines rebase on the server's order but may keep a value
   * one of them derived alone (Disputes). Either way they get a fresh dataset once it is quiet.
   */
  private watchForDrift(sender: Sender, outgoing: Changes): void {
    const { connection, generation } = sender;
    const values = [...fieldValues(outgoing)];
    // Revisions writers count too: a classic engine can answer them as it answers another classic one.
    if (this.loops.note(connection.id, values)) {
      for (const c of this.subscribers) if (c.generation === 'classic') this.loopTargets.add(c);
      if (this.loopTargets.size) this.resyncSoon.request();
    }
    const before = this.settleTargets.size;
    // Sent before the fresh dataset reached it: the load dropped this change, only the next dataset has it.
    const local = this.subscribers.has(connection as Connection) ? (connection as Connection) : null;
    const pushed = local && this.resyncedAt.get(local);
    if (local && pushed !== undefined && pushed !== null && Date.now() - pushed < RESYNC.crossingMs) this.settleTargets.add(local);
    // Only where every client rebases on the server's order: a classic engine beside revisions
    // ones answers their values at once, and a dataset in the middle of that starts it over.
    if (generation === 'revisions' && this.disputes.note(connection.id, values) !== null) {
      if ([...this.subscribers].every((c) => c.generation === 'revisions')) for (const c of this.subscribers) this.settleTargets.add(c);
    }
    if (this.settleTargets.size > before) this.settleSoon.request();
  }

  /**
   * Give the clients whose engines fell out of step the project as a client loading it now gets it
   * (as a reset does, but with nothing else), so they compute alike again.
   */
  private resync(targetSet: Set<Connection>): Promise<void> {
    return this.queue.run(async () => {
      if (this.closed) return;
      const targets = [...targetSet].filter((c) => this.subscribers.has(c));
      targetSet.clear();
      if (!targets.length) return;
      this.loops.clear();
      this.disputes.clear();
      const dataset = datasetPieces(this.history.withVersions(await this.document.datasetTexts()), this.options.config.datasetKeys);
      const classic = targets.filter((c) => c.generation === 'classic').length;
      this.options.log(`project ${JSON.stringify(this.id)}: clients' engines fell out of step; sent ${classic} classic and ${targets.length - classic} revisions clients a fresh dataset`, { project: this.id });
      const now = Date.now();
      for (const connection of targets) {
        connection.sendPieces(encoderFor(connection.generation).resetDataset(this.id, dataset));
        this.resyncedAt.set(connection, now);
      }
    });
  }

  // ---- reset, versions, catch-up --------------------------------------------------------------

  /** Bring back the seed as a new state of the document; ids and revision numbers keep counting. */
  reset(userName: string, announceProject: boolean): Promise<void> {
    return this.queue.run(async () => {
      if (this.closed) throw new ProjectClosed(this.id, this.closedReason);
      await this.takeVersion('before-reset', `Before reset by ${userName}`);
      const seed = await this.options.loadSeed();
      // Stored content of the versions the reset removes goes with them.
      const removedVersions = this.document.recordKeys(VERSIONS).filter((key) => !seed.versionContents.has(key));
      // In parts, so other projects keep flowing; nothing else of this project runs meanwhile,
      // and the parts are stored in one batch, so a crash leaves either the old state or the new.
      let updates: Uint8Array[];
      try {
        const pacer = new Pacer();
        for (const _ of this.document.replaceInParts(seed)) await pacer.tick();
        updates = this.takeUpdates();
      } catch (e) {
        await this.recover(e as Error);
        throw e;
      }
      const meta: ProjectMeta = {
        ...this.meta,
        nextId: counterAbove(seedIds(seed), this.meta.nextId),
        phantomEpoch: this.meta.phantomEpoch + 1,
        // The reset takes a revision number of its own, kept out of the log: catch-up cannot reach
        // across it, so a client that saw the last revision before it reloads too.
        nextRevision: this.meta.nextRevision + 1,
        firstLoggedRevision: this.meta.nextRevision + 1,
      };
      try {
        await this.persist({ update: updates, meta, versionContents: seed.versionContents, removedVersions }, [], { user: userName, announce: announceProject });
      } catch (e) {
        await this.recover(e as Error);
        throw e;
      }
      this.presence.flushToPeers();
      this.meta = meta;
      this.phantoms = this.newPhantomMap();
      this.recentWrites.clear();
      this.placements.clear();
      // Awaited: a store closed right after a reset must not meet these clears half done.
      await this.options.storage.dropPhantomsExcept(meta.phantomEpoch);
      await this.options.storage.pruneRevisions(meta.firstLoggedRevision);
      const dataset = datasetPieces(this.history.withVersions(await this.document.datasetTexts()), this.options.config.datasetKeys);
      for (const connection of this.subscribers) {
        const encoder = encoderFor(connection.generation);
        connection.sendPieces(encoder.resetDataset(this.id, dataset));
        connection.send(encoder.reset(userName, announceProject ? this.id : undefined));
      }
    });
  }

  /**
   * A version's content: what a Bryntum client stored with its version record, or for a server
   * version the project at that version as JSON text (large: it is sent as it is, never parsed).
   */
  versionContent(versionId: RecordId): Promise<{ found: boolean; content?: unknown; json?: string[] }> {
    const n = serverVersionNumber(versionId);
    // A server version's content is built from its stored state, which no change touches.
    // The document holds no record in that id space (a peer's would be ignored too).
    if (n !== null) return this.history.content(n);
    return this.queue.run(() => this.options.storage.versionContent(recordKey(versionId)));
  }

  /**
   * Weft's catch-up: subscribe and return the revisions after `since` as JSON texts (one each),
   * or null when the log no longer reaches back that far or they are longer than
   * `limits.maxCatchUpChars` (the client must load the dataset). Revisions are read one at a
   * time so a refused catch-up never holds more than the bound.
   */
  catchUp(connection: Connection, since: number): Promise<{ revisions: string[] | null; revision: string | null }> {
    return this.queue.run(async () => {
      if (since >= this.meta.nextRevision) return { revisions: null, revision: this.lastRevision };
      const revisions = await this.logged(since + 1, this.meta.nextRevision - 1);
      if (!revisions) return { revisions: null, revision: this.lastRevision };
      connection.subscribeTo(this);
      this.subscribers.add(connection);
      return { revisions, revision: this.lastRevision };
    });
  }

  /** Revisions `from`..`to` as logged (see `logged`), for another node's catch-up (cluster mode). */
  loggedRevisions(from: number, to: number): Promise<string[] | null> {
    // Stryker disable next-line ArithmeticOperator: nothing is logged at nextRevision or past it, so reading on to nextRevision + 1 finds the same
    return this.queue.run(() => this.logged(from, Math.min(to, this.meta.nextRevision - 1)));
  }

  /**
   * The JSON texts of revisions `from`..`to`, or null when the log no longer reaches back to
   * `from` or they are longer than `limits.maxCatchUpChars`. Read one at a time, so a refused
   * catch-up never holds more than the bound.
   */
  private async logged(from: number, to: number): Promise<string[] | null> {
    if (from < this.meta.firstLoggedRevision) return null;
    const bound = this.options.config.limits.maxCatchUpChars;
    const revisions: string[] = [];
    let chars = 0;
    for (let n = from; n <= to; n++) {
      for (const revision of await this.options.storage.revisions(n, n)) {
        const text = JSON.stringify(revision as OutgoingRevision);
        chars += text.length;
        if (chars > bound) return null;
        revisions.push(text);
      }
    }
    return revisions;
  }

  // ---- server-side versions (src/history) -----------------------------------------------------

  private noteChange(author: string): void {
    if (this.history.noteChange(author)) this.versionSoon.request();
  }

  /** An automatic version, unless one was taken meanwhile. */
  private async autoVersion(): Promise<void> {
    if (this.autoVersioning) return;
    // Stryker disable next-line BooleanLiteral: a second automatic version queued behind the first is taken only if due by then (takeVersion asks due()), as the next change's trigger would take it; the flag saves queued no-ops
    this.autoVersioning = true;
    try {
      await this.queue.run(async () => {
        this.options.log(`project ${JSON.stringify(this.id)}: taking an automatic version`, { level: 'debug', project: this.id });
        const taken = await this.takeVersion('auto');
        this.options.log(`project ${JSON.stringify(this.id)}: automatic version ${taken ? 'taken' : 'not due'}`, { level: 'debug', project: this.id });
      });
    } catch (e) {
      this.options.log(`project ${JSON.stringify(this.id)}: automatic version failed: ${(e as Error).message}`, { level: 'error', project: this.id });
    } finally {
      this.autoVersioning = false;
    }
  }

  /**
   * Record a version of the current state (run inside the queue) and show it to Bryntum clients.
   * The state is the stored snapshot chunks and logged updates as they are: nothing is encoded
   * or merged (encoding the live document takes seconds at 100k tasks, all on the event loop).
   */
  private async takeVersion(reason: VersionReason, label?: string): Promise<VersionMeta | null> {
    // An automatic version may have been taken already by another trigger.
    if (this.closed || (reason === 'auto' && !this.history.due())) return null;
    const n = this.meta.nextRevision;
    const state = await this.log.parts();
    const announced = shownToClients({ reason });
    const { version, removed } = await this.history.record({ reason, label, state, lastRevision: this.lastRevision, nextRevision: announced ? n + 1 : n });
    const change = versionsChange(version, removed);
    if (!change) return version;
    const revision: OutgoingRevision = { revision: `server-${n}`, client: SERVER_CLIENT, changes: withInput(change) };
    const meta: ProjectMeta = { ...this.meta, nextRevision: n + 1 };
    const delivery = this.deliveryOf([revision]);
    // Stryker disable next-line ArrayDeclaration: an announcement changes only the versions store, where no field is muted, so a follower derives the same delivery from the entry's revision
    await this.persist({ update: null, meta, revisions: logEntries([revision]), serverVersions: this.history.list() }, [delivery]);
    this.meta = meta;
    this.afterCommit();
    this.deliver(delivery, null);
    return version;
  }

  /** A version on request (CLI, admin API). */
  createVersion(label?: string): Promise<VersionMeta> {
    return this.queue.run(async () => {
      const version = await this.takeVersion('manual', label);
      if (!version) throw new Error('project is closing');
      return version;
    });
  }

  /**
   * Bring version `n` back as one forward change, after keeping the current state as a version.
   * Resolves with that version and the revision clients received (null when nothing differed).
   */
  restore(n: number, userName: string): Promise<{ restored: VersionMeta; before: VersionMeta; revision: string | null }> {
    return this.queue.run(async () => {
      if (this.closed) throw new ProjectClosed(this.id, this.closedReason);
      const { version: restored, state } = await this.history.get(n);
      const before = await this.takeVersion('before-restore', `Before restore of version ${n}`);
      if (!before) throw new Error('project is closing');
      // The version is built part by part first (other projects keep flowing), then written as one change.
      const target = await ProjectDocument.load(state);
      try {
        const revision = await this.commitWrite(SERVER_CLIENT, userName, () => restoreState(this.document, target.doc));
        return { restored, before, revision };
      } finally {
        target.destroy();
      }
    });
  }

  /** How many tasks the project holds now (the history page's project list). */
  get taskCount(): number {
    return this.document.recordKeys(TASKS).length;
  }

  /** Dataset as plain objects (tests, CLI), serialized in paced stretches. */
  dataset(): Promise<Record<string, unknown>> {
    return this.queue.run(() => this.document.dataset(true));
  }

  /** Flush: fold the log into a snapshot and free the document. */
  close(): Promise<void> {
    return this.queue.run(async () => {
      this.cancelBackground();
      await this.log.settled();
      await this.log.fold();
      await this.storeDatasetTexts();
      await this.history.close(this.meta.nextRevision);
      this.closed = true;
      this.presence.closePeers(1001, 'project unloaded');
      this.presence.destroy();
      this.document.destroy();
    });
  }

  /**
   * A large project's dataset texts, kept for its next load to serve at once (see `early`). Small
   * projects load faster than these would be read. A failure costs only that speed-up.
   */
  private async storeDatasetTexts(): Promise<void> {
    // Tasks are most of a large project; Y.Map sizes would each be a walk over the map.
    if (this.document.tree.size < EARLY_TEXT_TASKS) return;
    try {
      if (await this.options.storage.hasDatasetTexts(this.log.lastSeq)) return;
      await this.options.storage.storeDatasetTexts(this.log.lastSeq, await this.document.datasetTexts());
    } catch (e) {
      this.options.log(`project ${JSON.stringify(this.id)}: cannot store its dataset texts: ${(e as Error).message}`, { level: 'warn', project: this.id });
    }
  }

  /**
   * The project was deleted: its subscribers get an error and are unsubscribed, its peers are
   * closed (4404), and nothing more is stored (its keys are being removed).
   */
  end(reason: string): Promise<void> {
    return this.queue.run(async () => {
      this.cancelBackground();
      await this.log.settled();
      this.closed = true;
      this.closedReason = reason;
      // Its automatic-version timer would hold the whole room (document and all) until it fires.
      this.history.stop();
      for (const connection of [...this.subscribers]) {
        connection.send(errorMessage(reason, this.id));
        connection.unsubscribe();
      }
      this.presence.closePeers(4404, 'project deleted');
      this.presence.destroy();
      this.document.destroy();
    });
  }

  private cancelBackground(): void {
    this.foldSoon.cancel();
    this.versionSoon.cancel();
    this.resyncSoon.cancel();
    this.settleSoon.cancel();
  }
}

/**
 * Drift (see watchForDrift): writes within `windowMs` count (a field several clients keep writing
 * back to a value it had, a correction loop, stops being passed on); the fresh dataset waits for
 * `quietMs` without a change (at most `maxDelayMs` for a loop, `settleMaxDelayMs` for a dispute),
 * and a client's change within `crossingMs` of its fresh dataset may have crossed it on the wire.
 */
export const RESYNC = { windowMs: 3000, quietMs: 500, maxDelayMs: 3000, settleMaxDelayMs: 30_000, crossingMs: 1000 };

/** Projects with at least this many tasks keep their dataset texts when unloaded (see `storeDatasetTexts`). */
const EARLY_TEXT_TASKS = 5000;

/** Submissions one job commits together at most (see commitSubmissions). */
const MAX_GROUP = 64;

interface Submission {
  sender: Sender;
  requests: ChangeRequest[];
  resolve: (failure: string | null) => void;
  reject: (error: Error) => void;
  onRefused?: (message: string) => void;
}

function settle(submission: Submission, failure: string | null): void {
  if (failure !== null) submission.onRefused?.(failure);
  submission.resolve(failure);
}

interface SubmissionResult {
  submission: Submission;
  /** Revisions to deliver (none when the group could not be stored). */
  outgoing: OutgoingRevision[];
  failure: string | null;
  added: boolean;
  finals: Changes | null;
  /** Changes of it that were applied. */
  changes: number;
  /** What telling it sends (made once the group is applied, before it is stored). */
  delivery: Delivery;
}

/**
 * Several commits as one, in order: their updates under consecutive sequence numbers, the last
 * counters, and for version contents the last word on each key (a put or a removal).
 */
export function joinCommits(commits: Omit<Commit, 'seq'>[]): Omit<Commit, 'seq'> {
  // Stryker disable next-line ConditionalExpression: joined alone, a commit stores the same (its updates, counters, and the last word on each version); this only skips copying
  if (commits.length === 1) return commits[0];
  const updates: Uint8Array[] = [];
  const phantoms: PhantomRecord[] = [];
  const revisions: { n: number; text: string }[] = [];
  const versions = new Map<string, { content: unknown } | null>();
  let meta: ProjectMeta | undefined;
  for (const c of commits) {
    updates.push(...updatesOf(c));
    phantoms.push(...(c.phantoms ?? []));
    revisions.push(...(c.revisions ?? []));
    for (const [key, content] of c.versionContents ?? []) versions.set(key, { content });
    for (const key of c.removedVersions ?? []) versions.set(key, null);
    meta = c.meta ?? meta;
  }
  const versionContents: [string, unknown][] = [];
  const removedVersions: string[] = [];
  for (const [key, value] of versions) {
    if (value) versionContents.push([key, value.content]);
    else removedVersions.push(key);
  }
  return { update: updates.length ? updates : null, meta, phantoms, versionContents, removedVersions, revisions };
}

/** Revisions as revision log entries (`server-<n>` is stored under n). */
function logEntries(revisions: OutgoingRevision[]): { n: number; text: string }[] {
  return revisions.map((r) => ({ n: Number(r.revision.slice('server-'.length)), text: revisionText(r) }));
}

/** A stored snapshot chunk or log entry that Yjs cannot apply: said as such (a read failure of LevelDB stays what it is). */
function damaged(e: Error): never {
  if (String((e as { code?: unknown }).code ?? '').startsWith('LEVEL_')) throw e;
  throw new Error(`its stored data is damaged (${e.message})`, { cause: e });
}
