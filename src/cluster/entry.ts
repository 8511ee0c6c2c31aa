/**
 * One committed change of a project as an entry of its Redis Stream (project-stream.ts): what the
 * owner stored in its own log (src/persistence `Commit`), in the form every node needs to follow
 * the project and a node taking it over needs to go on from it.
 *
 *   u  bytes  the Yjs V2 update of the commit (absent: a commit of counters or revisions only)
 *   m  JSON   the ProjectMeta after the commit
 *   r  JSON   the revisions the commit logs, as an array of the revision objects (their log texts
 *             joined; each one's number is the `server-<n>` of its `revision`); absent when none
 *   a  text   who made the change (login name), when known
 *   p  JSON   phantom mappings the commit made: [[user, store, phantom, id, connection, at], ...]
 *   v  JSON   version contents it stored: [[version, content], ...]
 *   x  JSON   version contents it removed: [version, ...]
 *   s  JSON   the server-side versions after the commit (history metadata), when it changed them
 *   d  JSON   how its revisions reach clients, in order (src/server/delivery.ts): [{n, e?, f?, c?, z?}, ...]
 *             each taking the next n revisions; e: a classic sender not echoed, f: [sender, finals],
 *             c: the revisions as classic clients get them, z: [user, announce] of a reset.
 *             Absent: everyone gets every revision.
 *
 * Entries are read back from Redis, where anything may have written anything: `decodeEntry` checks
 * every field and refuses an entry with a `MalformedEntry` that names the field, before any of it
 * is applied anywhere.
 */
import * as Y from 'yjs';
import { z } from 'zod';
import type { PhantomRecord } from '../document/phantoms.js';
import type { Commit, ProjectMeta } from '../persistence/storage.js';
import { asBuffer } from './lua.js';
import { VersionMetaSchema, type VersionMeta } from '../history/versions.js';

/** A revision log entry as the room writes it: `server-<n>` under n, its JSON text. */
export type LogEntry = NonNullable<Commit['revisions']>[number];

/** One committed change, as replicated. */
export interface Committed {
  /** The commit's Yjs V2 update; null when it changed counters or the revision log only. */
  update: Uint8Array | null;
  /** Revision log entries, consecutive, all below `meta.nextRevision`. */
  revisions: LogEntry[];
  /** The project's counters after the commit. */
  meta: ProjectMeta;
  phantoms: PhantomRecord[];
  versionContents: [string, unknown][];
  removedVersions: string[];
  /** The project's server-side versions after the commit; absent: unchanged. */
  serverVersions?: VersionMeta[];
  author?: string;
  /** How the revisions reach clients; absent: everyone gets every revision. */
  deliveries?: EntryDelivery[];
}

/** One delivery of a commit: the next `count` of its revisions, addressed as `Delivery` is. */
export interface EntryDelivery {
  count: number;
  noEcho?: string;
  finals?: { connection: string; changes: Record<string, unknown> };
  classic?: unknown[];
  /** The commit was a reset by `user`: every node's clients load the project again. */
  reset?: { user: string; announce: boolean };
}

/** Stream field values, as `ProjectStream.append` takes them. */
export type EntryFields = Record<string, Buffer | string>;

/** An entry that is not a committed change; `field` is the stream field at fault (or `entry`). */
export class MalformedEntry extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`stream entry field "${field}": ${message}`);
    this.name = 'MalformedEntry';
  }
}

const FIELD_NAMES: Readonly<Record<string, string>> = { u: 'update', m: 'meta', r: 'revisions', a: 'author', p: 'phantoms', v: 'version contents', x: 'removed versions', s: 'server versions', d: 'deliveries' };

/** Longest author name accepted (bytes). */
const MAX_AUTHOR_BYTES = 1024;

const safeInt = (min: number) => z.number().int().min(min).max(Number.MAX_SAFE_INTEGER);

const metaSchema = z
  .strictObject({
    nextId: safeInt(1),
    nextRevision: safeInt(1),
    phantomEpoch: safeInt(0),
    firstLoggedRevision: safeInt(1),
    createdAt: z.string().max(100),
  })
  .refine((m) => m.firstLoggedRevision <= m.nextRevision + 1, { message: 'firstLoggedRevision is past nextRevision', path: ['firstLoggedRevision'] });

