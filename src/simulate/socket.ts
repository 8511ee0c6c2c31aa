/** A WebSocket carrying one JSON object per text frame, with a way to wait for a reply. */
import WebSocket from 'ws';

export type Msg = Record<string, any>;

interface Waiter {
  match: (m: Msg) => boolean;
  resolve: (m: Msg) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

export class JsonSocket {
  onMessage: (msg: Msg) => void = () => {};
  onClose: () => void = () => {};
  private waiters: Waiter[] = [];
  private closed = false;

  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      let msg: Msg;
      try {
        msg = JSON.parse(data.toString());
      } catch {
        return;
      }
      this.onMessage(msg);
      const i = this.waiters.findIndex((w) => w.match(msg));
      if (i !== -1) {
        const [w] = this.waiters.splice(i, 1);
        clearTimeout(w.timer);
        w.resolve(msg);
      }
    });
    ws.on('close', () => {
      this.closed = true;
      for (const w of this.waiters.splice(0)) {
        clearTimeout(w.timer);
        w.reject(new Error('connection closed'));
      }
      this.onClose();
    });
    ws.on('error', () => {});
  }

  static open(url: string, timeoutMs = 10_000): Promise<JsonSocket> {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => (ws.terminate(), reject(new Error(`connect to ${url}: timeout after ${timeoutMs} ms`))), timeoutMs);
      ws.once('open', () => (clearTimeout(timer), resolve(new JsonSocket(ws))));
      ws.once('error', (e) => (clearTimeout(timer), reject(new Error(`connect to ${url}: ${e.message}`))));
    });
  }

  get isOpen(): boolean {
    return !this.closed && this.ws.readyState === WebSocket.OPEN;
  }

  send(msg: Msg): void {
    if (this.isOpen) this.ws.send(JSON.stringify(msg));
  }

  /** The first message from now on that `match`es (checked after `onMessage` saw it). */
  waitFor(match: (m: Msg) => boolean, timeoutMs = 10_000, what = 'reply'): Promise<Msg> {
    if (this.closed) return Promise.reject(new Error('connection closed'));
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        match,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters = this.waiters.filter((w) => w !== waiter);
          reject(new Error(`no ${what} within ${timeoutMs} ms`));
        }, timeoutMs),
      };
      this.waiters.push(waiter);
    });
  }

  close(): void {
    if (this.ws.readyState === WebSocket.CONNECTING || this.ws.readyState === WebSocket.OPEN) this.ws.close();
  }
}
