/**
 * LevelDB key layout. Every key of a project starts with `p:<project>:`, so one project's data is
 * one contiguous range. Numbers are zero-padded so keys sort in numeric order.
 *
 *   p:<project>:meta               JSON  counters (next id, next revision, phantom epoch, ...)
 *   p:<project>:snap:<i>           bytes snapshot chunks: Yjs V2 updates which, applied in order,
 *                                        give the state up to `snapseq` (each about 64 KB, so a
 *                                        load applies them one at a time between other work)
 *   p:<project>:snapseq            JSON  last update sequence folded into the chunks
 *   p:<project>:u:<seq>            bytes one accepted change as a Yjs V2 update
 *   p:<project>:pn:<epoch>:<name>  JSON  a phantom id's record: `<name>` is the JSON of [user, store,
 *                                        phantom id], the value {id, c: connection, t: time}
 *                                        (epoch changes on reset; `ph:` held them by phantom id
 *                                        alone before, and is cleared)
 *   p:<project>:vc:<version>       JSON  content of a Bryntum version record (kept out of the doc)
 *   p:<project>:rv:<n>             JSON  outgoing revision server-<n> (the revision log)
 *   p:<project>:ver:<n>            JSON  server-side version n: metadata
 *   p:<project>:vs:<n>[:<i>]       bytes server-side version n: Yjs V2 state, in parts applied in
 *                                        order (part 0 without `:<i>`; older versions have only it)
 *   p:<project>:verpending         JSON  changes and authors since the newest server-side version
 *   p:<project>:seed               JSON  the data an imported project was created from (resets go back to it)
 *   p:<project>:dt:<name>          text  a large project's dataset JSON per store (`<name>`: a store,
 *                                        or `project` for the project fields), written when it is
 *                                        unloaded and served while it loads again
 *   p:<project>:dtseq              JSON  {seq, format}: the update sequence those texts are of and
 *                                        how they were written (any other: stale, dropped)
 */
import type { ProjectId } from '../protocol/schemas.js';

const pad = (n: number) => n.toString().padStart(12, '0');

export function projectKey(id: ProjectId): string {
  return typeof id === 'number' ? `n${id}` : `s${encodeURIComponent(id)}`;
}

export function projectIdFromKey(key: string): ProjectId {
  return key[0] === 'n' ? Number(key.slice(1)) : decodeURIComponent(key.slice(1));
}

export class ProjectKeys {
  readonly prefix: string;
  constructor(id: ProjectId) {
    this.prefix = `p:${projectKey(id)}:`;
  }
  meta = () => `${this.prefix}meta`;
  snapChunk = (index: number) => `${this.prefix}snap:${pad(index)}`;
  snapSeq = () => `${this.prefix}snapseq`;
  update = (seq: number) => `${this.prefix}u:${pad(seq)}`;
  phantom = (epoch: number, user: string, store: string, phantom: string) => `${this.prefix}pn:${epoch}:${JSON.stringify([user, store, phantom])}`;
  versionContent = (version: string) => `${this.prefix}vc:${version}`;
  revision = (n: number) => `${this.prefix}rv:${pad(n)}`;
  version = (n: number) => `${this.prefix}ver:${pad(n)}`;
  versionState = (n: number, part = 0) => `${this.prefix}vs:${pad(n)}${part === 0 ? '' : `:${pad(part)}`}`;
  versionPending = () => `${this.prefix}verpending`;
  seed = () => `${this.prefix}seed`;
  datasetText = (name: string) => `${this.prefix}dt:${name}`;
  datasetSeq = () => `${this.prefix}dtseq`;
  /** Bounds of one section, for range reads: gte/lt. */
  range = (section: string) => ({ gte: `${this.prefix}${section}:`, lt: `${this.prefix}${section};` });
  all = () => ({ gte: this.prefix, lt: this.prefix.slice(0, -1) + ';' });
}

export const seqOf = (key: string): number => Number(key.slice(key.lastIndexOf(':') + 1));

/** How a gap in the update log is told (a load and `weft storage check` say it alike). */
export const missingEntries = (from: number, to: number): string => (from === to ? `update-log entry ${from} is missing` : `update-log entries ${from} to ${to} are missing`);