const recordId = z.union([z.string().max(10_000), z.number().refine(Number.isFinite, 'not a finite number')]);
const phantomsSchema = z.array(z.tuple([z.string(), z.string(), z.string(), recordId, z.string(), z.number().min(0).refine(Number.isFinite, 'not a finite number')]));
const versionContentsSchema = z.array(z.tuple([z.string(), z.unknown()]));
const removedVersionsSchema = z.array(z.string());
const serverVersionsSchema = z.array(VersionMetaSchema).max(100_000);

const revisionSchema = z.looseObject({
  revision: z.string().regex(/^server-[1-9]\d{0,15}$/, 'not a revision id server-<n>'),
  client: z.string(),
  changes: z.record(z.string(), z.unknown()),
});

const deliveriesSchema = z
  .array(
    z.strictObject({
      n: z.number().int().min(0).max(1_000_000),
      e: z.string().max(1000).optional(),
      f: z.tuple([z.string().max(1000), z.record(z.string(), z.unknown())]).optional(),
      c: z.array(revisionSchema).optional(),
      z: z.tuple([z.string().max(MAX_AUTHOR_BYTES), z.boolean()]).optional(),
    }),
  )
  .min(1)
  .max(1_000_000);

const utf8 = new TextDecoder('utf-8', { fatal: true });

function problemText(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((issue) => (issue.path.length ? `${issue.path.map(String).join('.')}: ${issue.message}` : issue.message))
    .join('; ');
}

function fail(field: string, message: string): never {
  throw new MalformedEntry(field, `${FIELD_NAMES[field] ?? 'unknown field'}: ${message}`);
}

function textOf(field: string, bytes: Buffer): string {
  try {
    return utf8.decode(bytes);
  } catch {
    return fail(field, 'not UTF-8 text');
  }
}

function jsonOf(field: string, bytes: Buffer): unknown {
  try {
    return JSON.parse(textOf(field, bytes));
  } catch (error) {
    if (error instanceof MalformedEntry) throw error;
    return fail(field, `not JSON (${(error as Error).message})`);
  }
}

function parsed<T>(field: string, schema: z.ZodType<T>, value: unknown): T {
  const result = schema.safeParse(value);
  if (!result.success) fail(field, problemText(result.error));
  return result.data;
}

/** The commit's update as one: several (a group of changes stored together) are merged. */
function oneUpdate(update: Commit['update']): Uint8Array | null {
  if (update === null) return null;
  if (!Array.isArray(update)) return update;
  const parts = update.filter((u) => u.byteLength > 0);
  return parts.length === 0 ? null : parts.length === 1 ? parts[0] : Y.mergeUpdatesV2(parts);
}

/** A commit as the room stores it (src/persistence `Commit`) as a replicated change. */
export function committedOf(commit: Omit<Commit, 'seq'> & { serverVersions?: readonly VersionMeta[] }, author?: string): Committed {
  if (!commit.meta) throw new Error('a commit without counters (a first import still in parts) is not a replicated change');
  return {
    update: oneUpdate(commit.update),
    revisions: [...(commit.revisions ?? [])],
    meta: commit.meta,
    phantoms: [...(commit.phantoms ?? [])],
    versionContents: [...(commit.versionContents ?? [])],
    removedVersions: [...(commit.removedVersions ?? [])],
    ...(commit.serverVersions ? { serverVersions: [...commit.serverVersions] } : {}),
    ...(author !== undefined ? { author } : {}),
  };
}


/**
 * The stream fields of a committed change. Revision texts are joined, not parsed: each must be
 * the JSON text of its revision `server-<n>` (as `revisionText` makes it, `revision` first).
 */
