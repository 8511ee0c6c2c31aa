/**
 * The Weft server: an HTTP server carrying the WebSocket endpoint, the loaded projects and the
 * connections. Each connection's frames are handled one after another, in arrival order.
 */
import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Config } from '../config/schema.js';
import { packageVersion } from '../config/version.js';
import { decodeFrame } from '../protocol/codec.js';
import { Storage } from '../persistence/storage.js';
import { warmUpMerger } from '../persistence/merger.js';
import { AccessPolicy } from './access.js';
import { AutoSaveGrants } from './autosave.js';
import { announceUsers, dispatch, type ServerContext } from './commands.js';
import { Connection } from './connection.js';
import { ProjectRegistry } from './projects.js';
import { SerialQueue } from './serial-queue.js';
import { Inbound } from './inbound.js';
import { YjsPeer } from './yjs-peer.js';
import { AdminHttp } from './admin-http.js';
import { localUrl, removeSidecar, writeSidecar } from './sidecar.js';
import { HistoryService } from '../history/service.js';
import { HistoryPage } from '../history-page/page-http.js';
import { historyPage } from '../history-page/mount.js';
import type { Socket } from 'node:net';
import type { ProjectId } from '../protocol/schemas.js';

export interface StartOptions {
  /** Where log lines go; defaults to stderr. Pass `() => {}` to silence. */
  log?: (message: string) => void;
}

export class WeftServer {
  readonly connections = new Set<Connection>();
  readonly context: ServerContext;
  private readonly instance = randomBytes(4).toString('hex');
  private connectionCount = 0;
  private lastFrameAt = Date.now();
  private closing = false;
  private readonly inactivityTimer: NodeJS.Timeout | null;
  private readonly heartbeatTimer: NodeJS.Timeout | null;
  private readonly alive = new WeakSet<WebSocket>();

  private constructor(
    readonly config: Config,
    readonly storage: Storage,
    readonly projects: ProjectRegistry,
    private readonly http: HttpServer,
    private readonly wss: WebSocketServer,
    private readonly log: (message: string) => void,
  ) {
    this.context = {
      access: new AccessPolicy(config),
      projects,
      autosave: new AutoSaveGrants(config.autoSaveIntervalMins),
      version: packageVersion(),
      forcedGeneration: config.generation === 'auto' ? null : config.generation,
      datasetKeys: config.datasetKeys,
      loggedIn: () => [...this.connections].filter((c) => c.user && c.open),
    };
    http.on('upgrade', (req, socket, head) => void this.upgrade(req, socket as Socket, head));
    this.inactivityTimer = config.inactivityResetSeconds > 0 ? setInterval(() => void this.checkInactivity(), 1000) : null;
    this.inactivityTimer?.unref();
    this.heartbeatTimer = config.heartbeatSeconds > 0 ? setInterval(() => this.heartbeat(), config.heartbeatSeconds * 1000) : null;
    this.heartbeatTimer?.unref();

  }

  static async start(config: Config, options: StartOptions = {}): Promise<WeftServer> {
    const log = options.log ?? ((m: string) => process.stderr.write(`${m}\n`));
    const storage = await Storage.open(config.dataDir, { sync: config.storage.sync });
    warmUpMerger();
    const projects = new ProjectRegistry(config, storage, log);
    const admin = new AdminHttp(config, new HistoryService(storage, config, projects), randomBytes(32).toString('hex'));
    const page = historyPage(config, storage, projects, log);
    const http = createServer((req, res) => handleHttp(req, res, admin, page));
    try {
      await new Promise<void>((resolve, reject) => {
        http.once('error', reject);
        http.listen(config.port, config.host, () => resolve());
      });
    } catch (e) {
      await storage.close();
      throw new Error(`cannot listen on ${config.host}:${config.port}: ${(e as Error).message}`);
    }
    const wss = new WebSocketServer({ noServer: true, maxPayload: config.limits.maxFrameBytes, perMessageDeflate: false });
    const server = new WeftServer(config, storage, projects, http, wss, log);
    // Lets the CLI reach this server while it holds the data directory.
    await writeSidecar(config.dataDir, { url: localUrl(config.host, server.port), token: admin.token, pid: process.pid }).catch((e: Error) =>
      log(`cannot write ${config.dataDir}/weft-server.json (the weft CLI will not find this server): ${e.message}`),
    );
    void server.seedNewProjects();
    return server;
  }

  /**
   * Seed configured projects that have no data yet, one after another, while already serving: a
   * client asking for one meanwhile waits for that same load. Seeded projects unload when idle.
   */
  private async seedNewProjects(): Promise<void> {
    const stored = new Set((await this.storage.projectIds().catch(() => [])).map((id) => JSON.stringify(id)));
    for (const project of this.config.projects) {
      if (stored.has(JSON.stringify(project.id)) || this.closing) continue;
      await this.projects.open(project.id).catch((e: Error) => this.log(`project ${JSON.stringify(project.id)}: cannot seed: ${e.message}`));
    }
  }

  get port(): number {
    const address = this.http.address();
    return typeof address === 'object' && address ? address.port : this.config.port;
  }

  get host(): string {
    return this.config.host;
  }

