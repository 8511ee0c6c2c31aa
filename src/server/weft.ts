/**
 * The Weft server: an HTTP server carrying the WebSocket endpoint, the loaded projects and the
 * connections. Each connection's frames are handled one after another, in arrival order.
 */
import { hostname } from 'node:os';
import { ClusterNode } from '../cluster/cluster-node.js';
import type { ClusterPresence } from '../cluster/cluster-presence.js';
import { sharedVersionSource } from '../cluster/shared-versions.js';
import { stderrLog, withNode, type Log } from './log.js';
import { MessageRate } from './message-rate.js';
import { tooManyRefusals } from './refusals.js';
import { TokenVerifier } from './tokens.js';
import { isHashed, sameSecret } from './passwords.js';
import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Config } from '../config/schema.js';
import { packageVersion } from '../config/version.js';
import { decodeFrame, errorMessage } from '../protocol/codec.js';
import { Storage } from '../persistence/storage.js';
import { warmUpMerger } from '../persistence/merger.js';
import { AccessPolicy, type User } from './access.js';
import { AutoSaveGrants } from './autosave.js';
import { announceUsers, dispatch, openProject, type ServerContext } from './commands.js';
import { Connection, announceToAll, type SentCount } from './connection.js';
import { ProjectRegistry } from './projects.js';
import { ProjectClosed } from './project-closed.js';
import { ProjectCatalog } from '../projects/catalog.js';
import { resolveProjectId } from '../history/project-id.js';
import { ProjectsService, type ProjectsApi } from '../projects/service.js';
import { SerialQueue } from './serial-queue.js';
import { Inbound } from './inbound.js';
import { YjsDoor } from './yjs-door.js';
import { PreLogin } from './pre-login.js';
import { safely, type WeftHooks } from './hooks.js';
import { LoginGuard } from './login-guard.js';
import { Metrics } from './metrics.js';
import { OutputBudget } from './output-budget.js';
import { UsersAnnouncer } from './users-announcer.js';
import { AdminHttp } from './admin-http.js';
import { localUrl, removeSidecar, writeSidecar } from './sidecar.js';
import { HistoryService, type HistoryApi } from '../history/service.js';
import { HistoryPage } from '../history-page/page-http.js';
import { historyPage } from '../history-page/mount.js';
import type { Socket } from 'node:net';
import type { ProjectId } from '../protocol/schemas.js';

export interface StartOptions {
  /** Where log lines go; defaults to stderr. Pass `() => {}` to silence. */
  log?: Log;
  /** The host application's authentication and what it is told (src/server/hooks.ts). */
  hooks?: WeftHooks;
  /**
   * Attach to this HTTP server (the host's, listening already or later) instead of listening on
   * `config.host`/`config.port`. Its HTTP requests stay the host's: pass them to `handleRequest`.
   */
  server?: HttpServer;
  /** Only WebSocket upgrades under this path are Weft's (e.g. `/weft`; Yjs peers at `/weft/yjs/<project>`). Default: every path. */
  path?: string;
}

/** Logins and logouts of other nodes announced one by one when at most this many came at once. */
const MAX_REMOTE_ANNOUNCEMENTS = 20;

export class WeftServer {
  readonly connections = new Set<Connection>();
  readonly context: ServerContext;
  private readonly instance = randomBytes(4).toString('hex');
  private connectionCount = 0;
  private lastFrameAt = Date.now();
  /** Set by close(): /readyz answers 503 from then on. */
  closing = false;
  private peers = 0;
  private readonly inactivityTimer: NodeJS.Timeout | null;
  private readonly heartbeatTimer: NodeJS.Timeout | null;
  private readonly alive = new WeakSet<WebSocket>();
  private readonly budget: OutputBudget;
  private readonly budgetTimer: NodeJS.Timeout;
  /** Connections not logged in yet, with what ends their limits (byte count, deadline). */
  private readonly pending = new Map<Connection, () => void>();
  /** Sockets not logged in yet (Bryntum clients and Yjs peers waiting for their token) and their limits. */
  private readonly preLogin: PreLogin;
  /** Yjs peers at /yjs/<project>: their logins, then their YjsPeer. */
  private readonly yjs: YjsDoor;

