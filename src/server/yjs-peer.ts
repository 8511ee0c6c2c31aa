/**
 * A Yjs peer: a y-websocket provider connected at /yjs/<project>. It syncs the project document
 * directly; its edits are repaired and passed on to Bryntum clients by the room like any change.
 */
import type { Log, LogFields, LogLevel } from './log.js';
import type { WebSocket } from 'ws';
import { awarenessClientIds, decodeYjsFrame } from '../protocol/yjs-wire.js';
import type { User } from './access.js';
import type { Inbound } from './inbound.js';
import type { Room } from './projects.js';

/** The `limits` a peer is held to (defaults as in the config schema). */
export interface PeerLimits {
  maxBufferedBytes: number;
  maxAwarenessStatesPerPeer: number;
  maxAwarenessFrameBytes: number;
}

const DEFAULT_LIMITS: PeerLimits = { maxBufferedBytes: 64 * 1024 * 1024, maxAwarenessStatesPerPeer: 8, maxAwarenessFrameBytes: 64 * 1024 };

export class YjsPeer {
  /** Awareness client ids this peer announced, removed when it leaves. */
  readonly awarenessClients = new Set<number>();
  /** A sync step 1 is being answered; the state vector of one asked meanwhile, answered after it. */
  private syncing = false;
  private syncAgain: Uint8Array | null = null;

  constructor(
    readonly id: string,
    private readonly socket: WebSocket,
    readonly user: User,
    readonly readOnly: boolean,
    private readonly room: Room,
    private readonly inbound: Inbound,
    private readonly log: Log,
    private readonly limits: PeerLimits = DEFAULT_LIMITS,
  ) {}

  /** Who a log line is about. */
  private about(level: LogLevel): LogFields {
    return { level, project: this.room.id, connection: this.id, user: this.user.name };
  }

  async start(): Promise<void> {
    this.socket.binaryType = 'nodebuffer';
    this.socket.on('message', (data: Buffer, isBinary: boolean) => this.receive(data, isBinary));
    this.socket.on('close', () => this.room.removePeer(this));
    this.socket.on('error', (e) => this.log(`${this.id}: socket error: ${e.message}`, this.about('warn')));
    await this.room.addPeer(this);
  }

  /** Whether its socket is still open (one that closed while its joining waited in the room's queue is not added). */
  get open(): boolean {
    return this.socket.readyState === this.socket.OPEN;
  }

  send(frame: Uint8Array): void {
    if (!this.open) return;
    // A peer this far behind would hold the server's memory; it reconnects and syncs afresh.
    if (this.socket.bufferedAmount > this.limits.maxBufferedBytes) return this.close(1013, 'peer too slow: reconnect');
    this.socket.send(frame);
  }

  close(code: number, reason: string): void {
    this.socket.close(code, reason);
  }

  private receive(data: Buffer, isBinary: boolean): void {
    if (!isBinary) return this.close(1003, 'Yjs peers speak binary y-websocket frames');
    let frame;
    try {
      frame = decodeYjsFrame(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    } catch (e) {
      // Stryker disable next-line MethodExpression: the decoders' messages are short; the cut only keeps a longer one under the 123-byte limit of a close reason
      return this.close(1007, `invalid frame: ${(e as Error).message}`.slice(0, 120));
    }
    switch (frame.type) {
      case 'sync-step-1': {
        // One answer at a time: each encodes what the peer lacks (the whole project for an empty
        // state vector), so requests sent meanwhile are folded into one asked after it, with the
        // latest state vector.
        if (this.syncing) {
          this.syncAgain = frame.stateVector;
          return;
        }
        this.answerSync(frame.stateVector, data.byteLength);
        return;
      }
      case 'update': {
        // Read-only peers may sync down but their edits are not taken.
        if (this.readOnly) return;
        const handled = this.inbound.admit(data.byteLength);
        this.room
          .applyPeerUpdate(this, frame.update)
          .catch((e) => {
            this.log(`${this.id}: update refused: ${(e as Error).message}`, this.about('warn'));
            this.close(1007, 'update refused');
          })
          .finally(handled);
        return;
      }
      case 'awareness':
        if (this.admitAwareness(frame.update)) this.room.applyAwareness(this, frame.update);
        return;
      case 'query-awareness':
        return;
    }
  }

  private answerSync(stateVector: Uint8Array, bytes: number): void {
    this.syncing = true;
    const handled = this.inbound.admit(bytes);
    void this.room
      .answerSyncStep1(this, stateVector)
      .catch((e) => this.log(`${this.id}: sync step 1 failed: ${(e as Error).message}`, this.about('error')))
      .finally(() => {
        handled();
        this.syncing = false;
        const again = this.syncAgain;
        this.syncAgain = null;
        if (again && this.socket.readyState === this.socket.OPEN) this.answerSync(again, again.byteLength);
      });
  }

  /**
   * An awareness frame is relayed to every peer, so its size and the states one peer may hold
   * are bounded; a frame over either bound is dropped whole (a real provider never sends one).
   */
  private admitAwareness(update: Uint8Array): boolean {
    if (update.byteLength > this.limits.maxAwarenessFrameBytes) {
      this.log(`${this.id}: awareness frame of ${update.byteLength} bytes dropped`, this.about('warn'));
      return false;
    }
    let ids: number[];
    try {
      ids = awarenessClientIds(update);
    } catch {
      this.close(1007, 'invalid awareness update');
      return false;
    }
    const held = new Set(this.awarenessClients);
    for (const id of ids) held.add(id);
    if (held.size > this.limits.maxAwarenessStatesPerPeer) {
      this.log(`${this.id}: awareness frame for ${held.size} client states dropped`, this.about('warn'));
      return false;
    }
    return true;
  }
}
