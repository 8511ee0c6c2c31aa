/**
 * `weft storage check`: reads every key of every project in a data directory, in key order, and
 * names what a load would trip over: counters that do not parse, snapshot chunks or update-log
 * entries that do not decode or are missing, a logged state that needs data not stored, JSON
 * records that do not parse. The keys of one project are contiguous (keys.ts), so one project's
 * document is held at a time.
 *
 * Yjs updates carry no checksum: damage that still decodes (a flipped byte inside a text) is
 * found only when it breaks the structure.
 */
import * as Y from 'yjs';
import type { Level } from 'level';
import type { ProjectId } from '../protocol/schemas.js';
import { ProjectDocument } from '../document/project-document.js';
import { missingEntries, projectIdFromKey } from './keys.js';

export interface Damage {
  project: ProjectId;
  /** The key at fault, or the project's prefix when the fault is the whole logged state. */
  key: string;
  problem: string;
}

export interface CheckReport {
  projects: number;
  keys: number;
  damage: Damage[];
}

export interface CheckProgress {
  keys: number;
  projects: number;
}

/** Sections holding JSON (keys.ts). */
const JSON_SECTIONS = new Set(['meta', 'snapseq', 'pn', 'ph', 'vc', 'rv', 'ver', 'verpending', 'seed', 'dtseq']);
/** Damage reported per project at most: one broken section could otherwise print a line per key. */
const MAX_PER_PROJECT = 20;

const decoder = new TextDecoder('utf-8', { fatal: true });

/** One project's keys as they stream past, and the document its log builds. */
class ProjectCheck {
  readonly doc = new Y.Doc({ gc: true });
  damage: Damage[] = [];
  private meta: { nextRevision?: unknown } | null = null;
  private nextChunk = 0;
  private snapshotSeq = 0;
  private lastSeq = 0;
  /** Once a part of the log failed, later parts are not applied (they would fail for its sake). */
  private logBroken = false;

  constructor(
    readonly id: ProjectId,
    readonly prefix: string,
  ) {}

  add(key: string, value: Uint8Array): void {
    const rest = key.slice(this.prefix.length);
    const colon = rest.indexOf(':');
    const section = colon === -1 ? rest : rest.slice(0, colon);
    let json: unknown;
    if (JSON_SECTIONS.has(section)) {
      try {
        json = JSON.parse(decoder.decode(value));
      } catch (e) {
        return this.report(key, `not valid JSON (${(e as Error).message})`);
      }
    }
    if (section === 'meta') return this.checkMeta(key, json);
    if (section === 'snapseq') {
      if (!Number.isSafeInteger(json) || (json as number) < 0) this.report(key, `snapshot sequence is not a whole number: ${JSON.stringify(json)}`);
      else this.snapshotSeq = this.lastSeq = json as number;
      return;
    }
    // The sections below are numbered: a load reads only keys with a number after the colon
    // (ProjectKeys.range), so a key named like the section alone is no part of the project.
    if (colon === -1) return;
    const name = rest.slice(colon + 1);
    if (section === 'snap') this.checkChunk(key, Number(name), value);
    else if (section === 'u') this.checkUpdate(key, Number(name), value);
    else if (section === 'rv') {
      const next = this.meta?.nextRevision;
      if (typeof next === 'number' && Number(name) >= next) this.report(key, `revision ${Number(name)} is at or above the counter's next revision ${next}`);
    } else if (section === 'vs') {
      try {
        Y.decodeUpdateV2(value);
      } catch (e) {
        this.report(key, `server version state does not decode (${(e as Error).message})`);
      }
    }
  }

  /** After the project's last key: the logged state must be whole and load as a project. */
  finish(): void {
    if (this.meta === null) return;
    if (this.logBroken) return;
    const store = this.doc.store;
    if (store.pendingStructs !== null || store.pendingDs !== null) {
      return this.report(this.prefix, 'the logged state refers to changes that are not stored (a snapshot chunk or update-log entry is missing or damaged)');
    }
    try {
      new ProjectDocument(this.doc);
    } catch (e) {
      this.report(this.prefix, `the logged state does not load as a project (${(e as Error).message})`);
    }
  }

  private checkMeta(key: string, json: unknown): void {
    const meta = json as Record<string, unknown> | null;
    const fields = ['nextId', 'nextRevision', 'phantomEpoch', 'firstLoggedRevision'];
    const bad = typeof meta === 'object' && meta !== null ? fields.filter((f) => typeof meta[f] !== 'number' || !Number.isFinite(meta[f])) : fields;
    if (bad.length) return this.report(key, `counters missing or not numbers: ${bad.join(', ')}`);
    this.meta = meta;
  }

  private checkChunk(key: string, index: number, value: Uint8Array): void {
    if (index !== this.nextChunk) this.report(key, index === this.nextChunk + 1 ? `snapshot chunk ${this.nextChunk} is missing` : `snapshot chunks ${this.nextChunk} to ${index - 1} are missing`);
    this.nextChunk = index + 1;
    this.apply(key, value, 'snapshot chunk');
  }

  private checkUpdate(key: string, seq: number, value: Uint8Array): void {
    // Entries at or below the snapshot sequence are already folded (left by a crash mid-fold): never read.
    if (seq <= this.snapshotSeq) return;
    if (seq !== this.lastSeq + 1) this.report(key, missingEntries(this.lastSeq + 1, seq - 1));
    this.lastSeq = seq;
    this.apply(key, value, 'update-log entry');
  }

  /** Apply a part of the log as a load does; a throw is damage at this key. */
  private apply(key: string, value: Uint8Array, what: string): void {
    if (this.logBroken) return;
    try {
      Y.applyUpdateV2(this.doc, value);
    } catch (e) {
      this.logBroken = true;
      this.report(key, `${what} does not decode (${value.byteLength} bytes: ${(e as Error).message})`);
    }
  }

  private report(key: string, problem: string): void {
    if (this.damage.length < MAX_PER_PROJECT) this.damage.push({ project: this.id, key, problem });
    else if (this.damage.length === MAX_PER_PROJECT) this.damage.push({ project: this.id, key, problem: 'more damage in this project not listed' });
  }
}

/**
 * Check every project's keys. `progress` is called every `every` keys (a big store takes a while);
 * the work hands the event loop back between batches of keys.
 */
export async function checkStorage(db: Level<string, Uint8Array>, progress?: (p: CheckProgress) => void, every = 10_000): Promise<CheckReport> {
  const report: CheckReport = { projects: 0, keys: 0, damage: [] };
  let current: ProjectCheck | null = null;
  const close = () => {
    if (!current) return;
    current.finish();
    report.damage.push(...current.damage);
    current.doc.destroy();
    current = null;
  };
  for await (const [key, value] of db.iterator({ gte: 'p:', lt: 'p;', keyEncoding: 'utf8', valueEncoding: 'view' })) {
    report.keys++;
    if (!current || !key.startsWith(current.prefix)) {
      close();
      const end = key.indexOf(':', 2);
      if (end === -1) {
        report.damage.push({ project: key, key, problem: 'a key outside any project' });
        continue;
      }
      const prefix = key.slice(0, end + 1);
      let id: ProjectId;
      try {
        id = projectIdFromKey(prefix.slice(2, -1));
      } catch {
        report.damage.push({ project: prefix, key, problem: 'the project part of the key does not decode' });
        continue;
      }
      current = new ProjectCheck(id, prefix);
      report.projects++;
    }
    current.add(key, value);
    if (report.keys % every === 0) {
      progress?.({ keys: report.keys, projects: report.projects });
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }
  close();
  return report;
}
