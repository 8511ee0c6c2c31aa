/**
 * Runs simulated clients against a Weft server: they edit at random, drop offline and come back
 * for a while; then all come back, the runner waits until nothing moves any more, loads the
 * server's state afresh and checks that every replica equals it and that it is valid.
 */
import * as Y from 'yjs';
import WebSocket from 'ws';
import { allKeys, diffViews, validate, type Divergence, type Problem } from './check.js';
import { ClassicClient } from './classic-client.js';
import { CLIENT_KINDS, type ClientKind, type ClientOptions, type SimClient } from './client.js';
import { DEFAULT_LIMITS, randomOp, type GeneratorLimits, type Op, type OpKind } from './ops.js';
import { Random, sleep } from './random.js';
import { RevisionsClient } from './revisions-client.js';
import { JsonSocket } from './socket.js';
import { View } from './view.js';
import { YjsClient } from './yjs-client.js';

export interface SimulationOptions {
  url: string;
  /**
   * Further servers of the same cluster: clients are spread over `url` and these in turn, and the
   * state each of them serves at the end must be the same.
   */
  moreUrls?: string[];
  project: string | number;
  mix: Record<ClientKind, number>;
  login: string;
  password?: string;
  /** Seed of the random edits and offline periods. */
  seed: number;
  /** Edits per client per second (on average). */
  rate?: number;
  /** Chance per client per second of going offline (for 0.5-3 s). */
  offlineRate?: number;
  /** Nothing received by anyone for this long counts as quiet. */
  quietMs?: number;
  /** Longest wait for quiet after the run. */
  settleTimeoutMs?: number;
  timeoutMs?: number;
  limits?: GeneratorLimits;
}

export interface Progress {
  elapsedMs: number;
  ops: number;
  messages: number;
  online: number;
  clients: number;
}

export interface ClientSummary {
  name: string;
  kind: ClientKind;
  ops: Partial<Record<OpKind, number>>;
  skipped: number;
  messages: number;
  offlinePeriods: number;
  errors: string[];
}

export interface Outcome {
  settled: boolean;
  /** Clients that never got back in step, with what they waited for. */
  unsettled: { client: string; state: string }[];
  converged: boolean;
  valid: boolean;
  divergences: Divergence[];
  problems: Problem[];
  /** Record counts of the server's state at the end. */
  counts: Record<string, number>;
  /** Server revisions made during the run, and those from 'weft-server' (repairs, corrections). */
  revisions: number;
  repairs: number;
  /** Whether the raw server document (Yjs) was checked besides the dataset. */
  documentChecked: boolean;
}

export class Simulation {
  readonly clients: SimClient[] = [];
  /** A revisions client that never edits: counts revisions and repairs, and must converge too. */
  readonly observer: RevisionsClient;
  lastActivity = Date.now();
  private firstRevision = 0;
  /** When the running `run` stops (ms since the epoch); `stopAt` moves it. */
  private endAt = 0;
  private initialIds = new Set<string>();

  private constructor(readonly options: SimulationOptions) {
    this.observer = new RevisionsClient(this.clientOptions('observer'));
    // Each y-websocket provider listens for the process exit; many clients are expected here.
    process.setMaxListeners(Math.max(process.getMaxListeners(), 64 + 2 * Object.values(options.mix).reduce((a, b) => a + (b ?? 0), 0)));
  }

  /** Clients made so far, to spread them over the servers. */
  private made = 0;

  private get urls(): string[] {
    return [this.options.url, ...(this.options.moreUrls ?? [])];
  }

  private clientOptions(name: string): ClientOptions {
    const { project, login, password, timeoutMs } = this.options;
    const url = this.urls[this.made++ % this.urls.length];
    return { name, url, project, login, password, timeoutMs, onActivity: () => (this.lastActivity = Date.now()) };
  }