  /** Bryntum clients connect on any path; Yjs peers on /yjs/<project>. */
  private async upgrade(req: IncomingMessage, socket: Socket, head: Buffer): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://weft');
    const match = /^\/yjs\/([^/]+)\/?$/.exec(url.pathname);
    if (!match) return this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(this.track(ws)));
    const refuse = (status: number, text: string) => {
      socket.end(`HTTP/1.1 ${status} ${text}\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n${text}\n`);
    };
    const project = this.projectFromPath(decodeURIComponent(match[1]));
    const login = url.searchParams.get('login') ?? '';
    const user = login ? this.context.access.authenticate(login, url.searchParams.get('password')) : null;
    if (!user) return refuse(401, 'Unauthorized: pass ?login=<name>&password=<password>');
    if (project === undefined || !this.context.access.canAccess(user, project)) return refuse(403, 'Forbidden');
    const room = await this.projects.open(project);
    if (!room) return refuse(404, 'Not Found');
    this.wss.handleUpgrade(req, socket, head, (upgraded) => {
      const ws = this.track(upgraded);
      const id = `yjs-${this.instance}-${++this.connectionCount}`;
      const peer = new YjsPeer(id, ws, user, !this.context.access.canWrite(user), room, this.inbound(id, ws), this.log);
      void peer.start();
    });
  }

  /** A path segment names a project by its id as text; numeric ids match their digits. */
  private projectFromPath(segment: string): ProjectId | undefined {
    const projects = this.config.projects;
    return (projects.find((p) => p.id === segment) ?? projects.find((p) => typeof p.id === 'number' && String(p.id) === segment))?.id;
  }

  private accept(socket: WebSocket): void {
    const connection = new Connection(`client-${this.instance}-${++this.connectionCount}`, socket, this.config.limits.maxBufferedBytes);
    this.connections.add(connection);
    const frames = new SerialQueue();
    const inbound = this.inbound(connection.id, socket);
    socket.on('message', (data, isBinary) => {
      this.lastFrameAt = Date.now();
      const bytes = Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : (data as Buffer).byteLength;
      const handled = inbound.admit(bytes);
      void frames.run(() => this.handle(connection, data as Buffer, bytes, isBinary)).finally(handled);
    });
    socket.on('close', () => void frames.run(() => this.closed(connection)));
    socket.on('error', (e) => this.log(`${connection.id}: socket error: ${e.message}`));
  }

  /** Flow control of one socket's incoming frames (see Inbound). */
  private inbound(id: string, socket: WebSocket): Inbound {
    const limit = this.config.limits.maxQueuedBytes;
    return new Inbound(socket, limit, (waiting) =>
      this.log(`${id}: sends faster than its frames are handled: reading paused while more than ${limit} bytes wait (${waiting} now)`),
    );
  }

  private async handle(connection: Connection, data: Buffer | Buffer[], bytes: number, isBinary: boolean): Promise<void> {
    const limit = this.config.limits.maxMessageBytes;
    if (bytes > limit) {
      return connection.send({ command: 'error', message: `Message too large: ${bytes} bytes (limit ${limit})` });
    }
    if (isBinary) return connection.send({ command: 'error', message: 'Binary frames are not supported: send JSON text' });
    const decoded = decodeFrame(Array.isArray(data) ? Buffer.concat(data).toString('utf8') : data.toString('utf8'));
    if (!decoded.ok) return connection.send({ command: 'error', message: decoded.message });
    try {
      await dispatch(this.context, connection, decoded.frame);
    } catch (e) {
      this.log(`${connection.id}: ${decoded.frame.command} failed: ${(e as Error).stack ?? e}`);
      connection.send({ command: 'error', message: `${decoded.frame.command} failed: ${(e as Error).message}` });
    }
  }

  private closed(connection: Connection): void {
    connection.unsubscribe();
    this.connections.delete(connection);
    const user = connection.user;
    if (!user) return;
    connection.user = null;
    for (const other of this.context.loggedIn()) other.send(other.encoder.loggedOut(user.name));
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
    if (Date.now() - this.lastFrameAt < this.config.inactivityResetSeconds * 1000) return;
    this.lastFrameAt = Date.now();
    await this.resetAll('Server');
  }

  /** Server-initiated reset of every project (PROTOCOL.md §10.2). */
  async resetAll(userName: string): Promise<void> {
    for (const project of this.config.projects) {
      const room = await this.projects.open(project.id);
      await room?.reset(userName, false);
    }
  }

  /** Close every connection, flush every project and release the data directory. */
  async close(): Promise<void> {
    this.closing = true;
    if (this.inactivityTimer) clearInterval(this.inactivityTimer);
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    await removeSidecar(this.config.dataDir);
    for (const client of this.wss.clients) client.close(1001, 'server shutting down');
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    const closed = new Promise<void>((resolve) => this.http.close(() => resolve()));
    // Open event streams of the history page would hold the port.
    this.http.closeAllConnections();
    await closed;
    await this.projects.closeAll();
    await this.storage.close();
  }
}

function handleHttp(req: IncomingMessage, res: ServerResponse, admin: AdminHttp, page: HistoryPage): void {
  if (admin.handles(req)) return void admin.handle(req, res);
  if (page.handles(req)) return void page.handle(req, res);
  if (req.url === '/health') {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'ok', version: packageVersion() }));
    return;
  }
  res.writeHead(426, { 'content-type': 'text/plain' }).end('Weft speaks WebSocket here: connect with a Bryntum ProjectModel (wsAddress).\n');
}
