/**
 * What the classic and revisions client models share: a socket that goes offline and comes back.
 * A new attempt number per connect or disconnect lets late events of an old socket be ignored.
 */
import { emptyStats, type ClientOptions, type ClientStats } from './client.js';
import { JsonSocket, type Msg } from './socket.js';

export type SocketState = 'offline' | 'connecting' | 'online';

export abstract class SocketClient {
  readonly stats: ClientStats = emptyStats();
  readonly errors: string[] = [];
  protected state: SocketState = 'offline';
  protected socket: JsonSocket | null = null;
  protected attempt = 0;
  protected wantOnline = false;
  private connecting: Promise<void> | null = null;

  constructor(protected readonly options: ClientOptions) {}

  get name(): string {
    return this.options.name;
  }

  get online(): boolean {
    return this.state === 'online';
  }

  goOffline(): void {
    this.wantOnline = false;
    this.attempt++;
    if (this.state !== 'offline') this.stats.offlinePeriods++;
    this.state = 'offline';
    this.socket?.close();
    this.socket = null;
    this.connecting = null;
  }

  goOnline(): Promise<void> {
    this.wantOnline = true;
    if (this.state === 'online') return Promise.resolve();
    this.connecting ??= this.connect().finally(() => (this.connecting = null));
    return this.connecting;
  }

  private async connect(): Promise<void> {
    const attempt = ++this.attempt;
    try {
      await this.connectAs(attempt);
    } catch (e) {
      // Gone offline again meanwhile: that socket was closed on purpose.
      if (attempt === this.attempt) throw e;
    }
  }

  async close(): Promise<void> {
    this.wantOnline = false;
    this.attempt++;
    this.socket?.close();
    this.socket = null;
    this.state = 'offline';
  }

  /** Open a socket, log in and catch up; `attempt` tells whether this connect is still wanted. */
  protected abstract connectAs(attempt: number): Promise<void>;

  /** A message of the current socket (counted already). */
  protected abstract receive(msg: Msg): void;

  /** Open the socket of `attempt` and listen to it; null when that attempt is no longer wanted. */
  protected async open(attempt: number): Promise<JsonSocket | null> {
    this.state = 'connecting';
    const { url, timeoutMs = 10_000 } = this.options;
    const socket = await JsonSocket.open(url, timeoutMs);
    if (attempt !== this.attempt) {
      socket.close();
      return null;
    }
    this.socket = socket;
    socket.onMessage = (m) => {
      if (attempt !== this.attempt) return;
      this.stats.messages++;
      this.options.onActivity?.();
      this.receive(m);
    };
    socket.onClose = () => this.closed(attempt);
    return socket;
  }

  /** Closed by the server (or the network): come back like a user's browser would. */
  private closed(attempt: number): void {
    if (attempt !== this.attempt) return;
    this.socket = null;
    this.state = 'offline';
    this.stats.offlinePeriods++;
    if (this.wantOnline) setTimeout(() => void this.goOnline().catch((e) => this.errors.push(String(e))), 200);
  }
}