  /** Messages and characters sent to Bryntum clients (metrics). */
  readonly sent: SentCount = { messages: 0, chars: 0 };

  private constructor(
    readonly config: Config,
    readonly storage: Storage,
    readonly projects: ProjectRegistry,
    private readonly http: HttpServer,
    private readonly wss: WebSocketServer,
    private readonly log: Log,
    loginGuard: LoginGuard,
    tokens: TokenVerifier | null,
    metrics: Metrics,
    private readonly options: StartOptions,
    private readonly http_: HttpParts,
    /** Projects and their history, as `weft projects` / `weft versions` and the admin API have them. */
    readonly manage: { projects: ProjectsApi; history: HistoryApi },
  ) {
    this.budget = new OutputBudget(config.limits.maxBufferedBytesTotal, this.connections);
    this.preLogin = new PreLogin(config.limits);
    // Buffers drain without a write reporting it.
    this.budgetTimer = setInterval(() => this.budget.recount(), 1000);
    this.budgetTimer.unref();
    this.context = {
      access: new AccessPolicy(config, tokens, projects.catalog, options.hooks?.authenticate, (e) => log(`authenticate hook failed: ${e.stack ?? e}`, { level: 'error' })),
      projects,
      autosave: new AutoSaveGrants(config.autoSaveIntervalMins),
      version: packageVersion(),
      forcedGeneration: config.generation === 'auto' ? null : config.generation,
      datasetKeys: config.datasetKeys,
      loggedIn: () => [...this.connections].filter((c) => c.user && c.open),
      limits: config.limits,
      loginGuard,
      users: new UsersAnnouncer(config.limits.usersBroadcastMs, () => this.context.loggedIn()),
      admitted: (connection) => this.admitted(connection),
      log,
      failed: (kind) => metrics.errors.inc({ kind }),
    };
    this.yjs = new YjsDoor({
      context: this.context,
      config,
      wss,
      track: (socket) => this.track(socket),
      inbound: (id, socket) => this.inbound(id, socket),
      log,
      instance: this.instance,
      nextConnection: () => ++this.connectionCount,
      countPeers: (delta) => void (this.peers += delta),
      tokens: tokens !== null || options.hooks?.authenticate !== undefined,
      preLogin: this.preLogin,
    });
    http.on('upgrade', this.onUpgrade);
    this.inactivityTimer = config.inactivityResetSeconds > 0 ? setInterval(() => void this.checkInactivity(), 1000) : null;
    this.inactivityTimer?.unref();
    this.heartbeatTimer = config.heartbeatSeconds > 0 ? setInterval(() => this.heartbeat(), config.heartbeatSeconds * 1000) : null;
    this.heartbeatTimer?.unref();

  }

