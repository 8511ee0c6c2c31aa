/**
 * One client socket: its identity, protocol generation, login and subscription.
 */
import type { WebSocket } from 'ws';
import { encoderFor, type Encoder, type Generation, type Message } from '../protocol/codec.js';
import type { User } from './access.js';
import type { ProjectRoom } from './room.js';

export class Connection {
  /** Fixed by the login message (PROTOCOL.md §2.4); 'classic' until then. */
  generation: Generation = 'classic';
  user: User | null = null;
  room: ProjectRoom | null = null;

  constructor(
    /** Distinct for every connection this server ever accepts (PROTOCOL.md §2.1). */
    readonly id: string,
    private readonly socket: WebSocket,
    private readonly maxBufferedBytes: number,
  ) {}

  get encoder(): Encoder {
    return encoderFor(this.generation);
  }

  get open(): boolean {
    return this.socket.readyState === this.socket.OPEN;
  }

  send(message: Message | string): void {
    if (!this.open) return;
    if (this.socket.bufferedAmount > this.maxBufferedBytes) {
      // A client this far behind would miss changes; close so it reconnects and reloads.
      this.socket.close(1013, 'client too slow: reconnect and reload');
      return;
    }
    this.socket.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  subscribeTo(room: ProjectRoom): void {
    if (this.room && this.room !== room) this.room.unsubscribe(this);
    this.room = room;
  }

  unsubscribe(): void {
    this.room?.unsubscribe(this);
    this.room = null;
  }

  close(code?: number, reason?: string): void {
    this.socket.close(code, reason);
  }
}
