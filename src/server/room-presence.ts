/**
 * Who is in a project and the Yjs peers' side of it: the project's Yjs awareness (peers' states
 * plus the server's own, listing the users present), the connections watching presence, and the
 * committed updates in the V1 encoding y-websocket peers speak, collected only while there are
 * peers. The room calls in from its queue where ordering against changes matters.
 */
import { Awareness, applyAwarenessUpdate, encodeAwarenessUpdate, removeAwarenessStates } from 'y-protocols/awareness';
import { ProjectDocument } from '../document/project-document.js';
import type { ProjectId } from '../protocol/schemas.js';
import { awarenessFrame, syncStep1Frame, syncStep2Frame, updateFrame } from '../protocol/yjs-wire.js';
import type { Connection } from './connection.js';
import { ANNOUNCE_MS } from './announcements.js';
import { YjsPeer } from './yjs-peer.js';

/** Committed updates for peers are merged into one frame below this many bytes. */
const MERGE_BELOW_BYTES = 256 * 1024;

/** Presence across nodes (src/cluster/cluster-presence.ts); absent on a single node. */
export interface PresenceLink {
  /** Takes part in a project's presence; `member` hears what other nodes change. */
  join(project: ProjectId, member: PresenceMember): PresenceMembership;
}

export interface PresenceMember {
  /** Other nodes' names in the project changed. */
  namesChanged(): void;
  /** Another node's peer changed its awareness state. */
  applyRemoteAwareness(update: Uint8Array): void;
}

export interface PresenceMembership {
  /** Names other nodes have in the project. */
  remoteNames(): Iterable<string>;
  /** This node's names in the project are now `names`. */
  localNamesChanged(names: string[]): void;
  /** A peer of this node changed its awareness state (an awareness update of those states). */
  awareness(update: Uint8Array): void;
  leave(): void;
}

/** Origin of awareness updates that came from another node: not sent back there. */
const REMOTE = Symbol('another node');
/** Origin of the removal of a closed peer's states (other nodes' peers must hear of it too). */
const PEER_CLOSED = 'peer closed';

interface AwarenessChange {
  added: number[];
  updated: number[];
  removed: number[];
}

export class RoomPresence {
  readonly peers = new Set<YjsPeer>();
  private awareness: Awareness | null = null;
  private document: ProjectDocument | null = null;
  /** Connections that asked to be told who is in the project. */
  private readonly watchers = new Set<Connection>();
  private publishTimer: NodeJS.Timeout | null = null;
  private pendingPeerUpdates: Uint8Array[] = [];
  private readonly takePeerUpdate = (update: Uint8Array) => void this.pendingPeerUpdates.push(update);
  private readonly membership: PresenceMembership | null;
  /** This node's own names as last told to other nodes. */
  private toldLocal = '[]';

  constructor(
    private readonly project: ProjectId,
    /** Bryntum users subscribed to the project. */
    private readonly subscriberNames: () => Iterable<string>,
    link?: PresenceLink,
  ) {
    this.membership = link?.join(project, { namesChanged: () => this.publish(), applyRemoteAwareness: (update) => this.awareness && applyAwarenessUpdate(this.awareness, update, REMOTE) }) ?? null;
  }

  /** Follow a (new) document of the project. */
  attach(document: ProjectDocument): void {
    this.document = document;
    this.pendingPeerUpdates = [];
    this.feedPeers();
    this.awareness?.destroy();
    const awareness = new Awareness(document.doc);
    this.awareness = awareness;
    awareness.on('update', ({ added, updated, removed }: AwarenessChange, origin: unknown) => {
      if (origin instanceof YjsPeer) {
        for (const id of added) origin.awarenessClients.add(id);
        for (const id of removed) origin.awarenessClients.delete(id);
      }
      const fromPeer = origin instanceof YjsPeer || origin === PEER_CLOSED;
      if (this.peers.size === 0 && !(fromPeer && this.membership)) return;
      const update = encodeAwarenessUpdate(awareness, [...added, ...updated, ...removed]);
      // Peers' states (not the server's own, nor another node's) go to the other nodes' peers.
      if (fromPeer) this.membership?.awareness(update);
      if (this.peers.size === 0) return;
      const frame = awarenessFrame(update);
      for (const peer of this.peers) peer.send(frame);
    });
    this.publish();
  }

  /** Names of everyone in the project: Bryntum subscribers and Yjs peers, on every node. */
  names(): string[] {
    const names = new Set<string>(this.localNames());
    if (this.membership) for (const name of this.membership.remoteNames()) names.add(name);
    return [...names];
  }

