/**
 * The two wire generations. Incoming frames are unwrapped into (command, payload); outgoing
 * messages are built by the recipient's encoder, so the rest of the server never deals with framing.
 */
import { followedBy } from './changes.js';
import type { Changes, ProjectId } from './schemas.js';

export type Generation = 'classic' | 'revisions';
export type Message = Record<string, unknown> & { command: string };

/** Commands only the revisions generation uses; before login they decide the reply shape. */
const REVISIONS_ONLY = new Set(['project_change', 'request_version_autosave', 'load_version_content', 'version']);

export interface Frame {
  command: string;
  payload: Record<string, unknown>;
  /** The generation the frame itself looks like (used before login fixes it). */
  looksLike: Generation;
}

export type DecodeResult = { ok: true; frame: Frame } | { ok: false; message: string };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function decodeFrame(text: string): DecodeResult {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    return { ok: false, message: `Invalid JSON: ${(e as Error).message}` };
  }
  if (!isObject(parsed)) return { ok: false, message: 'Invalid message: expected a JSON object' };
  const { command } = parsed;
  if (typeof command !== 'string') return { ok: false, message: 'Invalid message: "command" must be a string' };
  const enveloped = isObject(parsed.data);
  const payload = enveloped ? (parsed.data as Record<string, unknown>) : withoutCommand(parsed);
  return { ok: true, frame: { command, payload, looksLike: enveloped || REVISIONS_ONLY.has(command) ? 'revisions' : 'classic' } };
}

function withoutCommand(msg: Record<string, unknown>): Record<string, unknown> {
  const { command: _command, ...rest } = msg;
  return rest;
}

/** An outgoing server revision (revisions generation; also the unit of Weft's revision log). */
export interface OutgoingRevision {
  revision: string;
  localRevision?: unknown;
  client: string;
  changes: Changes;
  conflictResolutionFor?: unknown;
}

const revisionTexts = new WeakMap<OutgoingRevision, string>();
const amendments = new WeakSet<OutgoingRevision>();

/**
 * Mark a revision as carrying what the server did beyond the revision just before it (repairs,
 * refusals): classic clients get the two as one change set.
 */
export function amending(revision: OutgoingRevision): OutgoingRevision {
  amendments.add(revision);
  return revision;
}

/** `revision` with other changes, amending as it did. */
export function withChanges(revision: OutgoingRevision, changes: Changes): OutgoingRevision {
  const copy = { ...revision, changes };
  return amendments.has(revision) ? amending(copy) : copy;
}

/** A revision's JSON text, made once: the revision log stores it and revisions clients receive it. */
export function revisionText(revision: OutgoingRevision): string {
  let text = revisionTexts.get(revision);
  if (text === undefined) revisionTexts.set(revision, (text = JSON.stringify(revision)));
  return text;
}

export interface Encoder {
  readonly generation: Generation;
  loginOk(client: string, userName: string): Message;
  joined(userName: string): Message;
  users(users: string[]): Message;
  logoutOwn(): Message;
  loggedOut(userName: string): Message;
  projects(list: { id: ProjectId; name: string }[]): Message;
  /** Reset broadcast dataset, as pieces of text; `dataset`: the pieces of the 8-key dataset's JSON. */
  resetDataset(project: ProjectId, dataset: string[]): string[];
  reset(userName: string, project?: ProjectId): Message;
  /** Frames that carry these revisions (classic takes one change set per frame). */
  changes(project: ProjectId, revisions: OutgoingRevision[]): string[];
  autoSaveOk(project: ProjectId): Message;
  versionContent(command: string, project: ProjectId | undefined, versionId: unknown, content: unknown): Message;
  version(version: string): Message;
  commandError(command: string, error: string, project?: ProjectId): Message;
  /** Weft's own: who is in a project (Bryntum users and Yjs peers). */
  presence(project: ProjectId, users: string[]): Message;
}

/**
 * The protocol's error message (PROTOCOL.md case 1), the same in both generations; `project`
 * names the project when the failure is that project's (it cannot be loaded, or was closed).
 */
export const errorMessage = (message: string, project?: ProjectId): Message =>
  project === undefined ? { command: 'error', message } : { command: 'error', project, message };

/** A classic `projectChange` message. */
export function classicChange(project: ProjectId, changes: Changes): string {
  return JSON.stringify({ command: 'projectChange', project, changes });
}

