/**
 * The admin HTTP API on the server's port: project history as JSON.
 *
 *   GET  /api/projects/<id>/versions                  list
 *   GET  /api/projects/<id>/versions/<n|current>      { version, dataset }
 *   GET  /api/projects/<id>/diff?from=<ref>&to=<ref>  { from, to, diff }
 *   GET  /api/storage                                 storage use per project
 *   POST /api/projects/<id>/versions                  create ({ label? })      CLI token only
 *   POST /api/projects/<id>/versions/<n>/restore      restore                  CLI token only
 *   GET  /api/projects                                [{ id, name, createdAt, loaded }]
 *   POST /api/projects                                create ({ id, name?, ids? }), or import with `data`
 *   GET  /api/projects/<id>/export[?version=<ref>]    the project as a dataset
 *   PATCH /api/projects/<id>                          rename ({ name })
 *   DELETE /api/projects/<id>                         delete (subscribers are told, every key removed)
 *
 * Readers authenticate with HTTP Basic as a configured user of an admin group; they may also
 * manage projects (the host application's backend creates them). Versions are created and restored
 * with the token of the sidecar file only: whoever can read the data directory may rewrite history.
 */
import { sameSecret, verifyPassword } from './passwords.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import type { Config } from '../config/schema.js';
import { HistoryError } from '../history/errors.js';
import type { HistoryApi } from '../history/service.js';
import { CatalogError } from '../projects/catalog.js';
import { NewProjectSchema, type ProjectsApi } from '../projects/service.js';
import { describeIssues } from '../protocol/schemas.js';
import type { LoginGuard } from './login-guard.js';

type Role = 'cli' | 'admin';

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

const CreateBodySchema = z.strictObject({ label: z.string().max(200).optional() });
const RestoreBodySchema = z.strictObject({});
const DiffQuerySchema = z.object({ from: z.string().min(1), to: z.string().min(1).default('current') });
const ExportQuerySchema = z.object({ version: z.string().min(1).default('current') });
const NewProjectBodySchema = NewProjectSchema.extend({ data: z.unknown().optional() });
const RenameBodySchema = z.strictObject({ name: z.string() });

const MAX_BODY = 64 * 1024;

export interface AdminHttpOptions {
  config: Pick<Config, 'users' | 'adminGroups' | 'limits'>;
  history: HistoryApi;
  projects: ProjectsApi;
  /** Bearer token of the sidecar file. */
  token: string;
  /** Failed Basic logins per client address (shared with WebSocket logins). */
  guard?: LoginGuard | null;
  /** Several nodes: this node, the others it hears of, and the projects it sequences and follows. */
  cluster?: () => unknown;
}

export class AdminHttp {
  private readonly config: AdminHttpOptions['config'];
  private readonly history: HistoryApi;
  private readonly projects: ProjectsApi;
  readonly token: string;
  private readonly guard: LoginGuard | null;
  private readonly cluster: (() => unknown) | null;
  /** Failed Basic logins one HTTP connection may send before it is closed. */
  private readonly maxFailuresPerConnection: number;

  constructor(options: AdminHttpOptions) {
    ({ config: this.config, history: this.history, projects: this.projects, token: this.token } = options);
    this.guard = options.guard ?? null;
    this.cluster = options.cluster ?? null;
    this.maxFailuresPerConnection = options.config.limits.maxFailedLoginsPerConnection;
  }

  private readonly failures = new WeakMap<object, number>();

