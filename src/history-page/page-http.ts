/**
 * The history page, on the server's port under /history: a web page (web/history) and the JSON it
 * reads, all through the history service the CLI and the admin API use.
 *
 *   GET  /history/                                       the page (and its scripts and styles)
 *   POST /history/api/login    { name, password }        session cookie + CSRF token
 *   POST /history/api/logout
 *   GET  /history/api/session                            { user, csrf } or 401
 *   GET  /history/api/projects                           [{ id, name, tasks, versions, lastChange, lastAuthor }]
 *   GET  /history/api/projects/<id>/versions             versions, oldest first
 *   GET  /history/api/projects/<id>/versions/<ref>       { version, dataset }
 *   GET  /history/api/projects/<id>/diff?from=&to=       { from, to, diff, before, after }
 *   POST /history/api/projects/<id>/versions { label }   create                    X-CSRF-Token
 *   POST /history/api/projects/<id>/versions/<n>/restore restore                   X-CSRF-Token
 *   GET  /history/api/projects/<id>/events               server-sent events: `versions` on a new version
 *
 * Users of `adminGroups` log in with their configured password.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join, sep } from 'node:path';
import { PACKAGE_ROOT } from '../config/defaults.js';
import { z } from 'zod';
import { HistoryError } from '../history/errors.js';
import type { HistoryApi } from '../history/service.js';
import type { VersionMeta } from '../history/versions.js';
import { Sessions, sameToken, sessionCookie, type Session } from './sessions.js';
import { VersionWatch } from './version-watch.js';

export const PREFIX = '/history';

export interface ProjectSummary {
  id: string;
  name: string;
  tasks: number | null;
  versions: number;
  lastChange: string | null;
  lastAuthor: string | null;
}

export interface HistoryPageOptions {
  /** The configured user with this password, if it is in an admin group. */
  authenticateAdmin(name: string, password: string): string | null;
  /** Failed logins per address, shared with every other login of the server. */
  guard?: { blockedFor(address: string): number; failed(address: string): void };
  /** The history service acting for `user` (restores are recorded as theirs). */
  historyFor(user: string): HistoryApi;
  summaries(): Promise<ProjectSummary[]>;
  log(message: string): void;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const LoginSchema = z.strictObject({ name: z.string().min(1).max(200), password: z.string().max(1000) });
const CreateSchema = z.strictObject({ label: z.string().trim().max(200).optional() });
const MAX_BODY = 16 * 1024;

const require = createRequire(import.meta.url);
const WEB = join(PACKAGE_ROOT, 'web', 'history') + sep;
/** Static files: name → [path, content type]. uPlot comes from its package, served as it ships. */
const STATIC = new Map<string, [string, string]>([
  ['', [`${WEB}index.html`, 'text/html; charset=utf-8']],
  ['index.html', [`${WEB}index.html`, 'text/html; charset=utf-8']],
  ['app.js', [`${WEB}app.js`, 'text/javascript; charset=utf-8']],
  ['gantt.js', [`${WEB}gantt.js`, 'text/javascript; charset=utf-8']],
  ['app.css', [`${WEB}app.css`, 'text/css; charset=utf-8']],
  ['uplot.js', [require.resolve('uplot/dist/uPlot.iife.min.js'), 'text/javascript; charset=utf-8']],
  ['uplot.css', [require.resolve('uplot/dist/uPlot.min.css'), 'text/css; charset=utf-8']],
]);

export class HistoryPage {
  private readonly sessions = new Sessions();
  private readonly watch: VersionWatch;

  constructor(private readonly options: HistoryPageOptions) {
    this.watch = new VersionWatch((project) => options.historyFor('weft-history').list(project));
  }

