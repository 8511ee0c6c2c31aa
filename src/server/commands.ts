/**
 * The commands clients send, with their preconditions (PROTOCOL.md §11) and handlers. Framing is
 * already removed; replies go through the connection's encoder.
 */
import type { ErrorKind } from './metrics.js';
import type { Log } from './log.js';
import { tooManyRefusals } from './refusals.js';
import { countRecords, takeRecords } from './record-rate.js';
import { z } from 'zod';
import {
  CatchUpSchema,
  DatasetSchema,
  LoadVersionContentSchema,
  LoginSchema,
  ProjectChangeSchema,
  ProjectIdSchema,
  RevisionsChangeSchema,
  describeIssues,
  type ProjectId,
} from '../protocol/schemas.js';
import { classicDatasetReply, errorMessage, revisionsDatasetReply, versionContentReply, type Frame, type Generation } from '../protocol/codec.js';
import { datasetPieces, type DatasetKeys } from '../document/dataset.js';
import type { AccessPolicy, User } from './access.js';
import type { AutoSaveGrants } from './autosave.js';
import { announceToAll, type Connection } from './connection.js';
import type { ProjectRegistry } from './projects.js';
import type { Room } from './projects.js';
import type { LoginGuard } from './login-guard.js';
import type { UsersAnnouncer } from './users-announcer.js';
import type { Config } from '../config/schema.js';

export interface ServerContext {
  access: AccessPolicy;
  projects: ProjectRegistry;
  autosave: AutoSaveGrants;
  version: string;
  forcedGeneration: Generation | null;
  /** Names of the store arrays in datasets (config `datasetKeys`). */
  datasetKeys: DatasetKeys;
  /** Logged-in, open connections (for login/logout announcements). */
  loggedIn(): Iterable<Connection>;
  limits: Pick<Config['limits'], 'maxLoginChars' | 'maxLoginsPerConnection' | 'maxFailedLoginsPerConnection' | 'maxRefusalsPerMinute' | 'maxRecordsPerSecond'>;
  /** Failed logins per client address. */
  loginGuard: LoginGuard;
  users: UsersAnnouncer;
  log: Log;
  /** Count an error of this kind (metrics). */
  failed(kind: ErrorKind): void;
  /** A connection logged in for the first time: the limits for sockets not logged in no longer apply. */
  admitted(connection: Connection): void;
}

interface Request {
  server: ServerContext;
  connection: Connection;
  frame: Frame;
  /** The project id, validated when the command needs one. */
  project: ProjectId;
  room: Room | null;
}

interface Command {
  login: boolean;
  project: boolean;
  access: boolean;
  subscription: boolean;
  /**
   * The connection's next frame need not wait for this one's work to finish (it is queued in
   * the room, in order, and tracked on the connection); frames of other commands wait for it.
   */
  pipelined?: boolean;
  run(request: Request): Promise<void> | void;
}

export const AUTHENTICATION_REQUIRED = 'Authentication required';
export const PROJECT_REQUIRED = 'Project id is required';
export const AUTHORIZATION_REQUIRED = 'Authorization required';
export const SUBSCRIPTION_REQUIRED = 'Subscription to project is required. Load project first';
export { WRONG_CREDENTIALS } from './access.js';
export const LOGIN_THROTTLED = 'Too many failed logins';

const needs = (login: boolean, project: boolean, access: boolean, subscription: boolean) => ({ login, project, access, subscription });