  /** Names of this node's subscribers and peers. */
  private localNames(): string[] {
    const names = new Set<string>(this.subscriberNames());
    for (const p of this.peers) names.add(p.user.name);
    return [...names];
  }

  watch(connection: Connection): string[] {
    this.watchers.add(connection);
    return this.names();
  }

  unwatch(connection: Connection): void {
    this.watchers.delete(connection);
  }

  /**
   * Subscribers came or went: tell watchers and peers soon. One list for all that changed within
   * ANNOUNCE_MS: in a join storm on one project each subscription would otherwise build and send
   * the whole list again (n² names).
   */
  publishSoon(): void {
    if (this.publishTimer) return;
    this.publishTimer = setTimeout(() => {
      this.publishTimer = null;
      this.publish();
    }, ANNOUNCE_MS);
    this.publishTimer.unref();
  }

  /** Tell watchers, peers and other nodes who is present, when that changed. */
  publish(): void {
    if (this.membership) {
      const local = this.localNames();
      const text = JSON.stringify(local);
      if (text !== this.toldLocal) {
        this.toldLocal = text;
        this.membership.localNamesChanged(local);
      }
    }
    if (!this.awareness) return;
    const users = this.names();
    const current = this.awareness.getLocalState() as { weft?: { users?: string[] } } | null;
    if (JSON.stringify(current?.weft?.users) === JSON.stringify(users)) return;
    this.awareness.setLocalState({ weft: { users } });
    for (const c of this.watchers) c.announce(c.encoder.presence(this.project, users));
  }

  /** A new peer: it is asked for its state and told the awareness states (run in the room's queue). */
  addPeer(peer: YjsPeer): void {
    // Closed while its joining waited in the queue: its close found nothing to remove, and it would stay for good.
    if (!peer.open) return;
    this.peers.add(peer);
    this.feedPeers();
    peer.send(syncStep1Frame(this.document!.stateVector()));
    const states = [...this.awareness!.getStates().keys()];
    if (states.length) peer.send(awarenessFrame(encodeAwarenessUpdate(this.awareness!, states)));
    this.publish();
  }

  removePeer(peer: YjsPeer): void {
    this.peers.delete(peer);
    this.feedPeers();
    if (this.awareness) removeAwarenessStates(this.awareness, [...peer.awarenessClients], PEER_CLOSED);
    this.publish();
  }

  /** What a peer with this state vector lacks (run in the room's queue: committed state only). */
  answerSyncStep1(peer: YjsPeer, stateVector: Uint8Array): void {
    const missing = this.document!.missingFrom(stateVector);
    // The updates made since the whole state was encoded go first: Yjs holds them until the whole
    // state arrives with sync step 2, so a peer that counts itself synced on step 2 has them all.
    for (let i = 1; i < missing.length; i++) peer.send(updateFrame(missing[i]));
    peer.send(syncStep2Frame(missing[0]));
  }

  applyAwareness(peer: YjsPeer, update: Uint8Array): void {
    if (this.awareness) applyAwarenessUpdate(this.awareness, update, peer);
  }

  /** Pass the committed transactions on to the peers. */
  flushToPeers(): void {
    const updates = this.pendingPeerUpdates;
    this.pendingPeerUpdates = [];
    if (updates.length === 0 || this.peers.size === 0) return;
    // A few small updates go as one; many large ones (a reset) as they are: merging them would
    // hold up the event loop, and peers apply them in order just the same.
    const bytes = updates.reduce((n, u) => n + u.byteLength, 0);
    const frames = updates.length === 1 || bytes > MERGE_BELOW_BYTES ? updates.map((u) => updateFrame(u)) : [updateFrame(ProjectDocument.mergeUpdates(updates, 'v1'))];
    for (const peer of this.peers) for (const frame of frames) peer.send(frame);
  }

  /** Forget transactions that were not committed. */
  discardPending(): void {
    this.pendingPeerUpdates = [];
  }

  closePeers(code: number, reason: string): void {
    for (const peer of this.peers) peer.close(code, reason);
  }

  destroy(): void {
    this.membership?.leave();
    if (this.publishTimer) clearTimeout(this.publishTimer);
    this.publishTimer = null;
    this.awareness?.destroy();
    this.awareness = null;
  }

  /** Collect updates in the peers' encoding only while there are peers. */
  private feedPeers(): void {
    this.document?.feedV1(this.peers.size > 0 ? this.takePeerUpdate : null);
  }
}
