/**
 * The door of Yjs peers at /yjs/<project>: who a peer is, then a YjsPeer on the project's room.
 *
 * A peer either names itself in the URL (`?login=&password=` or `?token=`), checked before the
 * WebSocket handshake and refused with HTTP 401/403/404, or — with neither in the URL, on a
 * server that accepts tokens — sends its token in its first frame, so that the token stays out of
 * URLs (and proxy logs): y-protocols' auth message (type 2), sub-type 0, the token as a varString.
 * The socket is then accepted and answered with close codes: 4401 (no or a refused token, or none
 * within `loginTimeoutSeconds`), 4403 (not allowed on the project), 4404 (no such project), 4429
 * (the address failed too often), 1009 (more than `preLoginBytes` before login). An accepted token
 * is answered with an auth frame of sub-type 2 and `read-write` or `readonly`; the frames sent after the
 * token, before that answer, are handled once the peer has started, in order.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { WebSocket, WebSocketServer } from 'ws';
import type { Config } from '../config/schema.js';
import type { ProjectId } from '../protocol/schemas.js';
import { decodeAuthToken, encodeAuthenticated } from '../protocol/yjs-wire.js';
import type { User } from './access.js';
import type { ServerContext } from './commands.js';
import type { Inbound } from './inbound.js';
import type { Log } from './log.js';
import type { Room } from './projects.js';
import { YjsPeer } from './yjs-peer.js';
import { shut, type PreLogin } from './pre-login.js';
import { atTime } from './expiry.js';

/** What the door needs of the server. */
export interface YjsDoorParts {
  context: ServerContext;
  config: Config;
  wss: WebSocketServer;
  /** Ping bookkeeping of a new socket (WeftServer.track). */
  track(socket: WebSocket): WebSocket;
  /** Flow control of a socket's incoming frames (WeftServer.inbound). */
  inbound(id: string, socket: WebSocket): Inbound;
  log: Log;
  /** Part of connection ids, unique to this server instance. */
  instance: string;
  /** The next connection number (shared with Bryntum connections). */
  nextConnection(): number;
  /** Open peers went up or down by one (metrics). */
  countPeers(delta: 1 | -1): void;
  /** Whether tokens are accepted at all (a key is configured); if not, a URL without credentials is refused with 401. */
  tokens: boolean;
  /** Sockets not logged in yet, shared with Bryntum sockets. */
  preLogin: PreLogin;
}

/** One upgrade request to /yjs/<segment>. */
export interface YjsRequest {
  url: URL;
  /** The project the path names for this user (WeftServer.projectFromPath), undefined for none. */
  project(user: User): ProjectId | undefined;
  /** The project's room, loading it if need be (ProjectRegistry.open), for a user who may open it; undefined when it does not exist. */
  open(project: ProjectId, user: User): Promise<Room | undefined | null>;
  /** Answer the upgrade request with an HTTP error instead. */
  refuse(status: number, text: string): void;
}

export class YjsDoor {
  constructor(private readonly parts: YjsDoorParts) {}

  async upgrade(req: IncomingMessage, socket: Socket, head: Buffer, request: YjsRequest): Promise<void> {
    const { context } = this.parts;
    const { url, refuse } = request;
    const login = url.searchParams.get('login') ?? '';
    const token = url.searchParams.get('token') ?? undefined;
    if (login === '' && token === undefined && this.parts.tokens) return this.awaitToken(req, socket, head, request);
    const address = socket.remoteAddress ?? '';
    const guard = context.loginGuard;
    // The same guard as WebSocket logins: a password is not to be guessed over this door either.
    const checked = token !== undefined || (login !== '' && context.access.checksPassword(login));
    const waitMs = checked ? guard.blockedFor(address) : 0;
    if (waitMs > 0) return refuse(429, `Too Many Requests: too many failed logins, try again in ${Math.ceil(waitMs / 1000)} s`);
    const result = login || token !== undefined ? await context.access.logIn(login, url.searchParams.get('password'), token, { address, via: 'yjs' }) : null;
    const user = result && !('refused' in result) ? result : null;
    if (!user && checked) guard.failed(address);
    if (!user) return refuse(401, `Unauthorized: ${result && 'refused' in result ? `${result.refused}; ` : ''}pass ?login=<name>&password=<password> or ?token=<token>`);
    const project = request.project(user);
    if (project === undefined || !context.access.canAccess(user, project)) return refuse(403, 'Forbidden');
    const room = await request.open(project, user);
    if (!room) return refuse(404, 'Not Found');
    this.parts.wss.handleUpgrade(req, socket, head, (upgraded) => this.start(this.parts.track(upgraded), user, project, room));
  }

