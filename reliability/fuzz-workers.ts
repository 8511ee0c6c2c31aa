/**
 * Connections that send fuzz frames to one server: Bryntum clients logged in and subscribed,
 * sockets that never log in, and Yjs peers. Each sends a batch, then a probe whose answer shows
 * the server handled the batch (so the server's queue stays bounded and a hang is noticed), and
 * reconnects when the server closes it. Every text frame received is checked against the
 * protocol's shapes.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket from 'ws';
import { sleep } from '../src/simulate/random.js';
import { nonConforming } from './fuzz-replies.js';
import { MessageMaker, type Generation, type Outgoing, type Target } from './fuzz-messages.js';
import { SYNC_PROBE, YjsMaker, isProbeAnswer } from './fuzz-yjs.js';

/** Messages left to send, shared by every worker; zero once time is up or the server is gone. */
export class Budget {
  constructor(
    private left: number,
    private readonly deadline: number,
  ) {}

  take(n: number): number {
    if (this.left <= 0 || Date.now() > this.deadline) return 0;
    const k = Math.min(n, this.left);
    this.left -= k;
    return k;
  }

  /** Whether messages are left and time is not up. */
  active(): boolean {
    return this.left > 0 && Date.now() <= this.deadline;
  }

  stop(): void {
    this.left = 0;
  }
}

export class Tally {
  readonly sent = new Map<string, number>();
  total = 0;
  nonConforming = 0;
  hangs = 0;
  reconnects = 0;
  connectFailures = 0;
  /** Times the janitor reset the projects. */
  resets = 0;
  readonly closes = new Map<string, number>();
  readonly examples: string[] = [];

  count(kind: string): void {
    this.sent.set(kind, (this.sent.get(kind) ?? 0) + 1);
    this.total++;
  }

  problem(line: string): void {
    if (this.examples.length < 10) this.examples.push(line);
  }

  closed(who: string, code: number): void {
    const key = `${who} ${code}`;
    this.closes.set(key, (this.closes.get(key) ?? 0) + 1);
  }
}

/** Ids of each project's records, as loaded by the connections (for aiming at other projects' ids). */
export class IdBook {
  private readonly byProject = new Map<string, Map<string, (number | string)[]>>();

  set(project: unknown, ids: Map<string, (number | string)[]>): void {
    this.byProject.set(JSON.stringify(project), ids);
  }

  /** Task ids of `project`. */
  own(project: unknown): (number | string)[] {
    return this.byProject.get(JSON.stringify(project))?.get('tasks') ?? [];
  }

  foreign(project: unknown): (number | string)[] {
    const out: (number | string)[] = [];
    for (const [key, ids] of this.byProject) if (key !== JSON.stringify(project)) for (const list of ids.values()) out.push(...list.slice(0, 50));
    return out;
  }
}

/**
 * Projects the janitor replaces (deletes and imports again) while the fuzz runs: how often each
 * was, so a connection on it loads it again; a failed load during a replacement is expected.
 */
export class Replacements {
  private readonly counts = new Map<string, number>();
  private underWay = 0;
  private lastDoneAt = 0;

  count(project: unknown): number {
    return this.counts.get(JSON.stringify(project)) ?? 0;
  }

  async replace(project: unknown, run: () => Promise<void>): Promise<void> {
    this.underWay++;
    try {
      await run();
    } finally {
      this.underWay--;
      this.lastDoneAt = Date.now();
      this.counts.set(JSON.stringify(project), this.count(project) + 1);
    }
  }

  /** Whether a connection's failure may come from a replacement (under way or just done). */
  excuses(): boolean {
    return this.underWay > 0 || Date.now() - this.lastDoneAt < 2000;
  }
}

const PROBE_MS = 30_000;

/** One socket: checks what arrives, waits for answers, tells when it closes. */
class Socket {
  private waiters: { match: (m: Record<string, unknown> | Buffer) => boolean; resolve: (m: Record<string, unknown> | Buffer) => void; reject: (e: Error) => void }[] = [];
  closed = false;
  closeCode = 0;
  /** What was sent since the last probe was answered, and when a frame last came: told when a probe hangs. */
  private batch: (Outgoing | string)[] = [];
  private lastFrameAt = Date.now();
  private framesSinceProbe = 0;

