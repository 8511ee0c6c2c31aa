/**
 * A Yjs peer: a y-websocket provider connected at /yjs/<project>. It syncs the project document
 * directly; its edits are repaired and passed on to Bryntum clients by the room like any change.
 */
import type { WebSocket } from 'ws';
import { decodeYjsFrame } from '../protocol/yjs-wire.js';
import type { User } from './access.js';
import type { Inbound } from './inbound.js';
import type { ProjectRoom } from './room.js';

export class YjsPeer {
  /** Awareness client ids this peer announced, removed when it leaves. */
  readonly awarenessClients = new Set<number>();

  constructor(
    readonly id: string,
    private readonly socket: WebSocket,
    readonly user: User,
    readonly readOnly: boolean,
    private readonly room: ProjectRoom,
    private readonly inbound: Inbound,
    private readonly log: (message: string) => void,
  ) {}

  async start(): Promise<void> {
    this.socket.binaryType = 'nodebuffer';
    this.socket.on('message', (data: Buffer, isBinary: boolean) => this.receive(data, isBinary));
    this.socket.on('close', () => this.room.removePeer(this));
    this.socket.on('error', (e) => this.log(`${this.id}: socket error: ${e.message}`));
    await this.room.addPeer(this);
  }

  send(frame: Uint8Array): void {
    if (this.socket.readyState === this.socket.OPEN) this.socket.send(frame);
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
      return this.close(1007, `invalid frame: ${(e as Error).message}`.slice(0, 120));
    }
    switch (frame.type) {
      case 'sync-step-1': {
        const handled = this.inbound.admit(data.byteLength);
        void this.room.answerSyncStep1(this, frame.stateVector).finally(handled);
        return;
      }
      case 'update': {
        // Read-only peers may sync down but their edits are not taken.
        if (this.readOnly) return;
        const handled = this.inbound.admit(data.byteLength);
        this.room
          .applyPeerUpdate(this, frame.update)
          .catch((e) => {
            this.log(`${this.id}: update refused: ${(e as Error).message}`);
            this.close(1007, 'update refused');
          })
          .finally(handled);
        return;
      }
      case 'awareness':
        this.room.applyAwareness(this, frame.update);
        return;
      case 'query-awareness':
        return;
    }
  }
}
