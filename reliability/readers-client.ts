/**
 * A classic client that stops reading: it logs in and loads a project like any other, then pauses
 * its TCP socket, so the kernel buffers fill and the server's send buffer for it grows. Resumed,
 * it reads what piled up and learns how the server closed it.
 */
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import WebSocket from 'ws';

export class StalledReader {
  /** The close code, once the socket is closed (1006 when closed without a close frame). */
  closeCode: number | null = null;
  private readonly closed: Promise<number>;

  private constructor(private readonly ws: WebSocket) {
    this.closed = new Promise((resolve) => ws.once('close', (code) => resolve((this.closeCode = code))));
    ws.on('error', () => undefined);
  }

  static async open(url: string, project: number, timeoutMs: number): Promise<StalledReader> {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    const reader = new StalledReader(ws);
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`connect to ${url}: timeout`)), timeoutMs);
        ws.once('open', () => (clearTimeout(timer), resolve()));
        ws.once('error', (e) => (clearTimeout(timer), reject(e)));
      });
      await reader.ask({ command: 'login', login: 'stalled', password: '' }, (m) => m.command === 'login' && !('userName' in m), timeoutMs);
      const loaded = await reader.ask({ command: 'dataset', project }, (m) => m.command === 'dataset', timeoutMs);
      if (loaded.error) throw new Error(`dataset refused: ${loaded.error}`);
    } catch (e) {
      ws.terminate();
      throw e;
    }
    return reader;
  }

  private ask(message: object, match: (m: Record<string, unknown>) => boolean, timeoutMs: number): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => (this.ws.off('message', on), reject(new Error(`no reply to ${JSON.stringify(message).slice(0, 60)} within ${timeoutMs} ms`))), timeoutMs);
      const on = (data: Buffer) => {
        const m = JSON.parse(data.toString('utf8')) as Record<string, unknown>;
        if (!match(m)) return;
        clearTimeout(timer);
        this.ws.off('message', on);
        resolve(m);
      };
      this.ws.on('message', on);
      this.ws.send(JSON.stringify(message));
    });
  }

  private get tcp(): Socket {
    return (this.ws as unknown as { _socket: Socket })._socket;
  }

  /** Stop reading: nothing is taken from the kernel until resume(). */
  pause(): void {
    this.tcp.pause();
  }

  /** Read again; resolves with the close code once closed, null if still open after `timeoutMs`. */
  async resume(timeoutMs: number): Promise<number | null> {
    this.tcp.resume();
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), timeoutMs)));
    const code = await Promise.race([this.closed, late]);
    clearTimeout(timer);
    return code;
  }

  /**
   * Bytes of this connection held by the kernel (Linux, loopback): what the server's socket has
   * not sent plus what this socket has received and not handed to us.
   */
  kernelHeld(): number {
    const mine = this.tcp.localPort!;
    const theirs = this.tcp.remotePort!;
    let held = 0;
    for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 5) continue;
      const local = parseInt(f[1].split(':')[1], 16);
      const remote = parseInt(f[2].split(':')[1], 16);
      const [tx, rx] = f[4].split(':').map((h) => parseInt(h, 16));
      if (local === mine && remote === theirs) held += rx;
      else if (local === theirs && remote === mine) held += tx;
    }
    return held;
  }

  terminate(): void {
    this.ws.terminate();
  }
}