  static async start(config: Config, options: StartOptions = {}): Promise<WeftServer> {
    const nodeId = config.cluster ? (config.cluster.nodeId ?? `${hostname()}-${process.pid}`) : undefined;
    const log = nodeId === undefined ? (options.log ?? stderrLog) : withNode(options.log ?? stderrLog, nodeId);
    const tokens = await TokenVerifier.fromConfig(config.tokens);
    for (const [name, user] of Object.entries(config.users)) {
      if (!isHashed(user.password)) log(`warning: users.${name} has a plain-text password; put a hash from \`weft hash-password\` in the config instead`, { level: 'warn', user: name });
    }
    const storage = await Storage.open(config.dataDir, { sync: config.storage.sync });
    warmUpMerger();
    let server: WeftServer | undefined;
    const metrics = new Metrics({
      // Stryker disable OptionalChaining: read only through the HTTP server, whose requests reach these after `server` is set (it is set in the same tick as listening ends)
      connections: () => server?.connectionCounts() ?? [],
      loggedInUsers: () => new Set([...(server?.context.loggedIn() ?? [])].map((c) => c.user!.name)).size,
      projectsLoaded: () => projects.loaded().length,
      bufferedBytes: () => [...(server?.connections ?? [])].reduce((n, c) => n + c.held, 0),
      sent: () => server?.sent ?? { messages: 0, chars: 0 },
      // Stryker restore OptionalChaining
      longestQueue: () => projects.longestQueue(),
    }, nodeId === undefined ? undefined : {
      nodeId,
      projects: () => ({ sequenced: projects.ownedIds().length, followed: projects.followed().length }),
      // Stryker disable next-line OptionalChaining: only a cluster node has these metrics, and they are read through the HTTP server, which listens after the cluster node started
      nodes: () => 1 + (cluster?.presence.nodes().length ?? 0),
      forwarded: () => projects.forwardedCount,
    });
    const catalog = await ProjectCatalog.open(storage, config.projects);
    let cluster: ClusterNode | undefined;
    if (config.cluster) {
      const { redis, leaseMs, prefix, requestTimeoutMs } = config.cluster;
      try {
        cluster = await ClusterNode.start({ redisUrl: redis, nodeId: nodeId!, leaseMs, prefix, requestTimeoutMs, log });
      } catch (e) {
        await storage.close();
        throw e;
      }
    }
    const hooks = options.hooks ?? {};
    const hookFailed = (name: string) => (e: Error) => log(`${name} hook failed: ${e.stack ?? e}`, { level: 'error' });
    const projects = new ProjectRegistry(config, storage, catalog, log, {
      stored(seconds, revisions) {
        metrics.storageWriteSeconds.observe(seconds);
        if (revisions) metrics.changes.inc(revisions);
      },
      committed: (seconds) => metrics.commitSeconds.observe(seconds),
      delivered: hooks.onCommit
        ? (project, revisions, author) => {
            for (const r of revisions) {
              const user = author && r.client === author.client ? author.name : null;
              safely(hooks.onCommit, hookFailed('onCommit'), { project, revision: r.revision, client: r.client, user, changes: r.changes });
            }
          }
        : undefined,
      loaded: (project) => safely(hooks.onLoad, hookFailed('onLoad'), project),
      unloaded: (project) => safely(hooks.onUnload, hookFailed('onUnload'), project),
    }, cluster);
    const loginGuard = new LoginGuard(config.limits.maxFailedLoginsPerAddress, config.limits.failedLoginWindowSeconds * 1000);
    const versions = cluster ? sharedVersionSource(cluster.versions, storage) : undefined;
    const history = new HistoryService(storage, projects, undefined, versions);
    const manage = { projects: new ProjectsService(projects, history, config.limits), history };
    const clusterStatus = cluster && (() => ({ node: cluster.nodeId, nodes: cluster.presence.nodes(), sequenced: projects.ownedIds(), followed: projects.followed() }));
    const admin = new AdminHttp({ config, ...manage, token: randomBytes(32).toString('hex'), guard: loginGuard, cluster: clusterStatus });
    const page = historyPage(config, storage, projects, log, loginGuard, versions);
    const parts: HttpParts = { admin, page, metrics, metricsToken: config.metricsToken, ready: () => server !== undefined && !server.closing };
    const http =
      options.server ??
      createServer((req, res) => {
        if (!handleHttp(req, res, parts, log)) res.writeHead(426, { 'content-type': 'text/plain' }).end('Weft speaks WebSocket here: connect with a Bryntum ProjectModel (wsAddress).\n');
      });
    if (!options.server) {
      try {
        await new Promise<void>((resolve, reject) => {
          http.once('error', reject);
          http.listen(config.port, config.host, () => resolve());
        });
      } catch (e) {
        await cluster?.close();
        await storage.close();
        throw new Error(`cannot listen on ${config.host}:${config.port}: ${(e as Error).message}`);
      }
    }
    const wss = new WebSocketServer({ noServer: true, maxPayload: config.limits.maxFrameBytes, perMessageDeflate: false });
    server = new WeftServer(config, storage, projects, http, wss, log, loginGuard, tokens, metrics, options, parts, manage);
    if (cluster) server.sharePresence(cluster.presence);
    // Lets the CLI reach this server while it holds the data directory.
    await writeSidecar(config.dataDir, { url: localUrl(config.host, server.port), token: admin.token, pid: process.pid }).catch((e: Error) =>
      log(`cannot write ${config.dataDir}/weft-server.json (the weft CLI will not find this server): ${e.message}`, { level: 'warn' }),
    );
    void server.seedNewProjects();
    return server;
  }