  /** Connect the observer and the clients of the mix (named classic-1, revisions-1, yjs-1, ...). */
  static async start(options: SimulationOptions): Promise<Simulation> {
    const sim = new Simulation(options);
    try {
      await sim.observer.start();
      sim.firstRevision = sim.observer.lastRevision ?? 0;
      sim.initialIds = allKeys(sim.observer.view());
      for (const kind of CLIENT_KINDS) {
        for (let i = 1; i <= options.mix[kind]; i++) {
          const client = sim.makeClient(kind, `${kind}-${i}`);
          sim.clients.push(client);
        }
      }
      await Promise.all(sim.clients.map((c) => c.start()));
    } catch (e) {
      await sim.close();
      throw e;
    }
    return sim;
  }

  private makeClient(kind: ClientKind, name: string): SimClient {
    const options = this.clientOptions(name);
    if (kind === 'classic') return new ClassicClient(options);
    if (kind === 'revisions') return new RevisionsClient(options);
    return new YjsClient(options);
  }

  client(name: string): SimClient {
    const c = this.clients.find((x) => x.name === name);
    if (!c) throw new Error(`no client ${name}`);
    return c;
  }

  progress(startedAt: number): Progress {
    let ops = 0;
    let messages = this.observer.stats.messages;
    for (const c of this.clients) {
      for (const n of Object.values(c.stats.ops)) ops += n ?? 0;
      messages += c.stats.messages;
    }
    return { elapsedMs: Date.now() - startedAt, ops, messages, online: this.clients.filter((c) => c.online).length, clients: this.clients.length };
  }

  /** Random edits and offline periods for `durationMs`; `onProgress` about once a second. */
  async run(durationMs: number, onProgress?: (p: Progress) => void): Promise<void> {
    const startedAt = Date.now();
    this.endAt = startedAt + durationMs;
    const timer = onProgress ? setInterval(() => onProgress(this.progress(startedAt)), 1000) : null;
    try {
      await Promise.all(this.clients.map((c, i) => this.drive(c, new Random((this.options.seed + i * 7919) >>> 0))));
    } finally {
      if (timer) clearInterval(timer);
    }
    onProgress?.(this.progress(startedAt));
  }

  /** Make the running `run` stop at `at` (ms since the epoch) instead of when it was told. */
  stopAt(at: number): void {
    this.endAt = at;
  }

  private async drive(client: SimClient, random: Random): Promise<void> {
    const rate = this.options.rate ?? 2;
    const offlineRate = this.options.offlineRate ?? 0;
    const limits = this.options.limits ?? DEFAULT_LIMITS;
    let nextOfflineCheck = Date.now() + 1000;
    let offlineUntil = 0;
    let reconnecting: Promise<void> | null = null;
    while (Date.now() < this.endAt) {
      // Exponential gaps: edits come in bursts and lulls, as from people.
      await sleep(Math.min(Math.max(5, -Math.log(1 - random.next()) * (1000 / rate)), this.endAt - Date.now()));
      const now = Date.now();
      if (now >= this.endAt) break;
      if (offlineUntil && now >= offlineUntil && !reconnecting) {
        offlineUntil = 0;
        reconnecting = client.goOnline().catch((e) => void client.errors.push(`reconnect: ${(e as Error).message}`)).finally(() => (reconnecting = null));
      }
      for (; now >= nextOfflineCheck; nextOfflineCheck += 1000) {
        if (!offlineUntil && !reconnecting && random.chance(offlineRate)) {
          client.goOffline();
          offlineUntil = now + random.int(500, 3000);
        }
      }
      const op = randomOp(client.view(), random, client.name, limits);
      if (op) client.edit(op);
    }
    await reconnecting;
  }

  /** Make `client` do `op` (tests). */
  edit(name: string, op: Op): boolean {
    return this.client(name).edit(op);
  }

  /**
   * Everyone back online (but the clients named in `keepOffline`), then wait until all of them
   * are in step and nothing arrived for `quietMs`.
   */
  async settle(keepOffline: string[] = []): Promise<{ settled: boolean; unsettled: { client: string; state: string }[] }> {
    const quietMs = this.options.quietMs ?? 1000;
    const deadline = Date.now() + (this.options.settleTimeoutMs ?? 30_000);
    const all = [this.observer, ...this.clients].filter((c) => !keepOffline.includes(c.name));
    await Promise.all(all.map((c) => c.goOnline().catch((e) => void c.errors.push(`reconnect: ${(e as Error).message}`))));
    while (Date.now() < deadline) {
      if (all.every((c) => c.settled()) && Date.now() - this.lastActivity >= quietMs) return { settled: true, unsettled: [] };
      await sleep(50);
    }
    return { settled: false, unsettled: all.filter((c) => !c.settled()).map((c) => ({ client: c.name, state: c.describeState() })) };
  }