  handles(req: IncomingMessage): boolean {
    return (req.url ?? '').startsWith('/api/');
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const role = this.authenticate(req);
      const result = await this.route(req, role);
      send(res, 200, result);
    } catch (e) {
      const error = e instanceof HttpError ? e : e instanceof HistoryError || e instanceof CatalogError ? new HttpError(e.status, e.message) : new HttpError(500, (e as Error).message);
      send(res, error.status, { error: error.message }, error.headers);
    }
  }

  private authenticate(req: IncomingMessage): Role {
    const unauthorized = (message: string) => new HttpError(401, message, { 'www-authenticate': 'Basic realm="weft", charset="UTF-8"' });
    const header = req.headers.authorization ?? '';
    const space = header.indexOf(' ');
    const scheme = header.slice(0, space).toLowerCase();
    const value = header.slice(space + 1).trim();
    if (scheme === 'bearer') {
      if (!sameSecret(value, this.token)) throw unauthorized('invalid token');
      return 'cli';
    }
    if (scheme !== 'basic') throw unauthorized('authentication required');
    const address = req.socket.remoteAddress ?? '';
    const waitMs = this.guard?.blockedFor(address) ?? 0;
    if (waitMs > 0) {
      const seconds = Math.ceil(waitMs / 1000);
      throw new HttpError(429, `too many failed logins: try again in ${seconds} s`, { 'retry-after': String(seconds), connection: 'close' });
    }
    const failed = (message: string) => {
      this.guard?.failed(address);
      const count = (this.failures.get(req.socket) ?? 0) + 1;
      this.failures.set(req.socket, count);
      // Each guess on a kept-alive connection would otherwise cost only a round trip.
      const close: Record<string, string> = count >= this.maxFailuresPerConnection ? { connection: 'close' } : {};
      return new HttpError(401, message, { 'www-authenticate': 'Basic realm="weft", charset="UTF-8"', ...close });
    };
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    const [name, password] = colon === -1 ? [decoded, ''] : [decoded.slice(0, colon), decoded.slice(colon + 1)];
    const user = Object.hasOwn(this.config.users, name) ? this.config.users[name] : undefined;
    if (!user || !verifyPassword(password, user.password)) throw failed('wrong user name or password');
    if (!this.config.adminGroups.includes(user.group)) throw new HttpError(403, `user "${name}" is not in an admin group`);
    return 'admin';
  }

  private async route(req: IncomingMessage, role: Role): Promise<unknown> {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://weft');
    } catch {
      throw new HttpError(400, 'malformed request target');
    }
    const parts = url.pathname.split('/').filter(Boolean).map(decodePart).slice(1);
    const method = req.method ?? 'GET';
    const only = (allowed: string) => {
      if (method !== allowed) throw new HttpError(405, `use ${allowed}`, { allow: allowed });
      if (method === 'POST' && role !== 'cli') throw new HttpError(403, 'creating and restoring versions is for the weft CLI');
    };
    if (parts.length === 1 && parts[0] === 'cluster') {
      only('GET');
      if (!this.cluster) throw new HttpError(404, 'this server runs alone: it is not part of a cluster (--redis)');
      return this.cluster();
    }
    if (parts.length === 1 && parts[0] === 'storage') {
      only('GET');
      return this.history.storageUsage();
    }
    const [top, project, what, ref, action] = parts;
    if (top !== 'projects') throw new HttpError(404, 'not found');
    if (project === undefined) {
      if (method === 'POST') {
        const body = parseBody(NewProjectBodySchema, await readBody(req, this.config.limits.maxMessageBytes));
        const { data, ...entry } = body;
        return data === undefined ? this.projects.create(entry) : this.projects.import(entry, data);
      }
      only('GET');
      return this.projects.list();
    }
    if (what === undefined) {
      if (method === 'PATCH') return this.projects.rename(project, parseBody(RenameBodySchema, await readBody(req)).name);
      if (method === 'DELETE') return this.projects.delete(project);
      throw new HttpError(405, 'use PATCH (rename) or DELETE', { allow: 'PATCH, DELETE' });
    }
    if (what === 'export' && parts.length === 3) {
      only('GET');
      const query = ExportQuerySchema.safeParse(Object.fromEntries(url.searchParams));
      if (!query.success) throw new HttpError(400, `invalid query: ${describeIssues(query.error)}`);
      return this.projects.export(project, query.data.version);
    }
    if (what === 'versions' && ref === undefined) {
      if (method === 'POST') {
        only('POST');
        const body = parseBody(CreateBodySchema, await readBody(req));
        return this.history.create(project, body.label);
      }
      only('GET');
      return this.history.list(project);
    }
    if (what === 'versions' && ref !== undefined && action === undefined && parts.length === 4) {
      only('GET');
      return this.history.show(project, ref);
    }
    if (what === 'versions' && action === 'restore' && parts.length === 5) {
      only('POST');
      parseBody(RestoreBodySchema, await readBody(req));
      return this.history.restore(project, ref!);
    }
    if (what === 'diff' && parts.length === 3) {
      only('GET');
      const query = DiffQuerySchema.safeParse(Object.fromEntries(url.searchParams));
      if (!query.success) throw new HttpError(400, `invalid query: ${describeIssues(query.error)}`);
      return this.history.diff(project, query.data.from, query.data.to);
    }
    throw new HttpError(404, 'not found');
  }
}

function decodePart(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new HttpError(400, `malformed path segment "${part}"`);
  }
}


function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers }).end(JSON.stringify(body));
}

async function readBody(req: IncomingMessage, limit = MAX_BODY): Promise<unknown> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new HttpError(413, `request body over ${limit} bytes`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (!text) return {};
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpError(400, 'request body is not JSON');
  }
}

function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw new HttpError(400, `invalid request body: ${describeIssues(parsed.error)}`);
  return parsed.data;
}