  /** A YjsPeer for a socket whose user may open `project`, closed with 4401 when its token expires. */
  private start(ws: WebSocket, user: User, project: ProjectId, room: Room): void {
    const { context, config, log } = this.parts;
    const id = `yjs-${this.parts.instance}-${this.parts.nextConnection()}`;
    const peer = new YjsPeer(id, ws, user, !context.access.canWrite(user, project), room, this.parts.inbound(id, ws), log, config.limits);
    this.parts.countPeers(1);
    const expiresAt = user.grant?.expiresAt;
    const cancelExpiry = expiresAt ? atTime(expiresAt, () => ws.close(4401, 'token expired')) : null;
    ws.once('close', () => {
      this.parts.countPeers(-1);
      cancelExpiry?.();
    });
    void peer.start();
  }

  /** Accept the socket and wait for the token in its first frame. */
  private awaitToken(req: IncomingMessage, socket: Socket, head: Buffer, request: YjsRequest): void {
    const address = socket.remoteAddress ?? '';
    if (this.parts.preLogin.full(address)) return request.refuse(503, 'Service Unavailable: too many connections not logged in');
    this.parts.wss.handleUpgrade(req, socket, head, (upgraded) => {
      const ws = this.parts.track(upgraded);
      ws.binaryType = 'nodebuffer';
      const failed = (e: Error) => this.parts.log(`Yjs peer at ${address} before login: socket error: ${e.message}`, { level: 'warn' });
      ws.on('error', failed);
      const release = this.parts.preLogin.hold(ws, socket, address, head.length, { code: 4401, reason: 'login timeout' });
      const waitMs = this.parts.context.loginGuard.blockedFor(address);
      if (waitMs > 0) {
        release();
        return shut(ws, 4429, `too many failed logins, try again in ${Math.ceil(waitMs / 1000)} s`);
      }
      /** Frames after the token, until the peer has started. */
      let early: [Buffer, boolean][] | null = null;
      const first = (data: Buffer, isBinary: boolean) => {
        if (early) return void early.push([data, isBinary]);
        early = [];
        const token = isBinary ? decodeAuthToken(new Uint8Array(data.buffer, data.byteOffset, data.byteLength)) : null;
        if (token === null) {
          release();
          return shut(ws, 4401, 'authentication required');
        }
        const admitted = () => {
          release();
          ws.off('message', first);
          ws.off('error', failed);
        };
        this.logInWithToken(ws, token, address, request, { release, admitted }, early).catch((e: Error) => {
          this.parts.log(`Yjs peer at ${address}: login failed: ${e.stack ?? e}`, { level: 'error' });
          release();
          shut(ws, 1011, 'login failed');
        });
      };
      ws.on('message', first);
    });
  }

  /** Verify the token of the first frame; `hold.admitted` ends the limits before login and the door's own listeners. */
  private async logInWithToken(
    ws: WebSocket,
    token: string,
    address: string,
    request: YjsRequest,
    hold: { release: () => void; admitted: () => void },
    early: [Buffer, boolean][],
  ): Promise<void> {
    const { access, loginGuard } = this.parts.context;
    const open = () => ws.readyState === ws.OPEN;
    const refuse = (code: number, reason: string) => {
      hold.release();
      shut(ws, code, reason);
    };
    const waitMs = loginGuard.blockedFor(address);
    if (waitMs > 0) return refuse(4429, `too many failed logins, try again in ${Math.ceil(waitMs / 1000)} s`);
    const result = await access.logIn('', null, token, { address, via: 'yjs' });
    if (!open()) return;
    if ('refused' in result) {
      loginGuard.failed(address);
      return refuse(4401, result.refused);
    }
    const project = request.project(result);
    if (project === undefined || !access.canAccess(result, project)) return refuse(4403, 'not allowed on this project');
    const room = await request.open(project, result);
    if (!open()) return;
    if (!room) return refuse(4404, 'project not found');
    hold.admitted();
    ws.send(encodeAuthenticated(access.canWrite(result, project) ? 'read-write' : 'readonly'));
    this.start(ws, result, project, room);
    // The peer listens now; what it sent meanwhile reaches it first, in order (nothing arrives in between).
    for (const [data, isBinary] of early.splice(0)) ws.emit('message', data, isBinary);
  }
}