  /** Several nodes: the users list holds every node's users, and a login on one is announced on all. */
  private sharePresence(presence: ClusterPresence): void {
    const users = this.context.users;
    users.withRemote({ names: () => presence.remoteUsers(), localChanged: () => presence.localUsersChanged() });
    presence.bind({
      localUsers: () => [...new Set([...this.context.loggedIn()].map((c) => c.user!.name))],
      onUsersChanged: (joined, left) => {
        // A node (re)joining with its crowd at once: the users list says it, not a message per name to everyone.
        if (joined.length + left.length <= MAX_REMOTE_ANNOUNCEMENTS) {
          for (const name of joined) announceToAll(this.context.loggedIn(), (encoder) => encoder.joined(name));
          for (const name of left) announceToAll(this.context.loggedIn(), (encoder) => encoder.loggedOut(name));
        }
        users.remoteChanged();
      },
    });
  }

  /**
   * Seed configured projects that have no data yet, one after another, while already serving: a
   * client asking for one meanwhile waits for that same load. Seeded projects unload when idle.
   */
  private async seedNewProjects(): Promise<void> {
    // Several nodes: a project is seeded by the node that opens it first (src/server/projects.ts).
    if (this.config.cluster) return;
    for (const project of this.config.projects) {
      // A configured project deleted at runtime stays deleted.
      if (!this.projects.catalog.get(project.id) || this.closing) continue;
      // One read per configured project, not a walk over every stored key.
      const storage = this.storage.project(project.id);
      if (await storage.getJson(storage.keys.meta()).catch(() => undefined)) continue;
      await this.projects.open(project.id).catch((e: Error) => this.log(`project ${JSON.stringify(project.id)}: cannot seed: ${e.message}`, { level: 'error', project: project.id }));
    }
  }

  get port(): number {
    const address = this.http.address();
    return typeof address === 'object' && address ? address.port : this.config.port;
  }

  get host(): string {
    return this.config.host;
  }

  /**
   * Answer an HTTP request that is Weft's (/healthz, /readyz, /metrics, /api/..., /history...);
   * false for any other, which stays the caller's. For a server attached to the host's HTTP server.
   */
  handleRequest(req: IncomingMessage, res: ServerResponse): boolean {
    return handleHttp(req, res, this.http_, this.log);
  }

  private readonly onUpgrade = (req: IncomingMessage, socket: Socket, head: Buffer) =>
    void this.upgrade(req, socket, head).catch((e: Error) => {
      // Last resort: a request this server cannot handle must not take it down.
      this.log(`upgrade ${JSON.stringify(req.url)} failed: ${e.stack ?? e}`, { level: 'error' });
      socket.destroy();
    });