  constructor(
    readonly ws: WebSocket,
    private readonly generation: Generation | 'pre-login' | 'yjs',
    private readonly tally: Tally,
    private readonly who: string,
  ) {
    ws.on('message', (data: Buffer, isBinary) => this.onFrame(data, isBinary));
    ws.on('close', (code) => {
      this.closed = true;
      this.closeCode = code;
      tally.closed(who, code);
      for (const w of this.waiters.splice(0)) w.reject(new Error(`closed (${code})`));
    });
    ws.on('error', () => undefined);
  }

  static open(url: string, generation: Generation | 'pre-login' | 'yjs', tally: Tally, who: string): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { maxPayload: 256 * 1024 * 1024 });
      const timer = setTimeout(() => (ws.terminate(), reject(new Error('connect timeout'))), 10_000);
      ws.once('open', () => (clearTimeout(timer), resolve(new Socket(ws, generation, tally, who))));
      ws.once('error', (e) => (clearTimeout(timer), reject(e)));
      ws.once('unexpected-response', (_req, res) => (clearTimeout(timer), ws.terminate(), reject(new Error(`HTTP ${res.statusCode}`))));
    });
  }

  private onFrame(data: Buffer, isBinary: boolean): void {
    this.lastFrameAt = Date.now();
    this.framesSinceProbe++;
    let message: Record<string, unknown> | Buffer = data;
    if (this.generation !== 'yjs') {
      const text = data.toString('utf8');
      const why = isBinary ? 'binary frame' : nonConforming(text, this.generation);
      if (why) {
        this.tally.nonConforming++;
        this.tally.problem(`${this.who}: ${why}: ${text.slice(0, 300)}`);
      }
      // Counted above; still handed to a waiter (a failed load's error ends its wait).
      try {
        message = JSON.parse(text) as Record<string, unknown>;
      } catch {
        return;
      }
      if (!isObject(message)) return;
    } else if (!isBinary) {
      this.tally.nonConforming++;
      this.tally.problem(`${this.who}: text frame on the Yjs endpoint: ${data.toString('utf8').slice(0, 200)}`);
      return;
    }
    for (let i = 0; i < this.waiters.length; i++) {
      if (!this.waiters[i].match(message)) continue;
      this.waiters.splice(i, 1)[0].resolve(message);
      return;
    }
  }

  send(out: Outgoing | string): void {
    if (this.closed) return;
    if (this.batch.length < 200) this.batch.push(out);
    if (typeof out === 'string') return this.ws.send(out);
    this.ws.send(out.data, { binary: out.binary ?? false });
  }

  /** The next frame matching `match`, within the probe time. */
  wait<T extends Record<string, unknown> | Buffer>(match: (m: Record<string, unknown> | Buffer) => boolean, what: string): Promise<T> {
    if (this.closed) return Promise.reject(new Error(`closed (${this.closeCode})`));
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        const quiet = Date.now() - this.lastFrameAt;
        const detail = `${this.framesSinceProbe} frames came meanwhile, the last ${quiet} ms ago; sent before it:\n  ${this.batch.map(summary).join('\n  ')}`;
        if (process.env.RELIABILITY_HANG_DIR) dumpFrames(process.env.RELIABILITY_HANG_DIR, this.who, this.batch);
        reject(new Hang(`${this.who}: no ${what} within ${PROBE_MS} ms`, detail));
      }, PROBE_MS);
      this.framesSinceProbe = 0;
      const waiter = {
        match,
        resolve: (m: Record<string, unknown> | Buffer) => (clearTimeout(timer), (this.batch = []), resolve(m as T)),
        reject: (e: Error) => (clearTimeout(timer), reject(e)),
      };
      this.waiters.push(waiter);
    });
  }

  close(): void {
    this.ws.terminate();
  }
}

export class Hang extends Error {
  constructor(
    message: string,
    /** What the socket sent and received before it (printed on stderr). */
    readonly detail: string,
  ) {
    super(message);
  }
}

/** The frames sent before a hang, whole, one per line (base64 for bytes), for replaying them. */
function dumpFrames(dir: string, who: string, frames: (Outgoing | string)[]): void {
  const lines = frames.map((f) => JSON.stringify(typeof f === 'string' ? { text: f } : { kind: f.kind, binary: f.binary ?? false, data: typeof f.data === 'string' ? f.data : f.data.toString('base64') }));
  writeFileSync(join(dir, `hang-${Date.now()}-${who.replace(/[^a-z0-9]+/gi, '_')}.jsonl`), `${lines.join('\n')}\n`);
}

