/**
 * Real Bryntum `ProjectModel`s (from a Gantt UMD bundle, run in jsdom) speaking either protocol
 * generation the way Bryntum's client code does (PROTOCOL.md §12):
 * - classic, like the library's WebSocket mixin: `loadInlineData` on `dataset`,
 *   `applyProjectChanges` on `projectChange`, and what changed locally sent as one
 *   `projectChange` after a short auto-sync delay, after `acceptChanges()`;
 * - revisions, like the realtime demos: the engine's revisions on (`stm.revisionsEnabled`),
 *   `initRevisions(client, 'base')` after each dataset, `applyRevisions` on `project_change`, and
 *   each `revisionNotification` sent as one `project_change`.
 *
 * The bundle is not part of Weft: BRYNTUM_BUNDLE names `gantt.umd.js` of your own `@bryntum/gantt`;
 * without it `npm run test:bryntum` fetches the public trial package into `.bryntum/`
 * (install-bundle.mjs) and uses that.
 */
import { appendFileSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

type Rec = Record<string, any>;

/** The few jsdom parts used here (jsdom ships no types of its own). */
interface Dom {
  window: Rec & { eval(code: string): unknown; JSON: JSON };
}

let bundle: string | null = null;

/** The name stack frames inside the Bryntum library carry. */
export const BUNDLE_NAME = 'bryntum-gantt.umd.js';

function bundleText(): string {
  // Named, so that stack frames inside the library say so (vitest.bryntum.config.ts).
  return (bundle ??= `${readFileSync(bundlePath(), 'utf8')}\n//# sourceURL=${BUNDLE_NAME}`);
}

function bundlePath(): string {
  return process.env.BRYNTUM_BUNDLE || fileURLToPath(new URL('../../.bryntum/package/gantt.umd.js', import.meta.url));
}

/** With BRYNTUM_TRACE=<file>, every frame any client sends or receives is appended there. */
function trace(name: string, direction: string, text: string): void {
  const file = process.env.BRYNTUM_TRACE;
  if (file) appendFileSync(file, `${Date.now()} ${name} ${direction} ${text}\n`);
}

/** Wait until no client of `group` has work and no message moved for `calmMs` (bounded). */
export async function quiet(group: BryntumClient[], calmMs = 400, limitMs = 30_000): Promise<void> {
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const end = Date.now() + limitMs;
  while (Date.now() < end) {
    while (group.some((c) => c.busy) && Date.now() < end) await sleep(25);
    const before = group.reduce((n, c) => n + c.activity, 0);
    await sleep(calmMs);
    if (!group.some((c) => c.busy) && group.reduce((n, c) => n + c.activity, 0) === before) return;
  }
  throw new Error(`clients still busy after ${limitMs} ms`);
}

/** A fresh browser-like window with the Bryntum bundle loaded (one per client, as in browsers). */
export async function bryntumWindow(): Promise<Dom['window']> {
  const jsdom = 'jsdom';
  const { JSDOM } = (await import(jsdom)) as { JSDOM: new (html: string, options: Rec) => Dom };
  const { window } = new JSDOM('<!DOCTYPE html><html><head></head><body></body></html>', { url: 'http://localhost/', pretendToBeVisual: true, runScripts: 'outside-only' });
  window.matchMedia ??= () => ({ matches: false, addListener() {}, removeListener() {}, addEventListener() {}, removeEventListener() {} });
  window.ResizeObserver ??= class {
    observe() {}
    unobserve() {}
    disconnect() {}
  };
  window.console.warn = () => undefined;
  window.eval(bundleText());
  if (!window.bryntum?.gantt?.ProjectModel) throw new Error(`${bundlePath()} defines no bryntum.gantt.ProjectModel`);
  return window;
}

/** What both generations share: the socket, the message queue, the engine's work queue, views. */
export abstract class BryntumClient {
  project: Rec | null = null;
  projectId: number | null = null;
  readonly errors: string[] = [];
  /** Scheduling-conflict dialogs the engine raised (answered with Cancel, as a user may). */
  conflicts = 0;
  /** Messages sent and received so far: a group is quiet when this stops moving. */
  activity = 0;
  /** The login name, in traces. */
  name = '';
  protected socket: WebSocket | null = null;
  private readonly inbox: Rec[] = [];
  private readonly waiters: { match: (m: Rec) => boolean; resolve: (m: Rec) => void }[] = [];
  private work: Promise<void> = Promise.resolve();
  private pending = 0;

  constructor(
    readonly window: Dom['window'],
    public url: string,
  ) {}

  async connect(login: string): Promise<void> {
    this.name = login;
    this.socket = new WebSocket(this.url);
    this.socket.on('message', (data) => this.onMessage(String(data)));
    await new Promise((resolve, reject) => {
      this.socket!.once('open', resolve);
      this.socket!.once('error', reject);
    });
    await this.login(login);
  }

  async load(projectId: number): Promise<void> {
    this.projectId = projectId;
    if (!this.project) {
      this.project = this.createProject();
      for (const event of ['cycle', 'schedulingConflict']) {
        this.project!.on(event, (e: Rec) => {
          this.conflicts++;
          e.continueWithResolutionResult?.('Cancel');
        });
      }
    }
    await this.loadDataset(projectId);
  }

  /** A user action on the project, run between the changes the client applies. */
  edit(action: (project: Rec) => void): Promise<void> {
    return this.enqueue('edit', async () => {
      action(this.project!);
      await this.afterEdit();
    });
  }

  /** True while a change is being applied or waits to be sent. */
  get busy(): boolean {
    return this.pending > 0;
  }

  close(): void {
    this.socket?.close();
    this.socket = null;
  }

  /** Tasks as `id|name|parentId|duration`, sorted (sibling order is left out on purpose: see README). */
  tasks(): string[] {
    const out: string[] = [];
    this.project!.taskStore.rootNode.traverse((task: Rec) => {
      if (!task.isRoot) out.push(`${task.id}|${task.name}|${task.parent?.isRoot ? null : task.parent?.id}|${task.duration}`);
    });
    return out.sort();
  }

  /** The schedule the engine computed: `id start..end percentDone`, by id. */
  schedule(): string[] {
    const day = (d: unknown) => (d instanceof this.window.Date ? (d as Date).toISOString().slice(0, 10) : String(d));
    const out: string[] = [];
    this.project!.taskStore.rootNode.traverse((task: Rec) => {
      if (!task.isRoot) out.push(`${task.id} ${day(task.startDate)}..${day(task.endDate)} ${Math.round(task.percentDone ?? 0)}%`);
    });
    return out.sort();
  }

  /** Dependencies as `from->to`, with ` (off)` for one switched off (`active: false`), sorted. */
  links(): string[] {
    return this.project!.dependencyStore.allRecords.map((d: Rec) => `${d.fromEvent?.id}->${d.toEvent?.id}${d.active === false ? ' (off)' : ''}`).sort();
  }

  protected abstract login(login: string): Promise<void>;
  protected abstract createProject(): Rec;
  protected abstract loadDataset(projectId: number): Promise<void>;
  /** A `projectChange` / `project_change` of the loaded project, to apply; false for others. */
  protected abstract remoteChange(message: Rec): (() => Promise<void>) | null;
  protected abstract afterEdit(): Promise<void>;

  /** Run after what is queued; engine errors are kept, as a browser would show them. Resolves when done. */
  protected enqueue(label: string, task: () => Promise<void>): Promise<void> {
    this.pending++;
    this.work = this.work
      .then(task)
      .catch((e) => void this.errors.push(`${label}: ${(e as Error).message}`))
      .finally(() => void this.pending--);
    return this.work;
  }

  protected send(message: Rec): void {
    this.activity++;
    const text = JSON.stringify(message);
    trace(this.name, '>>', text);
    this.socket!.send(text);
  }

  protected next(match: (m: Rec) => boolean, ms = 10_000): Promise<Rec> {
    const i = this.inbox.findIndex(match);
    if (i >= 0) return Promise.resolve(this.inbox.splice(i, 1)[0]);
    return new Promise((resolve, reject) => {
      const timeout = setTimeout(() => reject(new Error(`no matching message within ${ms} ms`)), ms);
      this.waiters.push({ match, resolve: (m) => (clearTimeout(timeout), resolve(m)) });
    });
  }

  private onMessage(text: string): void {
    trace(this.name, '<<', text);
    // Parsed in the window, so the engine gets objects of its own realm.
    const message = this.window.JSON.parse(text) as Rec;
    this.activity++;
    const k = this.waiters.findIndex((w) => w.match(message));
    if (k >= 0) return void this.waiters.splice(k, 1)[0].resolve(message);
    const apply = this.project ? this.remoteChange(message) : null;
    if (apply) return void this.enqueue('apply', apply);
    this.inbox.push(message);
  }
}

export class ClassicClient extends BryntumClient {
  private timer: NodeJS.Timeout | null = null;

  constructor(window: Dom['window'], url: string, private readonly autoSyncMs = 100) {
    super(window, url);
  }

  override get busy(): boolean {
    return this.timer !== null || super.busy;
  }

  protected async login(login: string): Promise<void> {
    this.send({ command: 'login', login, password: login });
    const reply = await this.next((m) => m.command === 'login' && !m.userName);
    if (reply.error) throw new Error(reply.error);
  }

  protected createProject(): Rec {
    return new this.window.bryntum.gantt.ProjectModel({});
  }

  protected async loadDataset(projectId: number): Promise<void> {
    this.send({ command: 'dataset', project: projectId });
    const reply = await this.next((m) => m.command === 'dataset' && m.project === projectId, 30_000);
    if (reply.error) throw new Error(reply.error);
    await this.applyDataset(reply.dataset);
  }

  private async applyDataset(dataset: Rec): Promise<void> {
    await this.project!.loadInlineData(dataset);
    await this.project!.commitAsync();
    this.project!.acceptChanges();
  }

  protected remoteChange(message: Rec): (() => Promise<void>) | null {
    // A dataset the server pushes (a reset, or to bring the client back in step) replaces what it shows.
    if (message.command === 'dataset' && message.project === this.projectId && message.dataset) return () => this.applyDataset(message.dataset);
    if (message.command !== 'projectChange' || message.project !== this.projectId) return null;
    return async () => {
      await this.project!.applyProjectChanges(message.changes);
      await this.project!.commitAsync();
      // What the engine computed from them locally goes out like any local change.
      this.syncSoon();
    };
  }

  protected async afterEdit(): Promise<void> {
    // The engine schedules what the edit changed before the page handles its next message.
    await this.project!.commitAsync();
    // autoSyncMs 0: the edit goes out at once, before any message that arrives meanwhile is applied.
    if (this.autoSyncMs === 0) return this.sync();
    this.syncSoon();
  }

  private syncSoon(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.enqueue('sync', () => this.sync());
    }, this.autoSyncMs);
  }

  private async sync(): Promise<void> {
    await this.project!.commitAsync();
    const changes = this.project!.changes;
    if (!changes) return;
    this.project!.acceptChanges();
    this.send({ command: 'projectChange', project: this.projectId, changes });
  }
}