export const classicEncoder: Encoder = {
  generation: 'classic',
  loginOk: () => ({ command: 'login' }),
  joined: (userName) => ({ command: 'login', userName }),
  users: (users) => ({ command: 'users', users }),
  logoutOwn: () => ({ command: 'logout' }),
  loggedOut: (userName) => ({ command: 'logout', userName }),
  projects: (projects) => ({ command: 'projects', projects }),
  resetDataset: (project, dataset) => [`{"command":"dataset","project":${JSON.stringify(project)},"dataset":`, ...dataset, '}'],
  reset: (userName, project) => (project === undefined ? { command: 'reset', userName } : { command: 'reset', userName, project }),
  changes: (project, revisions) => {
    // A classic client takes one change set per message; a batch becomes consecutive messages,
    // except that an amendment joins the change set before it.
    const sets: Changes[] = [];
    for (const r of revisions) {
      const changes = withoutInput(r.changes);
      if (amendments.has(r) && sets.length) sets[sets.length - 1] = followedBy(sets[sets.length - 1], changes);
      else sets.push(changes);
    }
    return sets.map((changes) => classicChange(project, changes));
  },
  autoSaveOk: (project) => ({ command: 'versionAutoSaveOK', project }),
  versionContent: (command, project, versionId, content) =>
    content === undefined ? { command, project, versionId } : { command, project, versionId, content },
  version: (version) => ({ command: 'version', version }),
  commandError: (command, error, project) => (project === undefined ? { command, error } : { command, project, error }),
  presence: (project, users) => ({ command: 'presence', project, users }),
};

export const revisionsEncoder: Encoder = {
  generation: 'revisions',
  loginOk: (client, userName) => ({ command: 'login', data: { client, userName } }),
  joined: (userName) => ({ command: 'join', data: { userName } }),
  users: (users) => ({ command: 'users', data: { users } }),
  logoutOwn: () => ({ command: 'logout', data: {} }),
  loggedOut: (userName) => ({ command: 'logout', data: { userName } }),
  projects: (projects) => ({ command: 'projects', data: { projects } }),
  resetDataset: (project, dataset) => [`{"command":"dataset","data":{"project":${JSON.stringify(project)},"dataset":`, ...dataset, '}}'],
  reset: (userName, project) => ({ command: 'reset', data: project === undefined ? { userName } : { userName, project } }),
  changes: (project, revisions) => [`{"command":"project_change","data":{"revisions":[${revisions.map((r) => revisionText(r)).join(',')}],"project":${JSON.stringify(project)}}}`],
  autoSaveOk: (project) => ({ command: 'versionAutoSaveOK', data: { project } }),
  versionContent: (command, project, versionId, content) => ({
    command,
    data: content === undefined ? { project, versionId } : { project, versionId, content },
  }),
  version: (version) => ({ command: 'version', data: { version } }),
  commandError: (command, error, project) => (project === undefined ? { command, error } : { command, data: { project }, error }),
  presence: (project, users) => ({ command: 'presence', data: { project, users } }),
};

export const encoderFor = (generation: Generation): Encoder => (generation === 'classic' ? classicEncoder : revisionsEncoder);

/** Classic clients know nothing of `$input`; strip it from every store entry and project fields. */
export function withoutInput(changes: Changes): Changes {
  let copy: Changes | undefined;
  for (const [key, entry] of Object.entries(changes)) {
    if (entry && typeof entry === 'object' && '$input' in entry) {
      copy ??= { ...changes };
      const { $input: _input, ...rest } = entry as Record<string, unknown>;
      copy[key] = rest;
    }
  }
  return copy ?? changes;
}

/**
 * The classic `dataset` reply as pieces of text: the request echoed, with the project fields as
 * the top-level `projectMeta` (the 2022 demo's place) and the dataset (`dataset`: the pieces of
 * the 8-key object, `project` inside, where Bryntum clients read project fields: PROTOCOL.md
 * §3.2), which is large and passed on as it is.
 */
export function classicDatasetReply(request: Record<string, unknown>, projectJson: string, dataset: string[]): string[] {
  const { projectMeta: _m, dataset: _d, ...echo } = request;
  const head = JSON.stringify({ command: 'dataset', ...echo });
  return [`${head.slice(0, -1)},"projectMeta":${projectJson},"dataset":`, ...dataset, '}'];
}

/** The revisions `dataset` reply as pieces of text: the request data echoed, with the 8-key dataset and the last revision. */
export function revisionsDatasetReply(request: Record<string, unknown>, dataset: string[], revision: string | null): string[] {
  const { dataset: _d, revision: _r, ...echo } = request;
  const head = JSON.stringify({ ...echo, revision });
  return [`{"command":"dataset","data":${head.slice(0, -1)},"dataset":`, ...dataset, '}}'];
}

/** Stands in for version content given as JSON text while the reply around it is encoded. */
const CONTENT_SLOT = '\u0000weft-version-content\u0000';

/** A load-content reply whose content is JSON text (pieces), put where the content value goes (its last value). */
export function versionContentReply(encoder: Encoder, command: string, project: ProjectId | undefined, versionId: unknown, content: string[]): string[] {
  const reply = JSON.stringify(encoder.versionContent(command, project, versionId, CONTENT_SLOT));
  const slot = JSON.stringify(CONTENT_SLOT);
  const at = reply.lastIndexOf(slot);
  return [reply.slice(0, at), ...content, reply.slice(at + slot.length)];
}
