/**
 * Projects managed at runtime: list, create, import, export, rename, delete. The same code serves
 * the admin API inside the server and `weft projects` on a data directory no server holds.
 */
import { z } from 'zod';
import { parseSeedPaced, type SeedData } from '../document/seed.js';
import { resolveProjectId } from '../history/project-id.js';
import type { HistoryApi } from '../history/service.js';
import { ProjectIdSchema, type ProjectId } from '../protocol/schemas.js';
import type { ProjectRegistry } from '../server/projects.js';
import { CatalogError, ProjectNameSchema, type ProjectEntry } from './catalog.js';
import { toSeedLayout } from './import-format.js';
import { checkImport } from './import-check.js';

export const ProjectInfoSchema = z.object({
  id: ProjectIdSchema,
  name: z.string(),
  createdAt: z.string(),
  /** Loaded in memory now (someone has it open, or had it recently). */
  loaded: z.boolean(),
});
export type ProjectInfo = z.infer<typeof ProjectInfoSchema>;

/** A new project: its id (a number or a string, as clients will name it), name and id type. */
export const NewProjectSchema = z.strictObject({
  id: ProjectIdSchema.refine((id) => typeof id === 'string' || (Number.isSafeInteger(id) && id >= 0), 'a numeric project id is a whole number from 0'),
  name: ProjectNameSchema.optional(),
  ids: z.enum(['number', 'prefixed']).optional(),
});
export type NewProject = z.infer<typeof NewProjectSchema>;

export const ImportResultSchema = z.object({
  project: ProjectInfoSchema,
  /** Records imported per store. */
  records: z.record(z.string(), z.number()),
  /** What the input was read as: a dataset (`tasksData` arrays) or a project file / load response (`{ rows }`). */
  format: z.enum(['dataset', 'rows']),
});
export type ImportResult = z.infer<typeof ImportResultSchema>;

export const DeleteResultSchema = z.object({ project: ProjectIdSchema, keys: z.number() });
export type DeleteResult = z.infer<typeof DeleteResultSchema>;

export interface ProjectsApi {
  list(): Promise<ProjectInfo[]>;
  create(project: NewProject): Promise<ProjectInfo>;
  /** Create a project whose first state is `data` (see src/projects/import-format.ts). */
  import(project: NewProject, data: unknown): Promise<ImportResult>;
  /** The current state, or version `version`, as a dataset that import and `loadInlineData()` read. */
  export(project: string, version?: string): Promise<Record<string, unknown>>;
  rename(project: string, name: string): Promise<ProjectInfo>;
  delete(project: string): Promise<DeleteResult>;
}

/** What a subscriber of a deleted project is told. */
export const deletedMessage = (id: ProjectId) => `Project ${JSON.stringify(id)} was deleted`;

export class ProjectsService implements ProjectsApi {
  constructor(
    private readonly registry: ProjectRegistry,
    private readonly history: Pick<HistoryApi, 'show'>,
    private readonly limits: Parameters<typeof checkImport>[1],
  ) {}

  async list(): Promise<ProjectInfo[]> {
    await this.registry.syncCatalog();
    const loaded = new Set(this.registry.loaded().map((id) => JSON.stringify(id)));
    return this.registry.catalog.list().map((entry) => this.info(entry, loaded.has(JSON.stringify(entry.id))));
  }

  async create(project: NewProject): Promise<ProjectInfo> {
    const entry = await this.registry.catalog.add(newEntry(project));
    // Stored at once: the project exists on disk, not only in the list.
    await this.registry.open(entry.id);
    return this.info(entry, true);
  }

  async import(project: NewProject, data: unknown): Promise<ImportResult> {
    // Read and checked before anything is stored: data that cannot be read leaves no project behind.
    let layout: ReturnType<typeof toSeedLayout>;
    let seed: SeedData;
    try {
      layout = toSeedLayout(data);
      seed = await parseSeedPaced(layout.data, 'import');
      checkImport(seed, this.limits);
    } catch (e) {
      throw new CatalogError(`cannot import: ${(e as Error).message}`, 400);
    }
    const entry = await this.registry.catalog.add(newEntry(project), layout.data);
    try {
      await this.registry.open(entry.id);
    } catch (e) {
      await this.registry.delete(entry.id, deletedMessage(entry.id)).catch(() => {});
      throw new CatalogError(`cannot import: ${(e as Error).message}`, 400);
    }
    const records: Record<string, number> = Object.create(null);
    for (const [store, rows] of seed.stores) records[store] = rows.length;
    return { project: this.info(entry, true), records: { ...records }, format: layout.kind };
  }

  async export(project: string, version = 'current'): Promise<Record<string, unknown>> {
    return (await this.history.show(String(this.id(project)), version)).dataset;
  }

  async rename(project: string, name: string): Promise<ProjectInfo> {
    const parsed = ProjectNameSchema.safeParse(name);
    if (!parsed.success) throw new CatalogError(parsed.error.issues[0]?.message ?? 'invalid name', 400);
    const id = this.id(project);
    const entry = await this.registry.catalog.rename(id, parsed.data);
    return this.info(entry, this.registry.loaded().includes(id));
  }

  async delete(project: string): Promise<DeleteResult> {
    const id = this.id(project);
    return { project: id, keys: await this.registry.delete(id, deletedMessage(id)) };
  }

  private id(text: string): ProjectId {
    const id = resolveProjectId(text, this.registry.catalog);
    if (id === undefined) throw new CatalogError(`unknown project "${text}"`, 404);
    return id;
  }

  private info(entry: ProjectEntry, loaded: boolean): ProjectInfo {
    return { id: entry.id, name: entry.name, createdAt: entry.createdAt, loaded };
  }
}

function newEntry(project: NewProject): Omit<ProjectEntry, 'createdAt'> {
  return { id: project.id, name: project.name ?? String(project.id), ids: project.ids ?? 'number' };
}