/** A frame in a few words: its kind, size and the start of its text. */
function summary(out: Outgoing | string): string {
  if (typeof out === 'string') return out.slice(0, 80);
  const size = typeof out.data === 'string' ? out.data.length : out.data.byteLength;
  const text = out.binary ? '' : ` ${String(out.data).slice(0, 80)}`;
  return `${out.kind} ${size}B${text}`;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v) && !Buffer.isBuffer(v);
const body = (m: Record<string, unknown>, generation: Generation) => (generation === 'classic' ? m : isObject(m.data) ? m.data : {});

/** Ids of a dataset's records by store (tasks flattened), at most 500 per store. */
function idsOf(dataset: Record<string, unknown>): Map<string, (number | string)[]> {
  const ids = new Map<string, (number | string)[]>();
  const keep = (store: string, id: unknown) => {
    if (typeof id !== 'number' && typeof id !== 'string') return;
    const list = ids.get(store) ?? [];
    if (list.length < 500) list.push(id);
    ids.set(store, list);
  };
  for (const store of ['tasks', 'resources', 'dependencies', 'assignments', 'calendars', 'versions']) {
    const rows = dataset[`${store}Data`] ?? dataset[store];
    if (!Array.isArray(rows)) continue;
    const walk = (list: unknown[]) => {
      for (const row of list) {
        if (!isObject(row)) continue;
        keep(store, row.id);
        if (Array.isArray(row.children)) walk(row.children);
      }
    };
    walk(rows);
  }
  return ids;
}

export interface Account {
  login: string;
  password: string;
}

/** Log in and load the project; the ids the dataset holds. */
export async function logInAndLoad(socket: Socket, generation: Generation, account: Account, project: unknown): Promise<{ ids: Map<string, (number | string)[]>; dataset: Record<string, unknown>; client?: string }> {
  socket.send(JSON.stringify(generation === 'classic' ? { command: 'login', ...account } : { command: 'login', data: account }));
  const isLoginReply = (m: Record<string, unknown> | Buffer) => isObject(m) && m.command === 'login' && (generation === 'classic' ? !('userName' in m) : 'error' in m || isObject(m.data));
  // A failed login the fuzz sent may be answered late (failed logins are slowed down): skip a few.
  let login = await socket.wait<Record<string, unknown>>(isLoginReply, 'login reply');
  for (let late = 0; 'error' in login && late < 3; late++) login = await socket.wait<Record<string, unknown>>(isLoginReply, 'login reply');
  if ('error' in login) throw new Error(`login refused: ${String(login.error)}`);
  socket.send(JSON.stringify(generation === 'classic' ? { command: 'dataset', project } : { command: 'dataset', data: { project } }));
  // A load that fails is answered with its own error, or with the project's (`{command: error, project}`).
  const failed = (m: Record<string, unknown>) => m.command === 'error' && typeof m.message === 'string' && (/^dataset /.test(m.message) || m.project === project);
  const reply = await socket.wait<Record<string, unknown>>((m) => isObject(m) && ((m.command === 'dataset' && ('error' in m || body(m, generation).project === project)) || failed(m)), 'dataset reply');
  if ('error' in reply || reply.command === 'error') throw new Error(`dataset refused: ${String(reply.error ?? reply.message)}`);
  const dataset = body(reply, generation).dataset as Record<string, unknown>;
  const client = generation === 'revisions' ? String((login.data as Record<string, unknown>).client) : undefined;
  return { ids: idsOf(dataset), dataset, client };
}

export { Socket };

export interface WorkerSpec {
  url: string;
  budget: Budget;
  tally: Tally;
  book: IdBook;
  batch: number;
  replaced: Replacements;
}

/** Send a batch, then `{command: projects}` and wait for its answer (any reply named `projects`). */
async function batchAndProbe(socket: Socket, spec: WorkerSpec, n: number, next: () => Outgoing, generation: Generation | 'pre-login'): Promise<boolean> {
  let resync = false;
  for (let i = 0; i < n && !socket.closed; i++) {
    const out = next();
    spec.tally.count(out.kind);
    socket.send(out);
    resync ||= out.resync === true;
  }
  socket.send(JSON.stringify(generation === 'revisions' ? { command: 'projects', data: {} } : { command: 'projects' }));
  await socket.wait((m) => isObject(m) && m.command === 'projects', 'answer to a probe');
  return resync;
}