  /** Bryntum clients connect on any path (under `path`); Yjs peers on /yjs/<project>. */
  private async upgrade(req: IncomingMessage, socket: Socket, head: Buffer): Promise<void> {
    const prefix = (this.options.path ?? '').replace(/\/+$/, '');
    const path = parsePath(req.url ?? '/');
    // Another path under the host's server is the host's (its own WebSockets).
    if (prefix && path !== null && path.url.pathname !== prefix && !path.url.pathname.startsWith(`${prefix}/`)) return;
    // Until ws takes the socket over, a reset by the client must not be an unhandled 'error'.
    socket.on('error', () => {});
    const refuse = (status: number, text: string) => {
      socket.end(`HTTP/1.1 ${status} ${text}\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n${text}\n`);
    };
    // Shutting down while the port still listens (clients finish closing): busy, come back later.
    if (this.closing) return refuse(503, 'Service Unavailable');
    if (path === null) return refuse(400, 'Bad Request');
    const match = /^\/yjs\/([^/]+)\/?$/.exec(path.url.pathname.slice(prefix.length));
    if (!match) {
      const address = socket.remoteAddress ?? '';
      const limits = this.config.limits;
      if (this.preLogin.full(address)) return refuse(503, 'Service Unavailable: too many connections not logged in');
      return this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(this.track(ws), socket, address, head.length));
    }
    const segment = decodeSegment(match[1]);
    if (segment === null) return refuse(400, 'Bad Request');
    return this.yjs.upgrade(req, socket, head, {
      url: path.url,
      project: (user) => this.projectFromPath(segment, user),
      open: (project, user) => openProject(this.context, user, project),
      refuse,
    });
  }

  /** Open connections by generation and kind, for the metrics. */
  connectionCounts(): { generation: string; kind: string; count: number }[] {
    const counts = new Map<string, number>();
    for (const c of this.connections) if (c.open) counts.set(c.generation, (counts.get(c.generation) ?? 0) + 1);
    return [...[...counts].map(([generation, count]) => ({ generation, kind: 'bryntum', count })), { generation: 'yjs', kind: 'yjs', count: this.peers }];
  }

  /**
   * A path segment names a project by its id as text; numeric ids match their digits. One that
   * does not exist may be one the user's token names, to be made on demand.
   */
  private projectFromPath(segment: string, user: User): ProjectId | undefined {
    const id = resolveProjectId(segment, this.projects.catalog);
    if (id !== undefined || !Array.isArray(user.grant?.projects)) return id;
    return user.grant.projects.find((p) => String(p) === segment && this.context.access.mayCreate(user, p));
  }

  private accept(socket: WebSocket, raw: Socket, address: string, headBytes: number): void {
    const limits = this.config.limits;
    const connection = new Connection(`client-${this.instance}-${++this.connectionCount}`, socket, limits.maxBufferedBytes, this.budget, address, this.sent);
    this.connections.add(connection);
    this.holdUntilLogin(connection, socket, raw, address, headBytes);
    const frames = new SerialQueue();
    const inbound = this.inbound(connection.id, socket);
    const rate = new MessageRate(limits.maxMessagesPerSecond, limits.messageBurst);
    socket.on('message', (data, isBinary) => {
      this.lastFrameAt = Date.now();
      // A Buffer: these sockets keep ws' default binaryType ('nodebuffer').
      const bytes = (data as Buffer).byteLength;
      if (!rate.take()) return this.overRate(connection);
      const handled = inbound.admit(bytes);
      // A frame counts as queued until its work is done, also work it left under way (pipelined changes).
      void frames.run(() => this.handle(connection, data as Buffer, bytes, isBinary)).finally(() => void connection.settled().finally(handled));
    });
    socket.on('close', () => void frames.run(() => this.closed(connection)));
    socket.on('error', (e) => this.log(`${connection.id}: socket error: ${e.message}`, { level: 'warn', connection: connection.id, user: connection.user?.name }));
  }

  /** A message past the connection's rate is dropped, with an error; one that goes on is closed (1008). */
  private overRate(connection: Connection): void {
    const { maxMessagesPerSecond, maxRefusalsPerMinute } = this.config.limits;
    this.context.failed('over_rate');
    connection.send(errorMessage(`Too many messages: at most ${maxMessagesPerSecond} per second (limits.maxMessagesPerSecond); this one was dropped`));
    if (tooManyRefusals(connection, maxRefusalsPerMinute)) connection.close(1008, 'too many messages');
  }

  /** Flow control of one socket's incoming frames (see Inbound). */
  private inbound(id: string, socket: WebSocket): Inbound {
    const limit = this.config.limits.maxQueuedBytes;
    return new Inbound(socket, limit, (waiting) =>
      this.log(`${id}: sends faster than its frames are handled: reading paused while more than ${limit} bytes wait (${waiting} now)`, { level: 'warn', connection: id }),
    );
  }

  private async handle(connection: Connection, data: Buffer | Buffer[], bytes: number, isBinary: boolean): Promise<void> {
    const limit = this.config.limits.maxMessageBytes;
    if (bytes > limit) {
      this.context.failed('protocol');
      return connection.send(errorMessage(`Message too large: ${bytes} bytes (limit ${limit})`));
    }
    if (isBinary) {
      this.context.failed('protocol');
      return connection.send(errorMessage('Binary frames are not supported: send JSON text'));
    }
    const decoded = decodeFrame(Array.isArray(data) ? Buffer.concat(data).toString('utf8') : data.toString('utf8'));
    if (!decoded.ok) {
      this.context.failed('protocol');
      return connection.send(errorMessage(decoded.message));
    }
    try {
      await dispatch(this.context, connection, decoded.frame);
    } catch (e) {
      // The project was deleted or unloaded while the command waited in its queue: its error.
      if (e instanceof ProjectClosed) return connection.send(errorMessage(e.message, e.project));
      this.context.failed('internal');
      this.log(`${connection.id}: ${decoded.frame.command} failed: ${(e as Error).stack ?? e}`, { level: 'error', connection: connection.id, user: connection.user?.name, project: connection.room?.id });
      connection.send(errorMessage(`${decoded.frame.command} failed: ${(e as Error).message}`));
    }
  }

  /** Until it logs in, a connection lives under the limits before login (PreLogin): 1008 when too late. */
  private holdUntilLogin(connection: Connection, socket: WebSocket, raw: Socket, address: string, headBytes: number): void {
    this.pending.set(connection, this.preLogin.hold(socket, raw, address, headBytes, { code: 1008, reason: 'login timeout' }));
  }

  /** The connection logged in (or is being closed): the limits before login no longer apply. */
  private admitted(connection: Connection): void {
    const release = this.pending.get(connection);
    if (!release) return;
    this.pending.delete(connection);
    release();
  }

  private closed(connection: Connection): void {
    this.admitted(connection);
    this.budget.release(connection);
    connection.unsubscribe();
    this.connections.delete(connection);
    const user = connection.user;
    if (!user) return;
    connection.user = null;
    this.log(`${connection.id}: ${JSON.stringify(user.name)} disconnected`, { connection: connection.id, user: user.name });
    announceToAll(this.context.loggedIn(), (encoder) => encoder.loggedOut(user.name));
    announceUsers(this.context);
  }

  /** Browsers and y-websocket answer pings by themselves; a socket that stops answering is gone. */
  private track(socket: WebSocket): WebSocket {
    this.alive.add(socket);
    socket.on('pong', () => this.alive.add(socket));
    return socket;
  }

  /** Drop sockets that did not answer the last ping (their close runs the usual logout), ping the rest. */
  private heartbeat(): void {
    for (const socket of this.wss.clients) {
      if (!this.alive.has(socket)) {
        socket.terminate();
        continue;
      }
      this.alive.delete(socket);
      socket.ping();
    }
  }

  private async checkInactivity(): Promise<void> {
    // Several nodes: changes forwarded from other nodes' clients count as activity too.
    const last = Math.max(this.lastFrameAt, this.projects.lastForwardedAt);
    if (Date.now() - last < this.config.inactivityResetSeconds * 1000) return;
    this.lastFrameAt = Date.now();
    // Several nodes: each resets the projects it sequences (a reset reaches every node's clients).
    if (this.config.cluster) {
      for (const id of this.projects.ownedIds()) await (await this.projects.open(id))?.reset('Server', false);
      return;
    }
    await this.resetAll('Server');
  }

  /** Server-initiated reset of every project (PROTOCOL.md §10.2). */
  async resetAll(userName: string): Promise<void> {
    for (const project of this.projects.catalog.list()) {
      const room = await this.projects.open(project.id);
      await room?.reset(userName, false);
    }
  }

  /** Close every connection, flush every project and release the data directory. */
  async close(): Promise<void> {
    this.closing = true;
    if (this.inactivityTimer) clearInterval(this.inactivityTimer);
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    clearInterval(this.budgetTimer);
    this.context.users.close();
    this.preLogin.releaseAll();
    this.pending.clear();
    await removeSidecar(this.config.dataDir);
    // 1012 (service restart): clients reconnect, to this server once it is back or to another.
    for (const client of this.wss.clients) client.close(1012, 'service restart');
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    // An attached server's HTTP server is the host's to close.
    if (!this.options.server) {
      const closed = new Promise<void>((resolve) => this.http.close(() => resolve()));
      // Open event streams of the history page would hold the port.
      this.http.closeAllConnections();
      await closed;
    }
    this.http.off('upgrade', this.onUpgrade);
    await this.projects.closeAll();
    await this.storage.close();
  }
}