export function encodeEntry(c: Committed): EntryFields {
  const fields: EntryFields = {};
  if (c.update !== null) {
    if (c.update.byteLength === 0) throw new Error('an empty update: leave it out (null)');
    fields.u = asBuffer(c.update);
  }
  fields.m = JSON.stringify(c.meta);
  if (c.revisions.length > 0) {
    c.revisions.forEach((r, i) => {
      if (!Number.isSafeInteger(r.n) || r.n < 1 || (i > 0 && r.n !== c.revisions[i - 1].n + 1)) throw new Error(`revision numbers must be consecutive positive integers: ${r.n}`);
      if (typeof r.text !== 'string' || !r.text.startsWith(`{"revision":"server-${r.n}"`)) throw new Error(`revision ${r.n}: its text is not the JSON of revision server-${r.n}`);
    });
    fields.r = `[${c.revisions.map((r) => r.text).join(',')}]`;
  }
  if (c.author !== undefined) fields.a = c.author;
  if (c.phantoms.length > 0) fields.p = JSON.stringify(c.phantoms.map((p) => [p.user, p.store, p.phantom, p.id, p.connection, p.at]));
  if (c.versionContents.length > 0) fields.v = JSON.stringify(c.versionContents.map(([key, content]) => [key, content ?? null]));
  if (c.removedVersions.length > 0) fields.x = JSON.stringify(c.removedVersions);
  if (c.serverVersions) fields.s = JSON.stringify(c.serverVersions);
  if (c.deliveries?.length) {
    const total = c.deliveries.reduce((n, d) => n + d.count, 0);
    if (total !== c.revisions.length) throw new Error(`deliveries take ${total} revisions of ${c.revisions.length}`);
    fields.d = JSON.stringify(
      c.deliveries.map((d) => ({
        n: d.count,
        ...(d.noEcho !== undefined ? { e: d.noEcho } : {}),
        ...(d.finals ? { f: [d.finals.connection, d.finals.changes] } : {}),
        ...(d.classic ? { c: d.classic } : {}),
        ...(d.reset ? { z: [d.reset.user, d.reset.announce] } : {}),
      })),
    );
  }
  return fields;
}

/** The update field: bytes that decode as a Yjs V2 update (nothing is applied here). */
export function checkUpdate(bytes: Buffer): Uint8Array {
  if (bytes.byteLength === 0) fail('u', 'empty');
  try {
    Y.decodeUpdateV2(bytes);
  } catch (error) {
    fail('u', `not a Yjs V2 update (${(error as Error).message})`);
  }
  return bytes;
}

function decodeRevisions(bytes: Buffer, meta: ProjectMeta): LogEntry[] {
  const value = jsonOf('r', bytes);
  if (!Array.isArray(value) || value.length === 0) fail('r', 'not a non-empty array of revisions');
  const out: LogEntry[] = [];
  for (let i = 0; i < value.length; i++) {
    const item: unknown = value[i];
    const result = revisionSchema.safeParse(item);
    if (!result.success) fail('r', `revision ${i}: ${problemText(result.error)}`);
    const n = Number(result.data.revision.slice('server-'.length));
    if (!Number.isSafeInteger(n)) fail('r', `revision ${i}: number out of range`);
    if (i > 0 && n !== out[i - 1].n + 1) fail('r', `revision ${i}: server-${n} does not follow server-${out[i - 1].n}`);
    if (n >= meta.nextRevision) fail('r', `revision ${i}: server-${n} is not below the meta's nextRevision ${meta.nextRevision}`);
    // The parsed object written again is the text it was made from (JSON.stringify of an object).
    out.push({ n, text: JSON.stringify(item) });
  }
  return out;
}

/**
 * A committed change from the fields of a stream entry as read back (`StreamEntry.fields`).
 * Throws a `MalformedEntry` naming the field on anything that is not exactly what
 * `encodeEntry` writes: unknown or missing fields, bytes that are not a Yjs V2 update, text that
 * is not UTF-8 or JSON, values of the wrong type or range.
 */
