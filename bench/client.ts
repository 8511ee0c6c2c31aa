/**
 * A classic-protocol test client. Incoming `projectChange` frames go straight to `onChange` with
 * their arrival time (no queueing); large frames (datasets) are not parsed on arrival, so a big
 * download in this process disturbs the latency measurements of other clients as little as possible.
 */
import type { Socket } from 'node:net';
import WebSocket from 'ws';

type Row = Record<string, unknown>;

export interface Incoming {
  command: string;
  /** performance.now() when the frame was delivered. */
  at: number;
  bytes: number;
  raw: Buffer;
  /** Parsed frame (parsed on first call). */
  json(): Row;
}

interface Waiter {
  match: (m: Incoming) => boolean;
  resolve: (m: Incoming) => void;
}

const PARSE_LIMIT = 64 * 1024;

export class BenchClient {
  /** Called for every `projectChange` frame, with its arrival time. */
  onChange: ((raw: Buffer, at: number) => void) | null = null;
  private waiters: Waiter[] = [];

  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data: Buffer, isBinary: boolean) => this.receive(data, isBinary));
  }

  static connect(url: string, timeoutMs: number): Promise<BenchClient> {
    const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 1024 * 1024 * 1024 });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => (ws.terminate(), reject(new Error(`connect to ${url}: timeout after ${timeoutMs} ms`))), timeoutMs);
      ws.once('open', () => (clearTimeout(timer), resolve(new BenchClient(ws))));
      ws.once('error', (e) => (clearTimeout(timer), reject(new Error(`connect to ${url}: ${e.message}`))));
    });
  }

  private receive(data: Buffer, isBinary: boolean): void {
    const at = performance.now();
    if (isBinary) return;
    const head = data.toString('latin1', 0, Math.min(data.length, 256));
    if (this.onChange && head.includes('"command":"projectChange"')) return this.onChange(data, at);
    let parsed: Row | undefined;
    const json = () => (parsed ??= JSON.parse(data.toString('utf8')) as Row);
    const command = data.length <= PARSE_LIMIT ? String(json().command) : (/"command":"(\w+)"/.exec(head)?.[1] ?? '?');
    const message: Incoming = { command, at, bytes: data.length, raw: data, json };
    const index = this.waiters.findIndex((w) => w.match(message));
    if (index >= 0) this.waiters.splice(index, 1)[0].resolve(message);
  }

  send(message: Row | string): void {
    this.ws.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  waitFor(match: (m: Incoming) => boolean, timeoutMs: number, what: string): Promise<Incoming> {
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { match, resolve: (m) => (clearTimeout(timer), resolve(m)) };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`${what}: no reply within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  async login(login: string, password: string, timeoutMs: number): Promise<void> {
    // Other clients' logins arrive as `login` frames carrying a userName; ours has none.
    const reply = this.waitFor((m) => m.command === 'login' && m.json().userName === undefined, timeoutMs, `login ${login}`);
    this.send({ command: 'login', login, password });
    const message = await reply;
    if (message.json().error) throw new Error(`login ${login}: ${message.json().error}`);
  }

  /**
   * Request a dataset; `ms` runs from the request to the complete reply, `firstByteMs` to the
   * socket read that brought the reply's first bytes.
   */
  async loadDataset(project: number, timeoutMs: number): Promise<{ ms: number; firstByteMs: number; bytes: number; raw: Buffer }> {
    const socket = (this.ws as unknown as { _socket: Socket })._socket;
    const reads: { at: number; end: number }[] = [];
    let total = 0;
    const onData = (chunk: Buffer) => {
      total += chunk.length;
      reads.push({ at: performance.now(), end: total });
    };
    socket.on('data', onData);
    try {
      const reply = this.waitFor((m) => m.command === 'dataset', timeoutMs, `dataset ${project}`);
      const t0 = performance.now();
      this.send({ command: 'dataset', project });
      const message = await reply;
      if (message.bytes <= PARSE_LIMIT && message.json().error) throw new Error(`dataset ${project}: ${message.json().error}`);
      // The reply's payload ends at most where the bytes read so far do; the read holding the byte
      // that far back from the end held the reply's first bytes, or came a little after them
      // (frame headers are not counted), never before.
      const start = total - message.bytes;
      const first = reads.find((r) => r.end > start) ?? reads[reads.length - 1];
      return { ms: message.at - t0, firstByteMs: (first?.at ?? message.at) - t0, bytes: message.bytes, raw: message.raw };
    } finally {
      socket.off('data', onData);
    }
  }

  close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => (this.ws.terminate(), resolve()), 2000);
      this.ws.once('close', () => (clearTimeout(timer), resolve()));
      this.ws.close();
    });
  }
}

/** Connect and log in `count` clients (sequentially, so login broadcasts stay ordered). */
export async function connectClients(url: string, count: number, timeoutMs: number): Promise<BenchClient[]> {
  const clients: BenchClient[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const client = await BenchClient.connect(url, timeoutMs);
      clients.push(client);
      await client.login('bench', 'bench', timeoutMs);
    }
  } catch (e) {
    await closeAll(clients);
    throw e;
  }
  return clients;
}

export async function closeAll(clients: BenchClient[]): Promise<void> {
  await Promise.all(clients.map((c) => c.close()));
}

/** Record counts of a dataset reply (checks that both servers serve the whole project). */
export function datasetCounts(raw: Buffer): Record<string, number> {
  const message = JSON.parse(raw.toString('utf8')) as { dataset: Record<string, unknown[]> };
  const countTree = (rows: unknown[]): number =>
    rows.reduce<number>((n, r) => n + 1 + countTree(((r as { children?: unknown[] }).children ?? []) as unknown[]), 0);
  const d = message.dataset;
  return {
    tasks: countTree(d.tasksData ?? []),
    dependencies: (d.dependenciesData ?? []).length,
    resources: (d.resourcesData ?? []).length,
    assignments: (d.assignmentsData ?? []).length,
  };
}