/** Failures of a connection: a hang is counted, a close means reconnect. */
async function guarded(spec: WorkerSpec, who: string, run: () => Promise<void>): Promise<void> {
  try {
    await run();
  } catch (e) {
    if (e instanceof Hang) {
      spec.tally.hangs++;
      spec.tally.problem(e.message);
      process.stderr.write(`[fuzz] ${e.message}: ${e.detail}\n`);
    } else if (!/^closed|connect timeout|ECONNREFUSED|ECONNRESET|HTTP /.test((e as Error).message) && !spec.replaced.excuses()) {
      spec.tally.problem(`${who}: ${(e as Error).message}`);
    }
    if (/ECONNREFUSED|HTTP |connect timeout/.test((e as Error).message)) {
      spec.tally.connectFailures++;
      await sleep(200);
    }
  }
}

/** A logged-in Bryntum client of one generation on one project, sending structure-aware fuzz. */
export async function bryntumWorker(spec: WorkerSpec, maker: MessageMaker, generation: Generation, project: number | string, account: Account, projects: unknown[]): Promise<void> {
  const who = `${generation} ${account.login}@${JSON.stringify(project)}`;
  for (let first = true; spec.budget.active(); first = false) {
    if (!first) spec.tally.reconnects++;
    let socket: Socket | undefined;
    await guarded(spec, who, async () => {
      socket = await Socket.open(spec.url, generation, spec.tally, who);
      let loadedAfter = spec.replaced.count(project);
      let { ids } = await logInAndLoad(socket, generation, account, project);
      spec.book.set(project, ids);
      const target = (): Target => ({ project, generation, ids, foreign: spec.book.foreign(project), projects });
      let t = target();
      for (let n = spec.budget.take(spec.batch); n > 0; n = spec.budget.take(spec.batch)) {
        const resync = await batchAndProbe(socket, spec, n, () => maker.next(t), generation);
        if (resync || spec.replaced.count(project) !== loadedAfter) {
          loadedAfter = spec.replaced.count(project);
          ({ ids } = await logInAndLoad(socket, generation, account, project));
          spec.book.set(project, ids);
          t = target();
        }
      }
    });
    socket?.close();
  }
}

/** Sockets that do not log in: random JSON, bad logins, bytes, text that is not UTF-8. */
export async function preLoginWorker(spec: WorkerSpec, maker: MessageMaker): Promise<void> {
  const who = 'not logged in';
  while (spec.budget.active()) {
    let socket: Socket | undefined;
    await guarded(spec, who, async () => {
      socket = await Socket.open(spec.url, 'pre-login', spec.tally, who);
      for (let n = spec.budget.take(spec.batch); n > 0; n = spec.budget.take(spec.batch)) {
        await batchAndProbe(socket, spec, n, () => maker.preLogin(), 'pre-login');
      }
    });
    socket?.close();
    spec.tally.reconnects++;
  }
}

/** A Yjs peer sending garbage and junk updates; a sync step 1 is its probe. */
export async function yjsWorker(spec: WorkerSpec, maker: YjsMaker, project: number | string, account: Account): Promise<void> {
  const who = `yjs@${JSON.stringify(project)}`;
  const url = `${spec.url}/yjs/${encodeURIComponent(String(project))}?login=${account.login}&password=${account.password}`;
  while (spec.budget.active()) {
    let socket: Socket | undefined;
    await guarded(spec, who, async () => {
      socket = await Socket.open(url, 'yjs', spec.tally, who);
      const s = socket;
      for (let n = spec.budget.take(spec.batch); n > 0; n = spec.budget.take(spec.batch)) {
        for (let i = 0; i < n && !s.closed; i++) {
          const out = maker.next(spec.book.own(project));
          spec.tally.count(out.kind);
          s.send(out);
        }
        s.send({ kind: 'probe', data: SYNC_PROBE, binary: true });
        await s.wait((m) => Buffer.isBuffer(m) && isProbeAnswer(m), 'sync step 2');
      }
    });
    socket?.close();
    spec.tally.reconnects++;
  }
}