  handles(req: IncomingMessage): boolean {
    const url = req.url ?? '';
    return url === PREFIX || url.startsWith(`${PREFIX}/`) || url.startsWith(`${PREFIX}?`);
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      await this.route(req, res);
    } catch (e) {
      const error = e instanceof HttpError ? e : e instanceof HistoryError ? new HttpError(e.status, e.message) : new HttpError(500, (e as Error).message);
      if (error.status === 500) this.options.log(`history page: ${(e as Error).stack ?? e}`);
      if (!res.headersSent) json(res, error.status, { error: error.message });
      else res.end();
    }
  }

  close(): void {
    this.watch.close();
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://weft');
    } catch {
      throw new HttpError(400, 'bad request path');
    }
    if (url.pathname === PREFIX) return redirect(res, `${PREFIX}/`);
    const rest = url.pathname.slice(PREFIX.length + 1);
    const method = req.method ?? 'GET';
    if (!rest.startsWith('api/')) {
      const file = STATIC.get(rest);
      if (!file || method !== 'GET') throw new HttpError(404, 'not found');
      const body = await readFile(file[0]);
      res.writeHead(200, { 'content-type': file[1], 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff', ...(rest.endsWith('.html') || rest === '' ? PAGE_HEADERS : {}) }).end(body);
      return;
    }
    const parts = rest.slice('api/'.length).split('/').map(segment);
    if (parts[0] === 'login' && method === 'POST') return this.login(req, res);
    const current = this.sessions.fromCookie(req.headers.cookie);
    if (parts[0] === 'logout' && method === 'POST') {
      if (current) {
        this.checkCsrf(req, current.session);
        this.sessions.end(current.id);
      }
      res.writeHead(204, { 'set-cookie': sessionCookie('', 0) }).end();
      return;
    }
    if (!current) throw new HttpError(401, 'log in first');
    const { session } = current;
    if (parts[0] === 'session' && method === 'GET') return json(res, 200, { user: session.user, csrf: session.csrf });
    if (parts[0] === 'projects' && parts.length === 1 && method === 'GET') return json(res, 200, await this.options.summaries());
    if (parts[0] !== 'projects' || parts.length < 3) throw new HttpError(404, 'not found');
    const project = parts[1];
    const history = this.options.historyFor(session.user);
    if (method === 'GET' && parts[2] === 'versions' && parts.length === 3) return json(res, 200, await history.list(project));
    if (method === 'GET' && parts[2] === 'versions' && parts.length === 4) return json(res, 200, await history.show(project, parts[3]));
    if (method === 'GET' && parts[2] === 'diff' && parts.length === 3) {
      const from = url.searchParams.get('from') ?? '';
      const to = url.searchParams.get('to') || 'current';
      const [diff, after] = await Promise.all([history.diff(project, from, to), history.show(project, to)]);
      return json(res, 200, { ...diff, after: after.dataset, version: after.version });
    }
    if (method === 'GET' && parts[2] === 'events' && parts.length === 3) return this.events(req, res, project, history);
    if (method === 'POST' && parts[2] === 'versions' && parts.length === 3) {
      this.checkCsrf(req, session);
      const body = CreateSchema.safeParse(await readJson(req));
      if (!body.success) throw new HttpError(400, `invalid body: ${body.error.issues[0]?.message}`);
      const version = await history.create(project, body.data.label || undefined);
      this.watch.poke(project);
      return json(res, 200, version);
    }
    if (method === 'POST' && parts[2] === 'versions' && parts[4] === 'restore' && parts.length === 5) {
      this.checkCsrf(req, session);
      const result = await history.restore(project, parts[3]);
      this.watch.poke(project);
      return json(res, 200, result);
    }
    throw new HttpError(404, 'not found');
  }

  private async login(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = LoginSchema.safeParse(await readJson(req));
    if (!body.success) throw new HttpError(400, 'send { "name": ..., "password": ... }');
    const address = req.socket.remoteAddress ?? '';
    const waitMs = this.options.guard?.blockedFor(address) ?? 0;
    if (waitMs > 0) throw new HttpError(429, `too many failed logins: try again in ${Math.ceil(waitMs / 1000)} s`);
    const user = this.options.authenticateAdmin(body.data.name, body.data.password);
    if (!user) {
      this.options.guard?.failed(address);
      throw new HttpError(401, 'wrong name or password, or not an administrator');
    }
    const { id, session } = this.sessions.create(user);
    res.writeHead(200, { 'content-type': 'application/json', 'set-cookie': sessionCookie(id, 8 * 3600), 'cache-control': 'no-store' });
    res.end(JSON.stringify({ user: session.user, csrf: session.csrf }));
  }

  private checkCsrf(req: IncomingMessage, session: Session): void {
    const sent = req.headers['x-csrf-token'];
    if (typeof sent !== 'string' || !sameToken(sent, session.csrf)) throw new HttpError(403, 'missing or wrong X-CSRF-Token');
  }

  /** Server-sent events: the version list whenever it changes, so the page updates by itself. */
  private async events(req: IncomingMessage, res: ServerResponse, project: string, history: HistoryApi): Promise<void> {
    const first = await history.list(project);
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    const send = (versions: readonly VersionMeta[]) => res.write(`event: versions\ndata: ${JSON.stringify(versions)}\n\n`);
    send(first);
    const stop = this.watch.subscribe(project, first, send);
    const ping = setInterval(() => res.write(': ping\n\n'), 25_000);
    req.on('close', () => {
      clearInterval(ping);
      stop();
    });
  }
}

const PAGE_HEADERS = {
  'content-security-policy': "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
};

function segment(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new HttpError(400, 'bad escape in path');
  }
}

function json(res: ServerResponse, status: number, value: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' }).end(JSON.stringify(value));
}

function redirect(res: ServerResponse, to: string): void {
  res.writeHead(302, { location: to }).end();
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) throw new HttpError(413, `body over ${MAX_BODY} bytes`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (!text) return {};
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpError(400, 'body is not JSON');
  }
}
