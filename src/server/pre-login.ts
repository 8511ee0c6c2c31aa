/**
 * Sockets that have not logged in yet, Bryntum clients and Yjs peers waiting for their token
 * alike: how many there are (in all and per address, bounded by `maxPendingSockets` and
 * `maxPendingSocketsPerAddress`), and the limits each lives under until it logs in: at most
 * `preLoginBytes` (counted on the raw socket, so fragments of a frame never finished count too,
 * else 1009) and `loginTimeoutSeconds` (else the caller's close code).
 */
import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import type { Config } from '../config/schema.js';

type Limits = Pick<Config['limits'], 'preLoginBytes' | 'loginTimeoutSeconds' | 'maxPendingSockets' | 'maxPendingSocketsPerAddress'>;

export class PreLogin {
  /** Sockets held now. */
  size = 0;
  private readonly perAddress = new Map<string, number>();
  private readonly releases = new Set<() => void>();

  constructor(private readonly limits: Limits) {}

  /** No room for another socket from `address`. */
  full(address: string): boolean {
    return this.size >= this.limits.maxPendingSockets || (this.perAddress.get(address) ?? 0) >= this.limits.maxPendingSocketsPerAddress;
  }

  /**
   * Hold `ws` under the limits until the returned function is called (it logged in, or it is
   * being closed; also run when the socket closes). `timeout` closes it when it is too late.
   */
  hold(ws: WebSocket, raw: Socket, address: string, headBytes: number, timeout: { code: number; reason: string }): () => void {
    const { preLoginBytes, loginTimeoutSeconds } = this.limits;
    this.size++;
    this.perAddress.set(address, (this.perAddress.get(address) ?? 0) + 1);
    let received = headBytes;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.releases.delete(release);
      raw.off('data', count);
      clearTimeout(deadline);
      this.size--;
      const left = (this.perAddress.get(address) ?? 1) - 1;
      if (left > 0) this.perAddress.set(address, left);
      else this.perAddress.delete(address);
    };
    const count = (chunk: Buffer) => {
      received += chunk.length;
      if (received <= preLoginBytes) return;
      release();
      shut(ws, 1009, `more than ${preLoginBytes} bytes before login`);
    };
    const deadline = setTimeout(() => {
      release();
      shut(ws, timeout.code, timeout.reason);
    }, loginTimeoutSeconds * 1000);
    deadline.unref();
    this.releases.add(release);
    raw.on('data', count);
    ws.once('close', release);
    count(Buffer.alloc(0));
    return release;
  }

  /** Let every socket go (the server is closing). */
  releaseAll(): void {
    for (const release of [...this.releases]) release();
  }
}

/** Close with a code, and drop the socket soon if the client does not complete the close (it may not be reading). */
export function shut(ws: WebSocket, code: number, reason: string): void {
  // A close reason is at most 123 bytes.
  let text = reason;
  while (Buffer.byteLength(text) > 123) text = text.slice(0, -1);
  ws.close(code, text);
  // Nothing more is read from a client being shut out.
  ws.pause();
  setTimeout(() => ws.terminate(), 200).unref();
}