const login: Command = {
  ...needs(false, false, false, false),
  async run({ server, connection, frame }) {
    const parsed = LoginSchema.safeParse(frame.payload);
    const generation = server.forcedGeneration ?? frame.looksLike;
    const limits = server.limits;
    const fail = (message: string) => connection.send(connection.encoder.commandError('login', message));
    // Logins still queued on a connection closed for its logins are not tries (nor announced).
    if (!connection.open) return;
    // Each login is announced to everyone: a connection may not repeat them without end.
    if (++connection.logins > limits.maxLoginsPerConnection) {
      fail(`Too many logins on this connection (limit ${limits.maxLoginsPerConnection}): reconnect`);
      return connection.close(1008, 'too many logins');
    }
    if (!parsed.success) return fail(`Invalid login: ${describeIssues(parsed.error)}`);
    if (parsed.data.login.length > limits.maxLoginChars) return fail(`Invalid login: login must be at most ${limits.maxLoginChars} characters`);
    // Anonymous names need no password, so an address that failed too often may still use them.
    const { login: name, password, token } = parsed.data;
    const checked = token !== undefined || server.access.checksPassword(name);
    const waitMs = checked ? server.loginGuard.blockedFor(connection.address) : 0;
    const result = waitMs > 0 ? { refused: `${LOGIN_THROTTLED}: try again in ${Math.ceil(waitMs / 1000)} s` } : await server.access.logIn(name, password, token, { address: connection.address, via: 'bryntum' });
    if (!connection.open) return;
    if ('refused' in result) {
      server.failed('login_failed');
      if (waitMs === 0) server.loginGuard.failed(connection.address);
      fail(result.refused);
      if (++connection.failedLogins >= limits.maxFailedLoginsPerConnection) connection.close(1008, 'too many failed logins');
      return;
    }
    const user = result;
    const first = connection.user === null;
    connection.generation = generation;
    connection.user = user;
    connection.expireAt(user.grant?.expiresAt ?? null);
    server.log(`${connection.id}: logged in as ${JSON.stringify(user.name)}${user.grant ? ' with a token' : ''}`, { connection: connection.id, user: user.name });
    // A subscription belongs to the user who made it: the new one may not hold it.
    if (connection.room && !server.access.canAccess(user, connection.room.id)) connection.unsubscribe();
    if (first) server.admitted(connection);
    connection.send(connection.encoder.loginOk(connection.id, user.name));
    announceToAll(server.loggedIn(), (encoder) => encoder.joined(user.name), connection);
    server.users.changed();
  },
};

/** The users list changed (a login or a logout): everyone hears of it soon. */
export function announceUsers(server: ServerContext): void {
  server.users.changed();
}

const logout: Command = {
  ...needs(true, false, false, false),
  run({ connection }) {
    connection.unsubscribe();
    connection.send(connection.encoder.logoutOwn());
    // Everyone else hears of it when the socket closes.
    connection.close(1000, 'logged out');
  },
};

const projects: Command = {
  ...needs(true, false, false, false),
  run({ server, connection }) {
    connection.send(connection.encoder.projects(server.access.projectsFor(connection.user!)));
  },
};

/** The project's room; one that does not exist is made when the user's token may (see AccessPolicy.mayCreate). */
export function openProject(server: Pick<ServerContext, 'projects' | 'access'>, user: User, project: ProjectId, when: 'loaded' | 'readable' = 'loaded'): Promise<Room | undefined> {
  const create = server.access.mayCreate(user, project) ? () => ({ id: project, name: String(project), ids: 'number' as const }) : undefined;
  return server.projects.open(project, create, when);
}

const dataset: Command = {
  ...needs(true, true, true, false),
  async run({ server, connection, frame, project }) {
    // A large project answers with its stored dataset texts while its document loads.
    const room = await openProject(server, connection.user!, project, 'readable');
    if (!room) return void connection.send(connection.encoder.commandError(frame.command, AUTHORIZATION_REQUIRED));
    await room.subscribe(connection, (texts, revision) =>
      connection.generation === 'classic'
        ? classicDatasetReply(frame.payload, texts.project, datasetPieces(texts, server.datasetKeys))
        : revisionsDatasetReply(frame.payload, datasetPieces(texts, server.datasetKeys), revision),
    );
  },
};