  /** Settle, load the server's state afresh and compare every replica with it. */
  async check(): Promise<Outcome> {
    const { settled, unsettled } = await this.settle();
    const server = await this.serverView();
    const document = await this.serverDocument();
    const problems = [...validate('server (dataset)', server.view, this.initialIds)];
    const divergences: Divergence[] = [];
    // Every other node of a cluster serves the same state.
    for (const url of this.options.moreUrls ?? []) divergences.push(...diffViews(`server at ${url} (dataset)`, (await this.serverView(url)).view, server.view));
    if (document) {
      problems.push(...validate('server (document)', document, this.initialIds));
      divergences.push(...diffViews('server (document)', document, server.view));
    }
    for (const c of [this.observer, ...this.clients]) {
      const view = c.view();
      problems.push(...validate(c.name, view, this.initialIds));
      divergences.push(...diffViews(c.name, view, server.view));
    }
    const counts: Record<string, number> = {};
    for (const store of ['tasks', 'resources', 'dependencies', 'assignments']) counts[store] = server.view.store(store).size;
    return {
      settled,
      unsettled,
      converged: settled && divergences.length === 0,
      valid: problems.length === 0,
      divergences,
      problems,
      counts,
      revisions: Math.max(0, (server.revision ?? 0) - this.firstRevision),
      repairs: this.observer.stats.repairs,
      documentChecked: document !== null,
    };
  }

  /** The server's state as a client loading it now sees it (revisions `dataset`). */
  private async serverView(url = this.options.url): Promise<{ view: View; revision: number | null }> {
    const { project, login, password, timeoutMs = 10_000 } = this.options;
    const socket = await JsonSocket.open(url, timeoutMs);
    try {
      socket.send({ command: 'login', data: { login, password: password ?? '' } });
      const reply = await socket.waitFor((m) => m.command === 'login', timeoutMs, 'login reply');
      if (reply.error) throw new Error(`login refused: ${reply.error}`);
      socket.send({ command: 'dataset', data: { project } });
      const loaded = await socket.waitFor((m) => m.command === 'dataset', timeoutMs, 'dataset');
      if (loaded.error) throw new Error(`dataset refused: ${loaded.error}`);
      const revision = loaded.data.revision;
      return { view: View.fromDataset(loaded.data.dataset), revision: typeof revision === 'string' ? Number(revision.slice(7)) : null };
    } finally {
      socket.close();
    }
  }

  /** The server's document as a Yjs peer syncing now gets it (null when y-websocket is missing). */
  private async serverDocument(): Promise<View | null> {
    let Provider: new (...args: any[]) => any;
    try {
      Provider = ((await import('y-websocket')) as any).WebsocketProvider;
    } catch {
      return null;
    }
    const { url, project, login, password, timeoutMs = 10_000 } = this.options;
    const doc = new Y.Doc();
    const provider = new Provider(`${url.replace(/\/+$/, '')}/yjs`, String(project), doc, {
      WebSocketPolyfill: WebSocket,
      params: { login, password: password ?? '' },
      disableBc: true,
    });
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no Yjs sync within ${timeoutMs} ms`)), timeoutMs);
        provider.on('sync', (synced: boolean) => synced && (clearTimeout(timer), resolve()));
      });
      return View.fromDoc(doc);
    } finally {
      provider.destroy();
      doc.destroy();
    }
  }

  async close(): Promise<void> {
    await Promise.all([this.observer, ...this.clients].map((c) => c.close().catch(() => {})));
  }

  summaries(): ClientSummary[] {
    return this.clients.map((c) => ({
      name: c.name,
      kind: c.kind,
      ops: { ...c.stats.ops },
      skipped: c.stats.skipped,
      messages: c.stats.messages,
      offlinePeriods: c.stats.offlinePeriods,
      errors: [...c.errors],
    }));
  }
}
