/**
 * The history operations the CLI and the admin API offer: list, show, diff, create, restore, and
 * storage use. The same code serves both places: inside the server (through its loaded projects)
 * and in the CLI when no server holds the data directory (through rooms it opens itself).
 */
import { z } from 'zod';
import type { Storage } from '../persistence/storage.js';
import type { ProjectId } from '../protocol/schemas.js';
import type { Room } from '../server/projects.js';
import type { ProjectList } from '../projects/catalog.js';
import { diffDatasets, type DatasetDiff } from './diff.js';
import { HistoryError } from './errors.js';
import { resolveProjectId } from './project-id.js';
import { datasetOfState } from './state.js';
import { storageReport, type ProjectUsage } from './storage-report.js';
import { VersionStore, type VersionMeta } from './versions.js';

export type VersionRef = number | 'current';

/** `3`, `weft-3` (the id clients see) or `current`. */
export const VersionRefSchema = z
  .string()
  .trim()
  .regex(/^(current|(weft-)?[1-9]\d{0,11})$/, 'a version is a number, weft-<number> or "current"')
  .transform((text): VersionRef => (text === 'current' ? 'current' : Number(text.replace('weft-', ''))));

export function parseVersionRef(text: string): VersionRef {
  const parsed = VersionRefSchema.safeParse(text);
  if (!parsed.success) throw new HistoryError(`invalid version "${text}": ${parsed.error.issues[0]?.message}`, 400);
  return parsed.data;
}

const refName = (ref: VersionRef) => (ref === 'current' ? 'current' : `version ${ref}`);

export interface RestoreResult {
  restored: VersionMeta;
  /** The version of the state the restore replaced. */
  before: VersionMeta;
  /** The revision that carried the restore to clients; null when the state was already equal. */
  revision: string | null;
}

/** What `weft versions` and `weft storage` need, wherever the data is. */
export interface HistoryApi {
  list(project: string): Promise<VersionMeta[]>;
  show(project: string, ref: string): Promise<{ version: VersionMeta | null; dataset: Record<string, unknown> }>;
  diff(project: string, from: string, to: string): Promise<{ from: string; to: string; diff: DatasetDiff }>;
  create(project: string, label?: string): Promise<VersionMeta>;
  restore(project: string, ref: string): Promise<RestoreResult>;
  storageUsage(): Promise<ProjectUsage[]>;
}

/** Where a project's versions are read: this node's LevelDB, or (several nodes) Redis. */
export interface VersionSource {
  list(id: ProjectId): Promise<VersionMeta[]>;
  state(id: ProjectId, version: VersionMeta): Promise<Uint8Array[] | undefined>;
}

/** The versions in this node's LevelDB. */
export function localVersions(storage: Storage): VersionSource {
  return {
    list: (id) => new VersionStore(storage.project(id)).list(),
    state: (id, version) => new VersionStore(storage.project(id)).state(version),
  };
}

export class HistoryService implements HistoryApi {
  constructor(
    private readonly storage: Storage,
    private readonly rooms: { open(id: ProjectId): Promise<Room | undefined>; readonly catalog: ProjectList },
    /** Who restores (recorded among the authors of the next version). */
    private readonly user = 'weft-cli',
    private readonly versions: VersionSource = localVersions(storage),
  ) {}

  projectId(text: string): ProjectId {
    const id = resolveProjectId(text, this.rooms.catalog);
    if (id === undefined) throw new HistoryError(`unknown project "${text}"`, 404);
    return id;
  }

  list(project: string): Promise<VersionMeta[]> {
    return this.versions.list(this.projectId(project));
  }

  async show(project: string, ref: string): Promise<{ version: VersionMeta | null; dataset: Record<string, unknown> }> {
    return this.datasetAt(this.projectId(project), parseVersionRef(ref));
  }

  async diff(project: string, from: string, to: string): Promise<{ from: string; to: string; diff: DatasetDiff }> {
    const id = this.projectId(project);
    const [a, b] = [parseVersionRef(from), parseVersionRef(to)];
    const before = await this.datasetAt(id, a);
    const after = await this.datasetAt(id, b);
    return { from: refName(a), to: refName(b), diff: diffDatasets(before.dataset, after.dataset) };
  }

  async create(project: string, label?: string): Promise<VersionMeta> {
    return (await this.room(this.projectId(project))).createVersion(label);
  }

  async restore(project: string, ref: string): Promise<RestoreResult> {
    const id = this.projectId(project);
    const n = parseVersionRef(ref);
    if (n === 'current') throw new HistoryError('restore needs a version number, not "current"', 400);
    return (await this.room(id)).restore(n, this.user);
  }

  storageUsage(): Promise<ProjectUsage[]> {
    return storageReport(this.storage);
  }

  private async datasetAt(id: ProjectId, ref: VersionRef): Promise<{ version: VersionMeta | null; dataset: Record<string, unknown> }> {
    // A project on the list that was not stored yet is seeded by opening it.
    if (ref === 'current') return { version: null, dataset: await (await this.room(id)).dataset() };
    const version = (await this.versions.list(id)).find((v) => v.n === ref);
    const state = version && (await this.versions.state(id, version));
    if (!version || !state) throw new HistoryError(`project ${JSON.stringify(id)} has no version ${ref}`, 404);
    return { version, dataset: await datasetOfState(state) };
  }

  private async room(id: ProjectId): Promise<Room> {
    const room = await this.rooms.open(id);
    if (!room) throw new HistoryError(`unknown project ${JSON.stringify(id)}`, 404);
    return room;
  }
}