export function decodeEntry(fields: ReadonlyMap<string, Buffer>): Committed {
  for (const [name, value] of fields) {
    if (!Object.hasOwn(FIELD_NAMES, name)) throw new MalformedEntry(name, 'not a field of a committed change');
    if (!Buffer.isBuffer(value)) throw new MalformedEntry(name, 'not bytes');
  }
  const m = fields.get('m');
  if (m === undefined) fail('m', 'missing');
  const meta = parsed('m', metaSchema, jsonOf('m', m)) as ProjectMeta;
  const u = fields.get('u');
  const r = fields.get('r');
  const a = fields.get('a');
  const p = fields.get('p');
  const v = fields.get('v');
  const x = fields.get('x');
  const sv = fields.get('s');
  const d = fields.get('d');
  let author: string | undefined;
  if (a !== undefined) {
    if (a.byteLength > MAX_AUTHOR_BYTES) fail('a', `longer than ${MAX_AUTHOR_BYTES} bytes`);
    author = textOf('a', a);
  }
  const phantoms: PhantomRecord[] =
    p === undefined ? [] : parsed('p', phantomsSchema, jsonOf('p', p)).map(([user, store, phantom, id, connection, at]) => ({ user, store, phantom, id, connection, at }));
  const revisions = r === undefined ? [] : decodeRevisions(r, meta);
  const deliveries = d === undefined ? undefined : decodeDeliveries(d, revisions.length);
  return {
    update: u === undefined ? null : checkUpdate(u),
    revisions,
    meta,
    phantoms,
    versionContents: v === undefined ? [] : (parsed('v', versionContentsSchema, jsonOf('v', v)) as [string, unknown][]),
    removedVersions: x === undefined ? [] : parsed('x', removedVersionsSchema, jsonOf('x', x)),
    ...(sv !== undefined ? { serverVersions: parsed('s', serverVersionsSchema, jsonOf('s', sv)) } : {}),
    ...(author !== undefined ? { author } : {}),
    ...(deliveries ? { deliveries } : {}),
  };
}

function decodeDeliveries(bytes: Buffer, revisions: number): EntryDelivery[] {
  const list = parsed('d', deliveriesSchema, jsonOf('d', bytes));
  const total = list.reduce((n, item) => n + item.n, 0);
  if (total !== revisions) fail('d', `they take ${total} revisions of ${revisions}`);
  return list.map((item) => ({
    count: item.n,
    ...(item.e !== undefined ? { noEcho: item.e } : {}),
    ...(item.f ? { finals: { connection: item.f[0], changes: item.f[1] } } : {}),
    ...(item.c ? { classic: item.c } : {}),
    ...(item.z ? { reset: { user: item.z[0], announce: item.z[1] } } : {}),
  }));
}

/** What a shipped snapshot holds besides the document (project-stream.ts, key snapx). */
export interface SnapshotExtra {
  meta: ProjectMeta;
  phantoms: PhantomRecord[];
  versionContents: [string, unknown][];
  /** The server-side versions at that state; absent in snapshots shipped before they were kept. */
  serverVersions?: VersionMeta[];
}

const snapshotExtraSchema = z.strictObject({ m: metaSchema, p: phantomsSchema, v: versionContentsSchema, s: serverVersionsSchema.optional() });

export function encodeSnapshotExtra(extra: SnapshotExtra): string {
  return JSON.stringify({
    m: extra.meta,
    p: extra.phantoms.map((p) => [p.user, p.store, p.phantom, p.id, p.connection, p.at]),
    v: extra.versionContents.map(([key, content]) => [key, content ?? null]),
    ...(extra.serverVersions ? { s: extra.serverVersions } : {}),
  });
}

/** Read back from Redis: checked like an entry (a `MalformedEntry` naming field `snapx`). */
export function decodeSnapshotExtra(bytes: Buffer): SnapshotExtra {
  let value: z.infer<typeof snapshotExtraSchema>;
  try {
    value = snapshotExtraSchema.parse(JSON.parse(utf8.decode(bytes)));
  } catch (error) {
    throw new MalformedEntry('snapx', `snapshot extra: ${error instanceof z.ZodError ? problemText(error) : (error as Error).message}`);
  }
  return {
    meta: value.m as ProjectMeta,
    phantoms: value.p.map(([user, store, phantom, id, connection, at]) => ({ user, store, phantom, id, connection, at })),
    versionContents: value.v as [string, unknown][],
    ...(value.s ? { serverVersions: value.s } : {}),
  };
}