/** The request target as a URL, or null when it is not one (e.g. `//[`). */
function parsePath(target: string): { url: URL } | null {
  try {
    return { url: new URL(target, 'http://weft') };
  } catch {
    return null;
  }
}

function decodeSegment(segment: string): string | null {
  try {
    return decodeURIComponent(segment);
  } catch {
    return null;
  }
}

interface HttpParts {
  admin: AdminHttp;
  page: HistoryPage;
  metrics: Metrics;
  /** When set, /metrics wants `Authorization: Bearer <it>`. */
  metricsToken: string | undefined;
  /** Storage open, accepting, not shutting down. */
  ready(): boolean;
}

/** Answer a request that is Weft's; false for any other path. */
function handleHttp(req: IncomingMessage, res: ServerResponse, { admin, page, metrics, metricsToken, ready }: HttpParts, log: Log): boolean {
  // Last resort: a request this server cannot handle must not take it down.
  const failed = (e: unknown) => {
    log(`${req.method} ${JSON.stringify(req.url)} failed: ${(e as Error)?.stack ?? e}`, { level: 'error' });
    if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
    res.end();
  };
  try {
    if (admin.handles(req)) {
      admin.handle(req, res).catch(failed);
      return true;
    }
    if (page.handles(req)) {
      Promise.resolve(page.handle(req, res)).catch(failed);
      return true;
    }
  } catch (e) {
    failed(e);
    return true;
  }
  const path = (req.url ?? '').split('?')[0];
  if (path === '/health' || path === '/healthz') {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'ok', version: packageVersion() }));
    return true;
  }
  if (path === '/readyz') {
    const ok = ready();
    res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify({ status: ok ? 'ready' : 'not ready' }));
    return true;
  }
  if (path === '/metrics') {
    if (metricsToken !== undefined && !sameSecret(req.headers.authorization ?? '', `Bearer ${metricsToken}`)) {
      res.writeHead(401, { 'content-type': 'text/plain', 'www-authenticate': 'Bearer' }).end('Unauthorized: send Authorization: Bearer <metricsToken>\n');
      return true;
    }
    metrics.text().then((text) => res.writeHead(200, { 'content-type': metrics.contentType }).end(text), failed);
    return true;
  }
  return false;
}