const projectChange: Command = {
  ...needs(true, true, true, true),
  // A classic client's changes follow each other without waiting for a reply: under a burst the
  // room commits them together (room.ts, commitSubmissions).
  pipelined: true,
  async run({ server, connection, frame, project, room }) {
    const parsed = ProjectChangeSchema.safeParse(frame.payload);
    // After what the connection's earlier changes still under way send.
    if (!parsed.success) {
      await connection.settled();
      return invalid(connection, frame, project, parsed.error);
    }
    await takeRecords(connection, countRecords(parsed.data.changes), server.limits.maxRecordsPerSecond);
    const done = room!.submit({ connection, generation: connection.generation }, [{ changes: parsed.data.changes }], (failure) => refused(server, connection, frame, failure));
    connection.track(
      done.catch((e: Error) => {
        server.failed('internal');
        server.log(`${connection.id}: ${frame.command} failed: ${e.stack ?? e}`, { level: 'error', connection: connection.id, user: connection.user?.name, project });
        connection.send(errorMessage(`${frame.command} failed: ${e.message}`));
      }),
    );
  },
};

const revisionsChange: Command = {
  ...needs(true, true, true, true),
  async run({ server, connection, frame, project, room }) {
    const parsed = RevisionsChangeSchema.safeParse(frame.payload);
    if (!parsed.success) return invalid(connection, frame, project, parsed.error);
    const requests = parsed.data.revisions.map((r) => ({
      changes: r.changes,
      // Clients have named the local id differently over time (PROTOCOL.md §3.4).
      localRevision: r.revision ?? r.localRevisionId ?? r.revisionId,
      conflictResolutionFor: r.conflictResolutionFor,
    }));
    await takeRecords(connection, requests.reduce((n, r) => n + countRecords(r.changes), 0), server.limits.maxRecordsPerSecond);
    // The refusal is sent in order with what the room sends (before later changes' revisions).
    const failure = await room!.submit({ connection, generation: connection.generation }, requests, (message) => refused(server, connection, frame, message));
    // Closed for refusing too often: nothing more to send.
    if (!failure || !connection.open) return;
    // A revisions client never re-sends a refused revision: bring it back in step (§12.2).
    if (connection.generation === 'revisions') {
      await room!.subscribe(connection, (texts, revision) => revisionsDatasetReply({ project }, datasetPieces(texts, server.datasetKeys), revision));
    }
  },
};

/** Weft's own: be told who is in the subscribed project, now and whenever it changes. */
const presence: Command = {
  ...needs(true, false, false, true),
  run({ connection, project, room }) {
    connection.send(connection.encoder.presence(project, room!.watchPresence(connection)));
  },
};

const reset: Command = {
  ...needs(true, true, true, true),
  async run({ connection, room }) {
    await room!.reset(connection.user!.name, true);
  },
};

const autoSave: Command = {
  ...needs(true, false, false, true),
  run({ server, connection, project }) {
    // The grant makes other clients skip their save: only a client that can save may take it.
    if (!server.access.canWrite(connection.user!, project)) return;
    if (server.autosave.request(project)) connection.send(connection.encoder.autoSaveOk(project));
  },
};

const loadVersionContent: Command = {
  ...needs(true, false, false, true),
  async run({ connection, frame, project, room }) {
    const parsed = LoadVersionContentSchema.safeParse(frame.payload);
    if (!parsed.success) return invalid(connection, frame, project, parsed.error);
    const { content, json } = await room!.versionContent(parsed.data.versionId);
    if (!json) return connection.send(connection.encoder.versionContent(frame.command, project, parsed.data.versionId, content));
    connection.sendPieces(versionContentReply(connection.encoder, frame.command, project, parsed.data.versionId, json));
  },
};

const version: Command = {
  ...needs(false, false, false, false),
  run({ server, connection }) {
    connection.send(connection.encoder.version(server.version));
  },
};

