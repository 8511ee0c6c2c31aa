/**
 * A test client: a real WebSocket to 127.0.0.1 that queues every message it receives, so tests
 * read them in order and can assert that nothing arrived within a time.
 */
import WebSocket from 'ws';

export type Msg = Record<string, any>;

export class TestClient {
  private readonly inbox: Msg[] = [];
  private waiters: ((m: Msg) => void)[] = [];
  closed = false;
  closeCode: number | null = null;
  closeReason = '';

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const msg = JSON.parse(data.toString());
      const waiter = this.waiters.shift();
      if (waiter) waiter(msg);
      else this.inbox.push(msg);
    });
    ws.on('close', (code, reason) => {
      this.closed = true;
      this.closeCode = code;
      this.closeReason = reason.toString();
    });
  }

  static connect(port: number, path = '/'): Promise<TestClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`);
      const client = new TestClient(ws);
      ws.once('open', () => resolve(client));
      ws.once('error', reject);
    });
  }

  send(msg: Msg | string): void {
    this.ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg));
  }

  /** The next message, failing after `ms`. */
  next(ms = 2000): Promise<Msg> {
    const queued = this.inbox.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`no message within ${ms} ms`));
      }, ms);
      const waiter = (m: Msg) => {
        clearTimeout(timer);
        resolve(m);
      };
      this.waiters.push(waiter);
    });
  }

  /** Skip messages until one with this command arrives. */
  async nextOf(command: string, ms = 2000): Promise<Msg> {
    const deadline = Date.now() + ms;
    for (;;) {
      const m = await this.next(Math.max(1, deadline - Date.now()));
      if (m.command === command) return m;
    }
  }

  /** Every message that arrives within `ms` (and the ones already queued). */
  async drain(ms = 200): Promise<Msg[]> {
    await new Promise((r) => setTimeout(r, ms));
    return this.inbox.splice(0);
  }

  /** Asserts no message arrives within `ms`. */
  async expectSilence(ms = 500): Promise<void> {
    const got = await this.drain(ms);
    if (got.length) throw new Error(`expected no message, got ${JSON.stringify(got[0]).slice(0, 300)}`);
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      this.ws.once('close', () => resolve());
      this.ws.close();
    });
  }
}

/** Log in with the classic protocol and swallow the login reply and users list. */
export async function classicLogin(port: number, login = 'admin', password: string | undefined = login === 'admin' || login === 'alex' || login === 'ben' ? login : undefined): Promise<TestClient> {
  const c = await TestClient.connect(port);
  c.send({ command: 'login', login, password });
  const reply = await c.next();
  if (reply.error) throw new Error(`login failed: ${reply.error}`);
  await c.nextOf('users');
  return c;
}

/** Log in with the revisions protocol; returns the client and its connection id. */
export async function revisionsLogin(port: number, login = 'admin', password: string | undefined = login === 'admin' || login === 'alex' || login === 'ben' ? login : ''): Promise<TestClient & { clientId: string }> {
  const c = (await TestClient.connect(port)) as TestClient & { clientId: string };
  c.send({ command: 'login', data: { login, password } });
  const reply = await c.next();
  if (reply.error) throw new Error(`login failed: ${reply.error}`);
  c.clientId = reply.data.client;
  await c.nextOf('users');
  return c;
}
