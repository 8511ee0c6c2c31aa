/**
 * Taking a project over: what its stream in Redis holds (the last shipped snapshot and every entry
 * after it) as one commit, to replace the project's state in this node's LevelDB before the room
 * opens. The dead owner's disk is never needed.
 */
import type { PhantomRecord } from '../document/phantoms.js';
import type { VersionMeta } from '../history/versions.js';
import type { Commit, ProjectMeta, ProjectStorage } from '../persistence/storage.js';
import type { ProjectId } from '../protocol/schemas.js';
import { decodeEntry, decodeSnapshotExtra, type LogEntry } from './entry.js';
import type { ProjectStream } from './project-stream.js';

/** Pages read at most (a bound far above any real stream). */
const MAX_PAGES = 1_000_000;

export interface StreamState {
  /** The project as one commit (updates in order, last counters, live phantom ids, logged revisions, server-side versions). */
  commit: Omit<Commit, 'seq'> & { meta: ProjectMeta; serverVersions?: VersionMeta[] };
  /** The seq of the last entry. */
  seq: number;
}

/**
 * What the stream holds (up to `upTo`, or all of it); null when Redis holds nothing of the
 * project. Any malformed entry throws. Revisions before the snapshot are not in Redis: the state's
 * counters say its log starts after them.
 */
export async function readStreamState(stream: ProjectStream, project: ProjectId, upTo = Number.MAX_SAFE_INTEGER, pageSize = 200): Promise<StreamState | null> {
  const snapshot = await stream.snapshot(project);
  const updates: Uint8Array[] = snapshot ? [snapshot.bytes] : [];
  let seq = snapshot?.seq ?? 0;
  const extra = snapshot?.extra ? decodeSnapshotExtra(snapshot.extra) : null;
  let meta: ProjectMeta | null = extra?.meta ?? null;
  let phantoms: PhantomRecord[] = extra?.phantoms ?? [];
  const versions = new Map<string, { content: unknown } | null>((extra?.versionContents ?? []).map(([key, content]) => [key, { content }]));
  let serverVersions = extra?.serverVersions;
  let revisions: LogEntry[] = [];
  for (let page = 0; page < MAX_PAGES && seq < upTo; page++) {
    const entries = (await stream.read(project, seq, Math.min(pageSize, upTo - seq))).filter((e) => e.seq <= upTo);
    if (entries.length === 0) break;
    for (const entry of entries) {
      if (entry.seq !== seq + 1) throw new Error(`project ${JSON.stringify(project)}: stream entry ${entry.seq} follows ${seq}: entries are missing`);
      const c = decodeEntry(entry.fields);
      seq = entry.seq;
      if (c.update) updates.push(c.update);
      // A new phantom epoch (a reset) ends the earlier mappings.
      if (meta && c.meta.phantomEpoch !== meta.phantomEpoch) phantoms = [];
      phantoms.push(...c.phantoms);
      for (const [key, content] of c.versionContents) versions.set(key, { content });
      for (const key of c.removedVersions) versions.set(key, null);
      if (c.serverVersions) serverVersions = c.serverVersions;
      revisions.push(...c.revisions);
      meta = c.meta;
      revisions = revisions.filter((r) => r.n >= c.meta.firstLoggedRevision);
    }
  }
  if (seq === 0) return null;
  if (!meta) throw new Error(`project ${JSON.stringify(project)}: its snapshot in Redis has no counters`);
  // The revisions the snapshot folded in are gone from Redis: catch-up cannot reach them.
  if (extra) meta = { ...meta, firstLoggedRevision: Math.max(meta.firstLoggedRevision, Math.min(extra.meta.nextRevision, meta.nextRevision)) };
  const versionContents: [string, unknown][] = [];
  for (const [key, value] of versions) if (value) versionContents.push([key, value.content]);
  return { commit: { update: updates, meta, phantoms, versionContents, revisions, ...(serverVersions ? { serverVersions } : {}) }, seq };
}

/**
 * Bring this node's copy of a project in line with its stream before opening it as its owner.
 * A copy whose counters are those of the stream's last entry is the same state (every commit
 * moves a counter) and stays, with its server-side versions and folded log; any other is replaced.
 * Resolves with the stream's last seq (0 when Redis holds nothing: the stream starts from this copy).
 */
export async function alignWithStream(storage: ProjectStorage, stream: ProjectStream, project: ProjectId): Promise<number> {
  const state = await readStreamState(stream, project);
  if (!state) return 0;
  const local = await storage.meta();
  if (!local || !sameMeta(local, state.commit.meta)) await storage.replaceState(state.commit);
  return state.seq;
}

function sameMeta(a: ProjectMeta, b: ProjectMeta): boolean {
  return a.nextId === b.nextId && a.nextRevision === b.nextRevision && a.phantomEpoch === b.phantomEpoch && a.firstLoggedRevision === b.firstLoggedRevision && a.createdAt === b.createdAt;
}