export class RevisionsClient extends BryntumClient {
  private clientId = '';

  protected async login(login: string): Promise<void> {
    this.send({ command: 'login', data: { login, password: login } });
    const reply = await this.next((m) => m.command === 'login');
    if (reply.error) throw new Error(reply.error);
    this.clientId = reply.data.client;
  }

  protected createProject(): Rec {
    const project = new this.window.bryntum.gantt.ProjectModel({ stm: { revisionsEnabled: true, autoRecord: true } });
    project.on('revisionNotification', ({ localRevisionId, changes, conflictResolutionFor }: Rec) => {
      const revision = { revision: localRevisionId, clientId: this.clientId, changes, ...(conflictResolutionFor ? { conflictResolutionFor } : {}) };
      this.send({ command: 'project_change', data: { project: this.projectId, client: this.clientId, revisions: [revision] } });
    });
    return project;
  }

  protected async loadDataset(projectId: number): Promise<void> {
    this.send({ command: 'dataset', data: { project: projectId } });
    const reply = await this.next((m) => m.command === 'dataset' && m.data?.project === projectId, 30_000);
    if (reply.error) throw new Error(reply.error);
    await this.applyDataset(reply.data.dataset);
  }

  private async applyDataset(dataset: Rec): Promise<void> {
    const { stm } = this.project!;
    stm.disable();
    await this.project!.loadInlineData(dataset);
    await this.project!.commitAsync();
    stm.enable();
    await this.project!.initRevisions(this.clientId, 'base');
  }

  protected remoteChange(message: Rec): (() => Promise<void>) | null {
    if (message.command === 'dataset' && message.data?.project === this.projectId && message.data.dataset) return () => this.applyDataset(message.data.dataset);
    if (message.command !== 'project_change' || message.data?.project !== this.projectId) return null;
    const revisions = (message.data.revisions as Rec[]).map((r) => ({
      revisionId: r.revision,
      localRevisionId: r.localRevision,
      clientId: r.client,
      conflictResolutionFor: r.conflictResolutionFor,
      changes: r.changes,
    }));
    return () => this.project!.applyRevisions(revisions);
  }

  protected async afterEdit(): Promise<void> {
    // The engine turns the committed change into a revision and tells `revisionNotification`.
    await this.project!.commitAsync();
  }
}
