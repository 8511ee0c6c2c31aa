/**
 * One client socket: its identity, protocol generation, login and subscription.
 */
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import type { WebSocket } from 'ws';
import { encoderFor, type Encoder, type Generation, type Message } from '../protocol/codec.js';
import type { User } from './access.js';
import type { Room } from './projects.js';
import { fragments } from './fragments.js';
import { atTime } from './expiry.js';
import { corkSocket, flushSoon, forget, inOneWrite } from './announcements.js';
import type { OutputBudget } from './output-budget.js';

/** Replies longer than this (in UTF-16 code units) are sent as fragments. */
const STREAM_ABOVE = 1024 * 1024;
/** Size of each fragment of a streamed reply. */
const FRAGMENT = 512 * 1024;
/** A streamed reply waits while the socket has more than this buffered (the client reads slowly). */
const STREAM_BUFFER = 4 * 1024 * 1024;


/** A message's JSON text, or its UTF-8 bytes (one copy sent to many connections). */
export type Text = string | Buffer;

const AS_TEXT = { binary: false } as const;

const textOf = (message: Message | Text): Text => (typeof message === 'string' || Buffer.isBuffer(message) ? message : JSON.stringify(message));

/** Messages and characters sent by all connections of a server (read by the metrics). */
export interface SentCount {
  messages: number;
  chars: number;
}

export class Connection {
  /** Fixed by the login message (PROTOCOL.md §2.4); 'classic' until then. */
  generation: Generation = 'classic';
  user: User | null = null;
  room: Room | null = null;
  /** Messages waiting for a streamed reply to finish (null when none is being streamed). */
  private waiting: { item: Text | string[]; chars: number }[] | null = null;
  /** Their length in UTF-16 code units. */
  private waitingChars = 0;
  /** Logins on this connection, successful or not (capped by `limits.maxLoginsPerConnection`). */
  logins = 0;
  /** Failed logins on this connection. */
  failedLogins = 0;
  /** See track. */
  private readonly inFlight = new Set<Promise<unknown>>();
  /** Announcements waiting to leave together (see announce). */
  private announcements: Text[] | null = null;
  /** Closes the connection when the token it logged in with expires. */
  private cancelExpiry: (() => void) | null = null;

  constructor(
    /** Distinct for every connection this server ever accepts (PROTOCOL.md §2.1). */
    readonly id: string,
    private readonly socket: WebSocket,
    private readonly maxBufferedBytes: number,
    /** Shared by every connection of the server: what all slow clients together may hold. */
    private readonly budget: OutputBudget | null = null,
    /** The client's address (for limits per address). */
    readonly address = '',
    private readonly sent: SentCount | null = null,
  ) {}

  /** Output held for this client: queued in the socket and waiting behind a streamed reply. */
  get held(): number {
    return this.socket.bufferedAmount + this.waitingChars;
  }

  get encoder(): Encoder {
    return encoderFor(this.generation);
  }

  get open(): boolean {
    return this.socket.readyState === this.socket.OPEN;
  }

  send(message: Message | Text): void {
    if (!this.open) return;
    // Announcements held were sent before this message.
    this.flushAnnouncements();
    const text = textOf(message);
    const length = typeof text === 'string' ? text.length : text.byteLength;
    if (this.sent) {
      this.sent.messages++;
      this.sent.chars += length;
    }
    if (this.waiting) return this.wait(text, length);
    this.write(text);
  }

  /**
   * Send a message that many connections get at once (logins, logouts, users lists, presence):
   * it waits a moment to leave in one write with the others (src/server/announcements.ts).
   */
  announce(message: Message | Text): void {
    if (!this.open) return;
    (this.announcements ??= []).push(textOf(message));
    flushSoon(this);
  }

  /**
   * Work of this connection still under way that its next frames need not wait for (changes
   * queued in the room: see the pipelined commands in commands.ts). Other frames wait for it.
   */
  track(work: Promise<unknown>): void {
    const done: Promise<unknown> = work.catch(() => undefined).finally(() => this.inFlight.delete(done));
    this.inFlight.add(done);
  }

  /** Resolves once the work tracked so far is done. */
  settled(): Promise<unknown> {
    return this.inFlight.size ? Promise.all(this.inFlight) : Promise.resolve();
  }

  /** Hold what is sent to this connection until the returned function is called (see Outbox); null when closed. */
  cork(): (() => void) | null {
    return this.open ? corkSocket(this.socket) : null;
  }

