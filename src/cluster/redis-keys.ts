/**
 * Redis key names of a project. Every key of one project shares one hash tag, `{p:<id>}`, so a
 * Redis Cluster keeps them in ONE slot: the lease check and the stream append run in one script.
 *
 *   <prefix>:{p:<id>}:lease    string  `<nodeId>:<epoch>` of the node that sequences the project (PX)
 *   <prefix>:{p:<id>}:epoch    integer fencing epoch, INCR'd on every new lease, never expires
 *   <prefix>:{p:<id>}:stream   stream  the replicated change log, entry id `<seq>-0`
 *   <prefix>:{p:<id>}:snap     bytes   state up to `snapseq` (shipped by the owner)
 *   <prefix>:{p:<id>}:snapseq  integer the sequence that snapshot covers
 *   <prefix>:{p:<id>}:snapx    JSON    what else that state holds: counters, phantom ids, version contents
 *   <prefix>:{p:<id>}:versions hash    server-side versions: `<n>` -> metadata JSON; `init` once the
 *                                      project's versions were brought to Redis (shared-versions.ts)
 *   <prefix>:{p:<id>}:vstates  hash    their states: `<n>:<part>` -> Yjs V2 update
 *
 * `<id>` is encodeURIComponent(JSON.stringify(id)): the JSON keeps `1` and `"1"` apart, and the
 * URI encoding turns `{`, `}` and `:` into %-escapes, so no client-chosen id can end the hash tag
 * early or look like another key's suffix.
 */
import type { ProjectId } from '../protocol/schemas.js';

export const DEFAULT_PREFIX = 'weft';

export interface ProjectRedisKeys {
  lease: string;
  epoch: string;
  stream: string;
  snap: string;
  snapSeq: string;
  snapExtra: string;
  versions: string;
  versionStates: string;
}

/** A prefix with a brace would move Redis Cluster's hash tag to the prefix: refused. */
export function checkPrefix(prefix: string): string {
  if (prefix.length === 0 || /[{}]/.test(prefix)) throw new Error(`redis key prefix must be non-empty and without braces: ${JSON.stringify(prefix)}`);
  return prefix;
}

function checkId(id: ProjectId): ProjectId {
  if (typeof id === 'number' ? !Number.isFinite(id) : typeof id !== 'string' || id.length === 0) {
    throw new Error(`not a project id: ${String(id)}`);
  }
  return id;
}

/** The hash tag of a project, braces included. */
export function projectTag(id: ProjectId): string {
  return `{p:${encodeURIComponent(JSON.stringify(checkId(id)))}}`;
}

export function projectRedisKeys(id: ProjectId, prefix: string = DEFAULT_PREFIX): ProjectRedisKeys {
  const base = `${checkPrefix(prefix)}:${projectTag(id)}:`;
  return { lease: `${base}lease`, epoch: `${base}epoch`, stream: `${base}stream`, snap: `${base}snap`, snapSeq: `${base}snapseq`, snapExtra: `${base}snapx`, versions: `${base}versions`, versionStates: `${base}vstates` };
}

/**
 * The project of one of its keys, or null for a key that is not one of ours. Keys come back from
 * Redis (XREAD replies, SCAN): their content is checked, never trusted.
 */
export function projectFromRedisKey(key: string, prefix: string = DEFAULT_PREFIX): ProjectId | null {
  const head = `${checkPrefix(prefix)}:{p:`;
  if (!key.startsWith(head)) return null;
  const end = key.indexOf('}', head.length);
  if (end < 0) return null;
  let value: unknown;
  try {
    value = JSON.parse(decodeURIComponent(key.slice(head.length, end)));
  } catch {
    return null;
  }
  if (typeof value === 'number' ? Number.isFinite(value) : typeof value === 'string' && value.length > 0) {
    const id = value as ProjectId;
    // Only the canonical encoding counts (no alternative escapes of the same id).
    return projectTag(id) === key.slice(head.length - 3, end + 1) ? id : null;
  }
  return null;
}