/** Weft's own: the revisions after `since`, or `reload: true` when the log does not reach back. */
const catchUp: Command = {
  ...needs(true, true, true, false),
  async run({ server, connection, frame, project }) {
    const parsed = CatchUpSchema.safeParse(frame.payload);
    if (!parsed.success) return invalid(connection, frame, project, parsed.error);
    const room = await openProject(server, connection.user!, project);
    if (!room) return void connection.send(connection.encoder.commandError(frame.command, AUTHORIZATION_REQUIRED));
    const since = Number(parsed.data.since.slice('server-'.length));
    const { revisions, revision } = await room.catchUp(connection, since);
    if (!revisions) {
      const data = { project, revision, reload: true };
      return void connection.send(connection.generation === 'classic' ? { command: frame.command, ...data } : { command: frame.command, data });
    }
    // Sent as pieces (streamed when long), never joined into one text.
    const head = JSON.stringify({ project, revision }).slice(0, -1) + ',"revisions":[';
    const pieces = connection.generation === 'classic' ? [`{"command":${JSON.stringify(frame.command)},${head.slice(1)}`] : [`{"command":${JSON.stringify(frame.command)},"data":${head}`];
    revisions.forEach((text, i) => pieces.push(i ? ',' : '', text));
    pieces.push(connection.generation === 'classic' ? ']}' : ']}}');
    connection.sendPieces(pieces);
  },
};

export const COMMANDS: Record<string, Command> = {
  login,
  logout,
  projects,
  dataset,
  projectChange,
  project_change: revisionsChange,
  reset,
  requestVersionAutoSave: autoSave,
  request_version_autosave: autoSave,
  loadVersionContent,
  load_version_content: loadVersionContent,
  version,
  catch_up: catchUp,
  presence,
};

/** Commands that change a project, refused to read-only users. */
const WRITES = new Set(['projectChange', 'project_change', 'reset']);
export const READ_ONLY = 'Read-only access: changes are not accepted';

function invalid(connection: Connection, frame: Frame, project: ProjectId, error: z.ZodError): void {
  connection.send(connection.encoder.commandError(frame.command, `Invalid ${frame.command}: ${describeIssues(error)}`, project));
}

/** Answer a refused change; the connection is closed when it refused too often. */
function refused(server: ServerContext, connection: Connection, frame: Frame, message: string): void {
  server.failed('refused_change');
  connection.send(errorMessage(`${frame.command} refused: ${message}`));
  // Each refusal costs a check (or a reload) of the project: a sender of nothing else is let go.
  if (tooManyRefusals(connection, server.limits.maxRefusalsPerMinute)) connection.close(1008, 'too many refused changes');
}

/**
 * Run one frame: checks in the order of PROTOCOL.md §11, then the handler. Unknown commands are
 * ignored (§1.5).
 */
export async function dispatch(server: ServerContext, connection: Connection, frame: Frame): Promise<void> {
  const command = Object.hasOwn(COMMANDS, frame.command) ? COMMANDS[frame.command] : undefined;
  if (!command) return;
  // Answered in order: after what the connection's earlier changes still under way send.
  if (!command.pipelined) await connection.settled();
  // Before login each frame's own look decides the reply shape (§2.4); login fixes it.
  if (!connection.user) connection.generation = server.forcedGeneration ?? frame.looksLike;
  // A pipelined command's error replies wait for its connection's earlier changes (see Command.pipelined).
  const reply = async (error: string, project?: ProjectId) => {
    if (command.pipelined) await connection.settled();
    connection.send(connection.encoder.commandError(frame.command, error, project));
  };

  if (command.login && !connection.user) return reply(AUTHENTICATION_REQUIRED);
  const rawProject = frame.payload.project;
  let project = rawProject as ProjectId;
  if (command.project) {
    if (rawProject === undefined || rawProject === null) return reply(PROJECT_REQUIRED);
    const parsed = ProjectIdSchema.safeParse(rawProject);
    if (!parsed.success) return reply(`Invalid project id: ${describeIssues(parsed.error)}`);
    if (command.access && !server.access.canAccess(connection.user!, parsed.data)) return reply(AUTHORIZATION_REQUIRED);
    if (WRITES.has(frame.command) && !server.access.canWrite(connection.user!, parsed.data)) return reply(READ_ONLY, parsed.data);
  }
  const room = connection.room;
  if (command.subscription) {
    const echo = ProjectIdSchema.safeParse(rawProject).success ? project : undefined;
    if (!room || room.id !== rawProject) return reply(SUBSCRIPTION_REQUIRED, echo);
    project = room.id;
  }
  await command.run({ server, connection, frame, project, room });
}