  /** Send the announcements held, if any, in one write. */
  flushAnnouncements(): void {
    const held = this.announcements;
    if (!held) return;
    this.announcements = null;
    forget(this);
    inOneWrite(this.socket, () => {
      for (const text of held) this.send(text);
    });
  }

  /**
   * Send one message given as pieces of text, in order with everything else sent to this
   * connection. A long one goes out as WebSocket fragments, a turn of the event loop apart, so
   * neither the whole text nor its bytes are ever built at once and other clients' traffic runs
   * in between; messages sent meanwhile wait for it.
   */
  sendPieces(pieces: string[]): void {
    if (!this.open) return;
    this.flushAnnouncements();
    const chars = pieces.reduce((n, p) => n + p.length, 0);
    if (this.sent) {
      this.sent.messages++;
      this.sent.chars += chars;
    }
    if (this.waiting) return this.wait(chars <= STREAM_ABOVE ? pieces.join('') : pieces, chars);
    if (chars <= STREAM_ABOVE) return this.write(pieces.join(''));
    this.waiting = [];
    this.waitingChars = 0;
    void this.streamAll(pieces);
  }

  private write(text: Text): void {
    if (this.socket.bufferedAmount > this.maxBufferedBytes || this.budget?.over(this, this.held)) return this.tooSlow();
    // Bytes are a text message's UTF-8 too (ws would send a Buffer as binary by default).
    this.socket.send(text, AS_TEXT);
  }

  private wait(item: Text | string[], chars: number): void {
    this.waiting!.push({ item, chars });
    this.waitingChars += chars;
    if (this.waitingChars > this.maxBufferedBytes || this.budget?.over(this, this.held)) this.tooSlow();
  }

  /** A client this far behind would miss changes; close so it reconnects and reloads. */
  private tooSlow(): void {
    this.waiting = null;
    this.waitingChars = 0;
    this.budget?.release(this);
    this.socket.close(1013, 'client too slow: reconnect and reload');
  }

  private async streamAll(first: string[]): Promise<void> {
    try {
      let item: Text | string[] | undefined = first;
      while (item !== undefined && this.open && this.waiting) {
        if (Array.isArray(item)) await this.stream(item);
        else this.write(item);
        const next = this.waiting?.shift();
        if (next) this.waitingChars -= next.chars;
        item = next?.item;
      }
    } finally {
      this.waiting = null;
      this.waitingChars = 0;
    }
  }

  private async stream(pieces: string[]): Promise<void> {
    const parts = fragments(pieces, FRAGMENT);
    let part = parts.next();
    while (!part.done) {
      const next = parts.next();
      this.socket.send(part.value, { fin: next.done === true });
      part = next;
      if (part.done) return;
      await nextTurn();
      // Bounded: a client that stays this far behind is closed by the buffer limit instead.
      for (let i = 0; i < 500 && this.open && this.socket.bufferedAmount > STREAM_BUFFER; i++) await sleep(2);
      if (!this.open) return;
      if (this.socket.bufferedAmount > this.maxBufferedBytes) return this.tooSlow();
    }
  }

  subscribeTo(room: Room): void {
    if (this.room && this.room !== room) this.room.unsubscribe(this);
    this.room = room;
  }

  unsubscribe(): void {
    this.room?.unsubscribe(this);
    this.room = null;
  }

  close(code?: number, reason?: string): void {
    this.expireAt(null);
    this.socket.close(code, reason);
  }

  /** Close with 4401 at `ms` (epoch), when the token of the login expires; null for no expiry. A new login replaces it. */
  expireAt(ms: number | null): void {
    this.cancelExpiry?.();
    this.cancelExpiry = null;
    if (ms !== null) this.cancelExpiry = atTime(ms, () => this.close(4401, 'token expired'));
  }
}

/** Announce `message` to `connections` (but `except`), serialized once per protocol generation. */
export function announceToAll(connections: Iterable<Connection>, message: (encoder: Encoder) => Message, except?: Connection): void {
  // Encoded once per generation, and the same bytes queued on every socket: a join storm's n²
  // announcements were as many UTF-8 copies of the same few texts.
  const texts = new Map<Generation, Buffer>();
  for (const c of connections) {
    if (c === except) continue;
    let text = texts.get(c.generation);
    if (text === undefined) texts.set(c.generation, (text = Buffer.from(JSON.stringify(message(c.encoder)))));
    c.announce(text);
  }
}
