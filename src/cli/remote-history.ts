/** The history operations through a running server's admin API (the CLI's token from the sidecar). */
import { z } from 'zod';
import type { DatasetDiff } from '../history/diff.js';
import type { HistoryApi, RestoreResult } from '../history/service.js';
import type { ProjectUsage } from '../history/storage-report.js';
import { VersionMetaSchema, type VersionMeta } from '../history/versions.js';

const JsonObject = z.record(z.string(), z.unknown());
const ShowSchema = z.object({ version: VersionMetaSchema.nullable(), dataset: JsonObject });
const DiffSchema = z.object({ from: z.string(), to: z.string(), diff: z.object({ stores: JsonObject, project: JsonObject }) });
const RestoreSchema = z.object({ restored: VersionMetaSchema, before: VersionMetaSchema, revision: z.string().nullable() });
const UsageSchema = z.object({ keys: z.number(), bytes: z.number() });
const StorageSchema = z.array(z.object({ project: z.union([z.number(), z.string()]), parts: z.record(z.string(), UsageSchema), total: UsageSchema }));

export class RemoteHistory implements HistoryApi {
  constructor(
    readonly url: string,
    private readonly token: string,
    /** Why the data directory could not be opened directly, told when the server cannot be reached either (a stale sidecar). */
    private readonly openError = '',
  ) {}

  async list(project: string): Promise<VersionMeta[]> {
    return z.array(VersionMetaSchema).parse(await this.call('GET', `${path(project)}/versions`));
  }

  async show(project: string, ref: string) {
    return ShowSchema.parse(await this.call('GET', `${path(project)}/versions/${encodeURIComponent(ref)}`));
  }

  async diff(project: string, from: string, to: string) {
    const query = new URLSearchParams({ from, to });
    const result = DiffSchema.parse(await this.call('GET', `${path(project)}/diff?${query}`));
    return { ...result, diff: result.diff as unknown as DatasetDiff };
  }

  async create(project: string, label?: string): Promise<VersionMeta> {
    return VersionMetaSchema.parse(await this.call('POST', `${path(project)}/versions`, label === undefined ? {} : { label }));
  }

  async restore(project: string, ref: string): Promise<RestoreResult> {
    return RestoreSchema.parse(await this.call('POST', `${path(project)}/versions/${encodeURIComponent(ref)}/restore`, {}));
  }

  async storageUsage(): Promise<ProjectUsage[]> {
    return StorageSchema.parse(await this.call('GET', '/api/storage')) as ProjectUsage[];
  }

  private async call(method: 'GET' | 'POST', route: string, body?: unknown): Promise<unknown> {
    let response: Response;
    try {
      response = await fetch(`${this.url}${route}`, {
        method,
        headers: { authorization: `Bearer ${this.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      const cause = (e as { cause?: Error }).cause;
      const also = this.openError ? ` (and ${this.openError})` : '';
      throw new Error(`cannot reach the server at ${this.url}: ${cause?.message ?? (e as Error).message}${also}`);
    }
    const data = (await response.json().catch(() => null)) as { error?: unknown } | null;
    if (!response.ok) throw new Error(typeof data?.error === 'string' ? data.error : `server answered HTTP ${response.status}`);
    return data;
  }
}

const path = (project: string) => `/api/projects/${encodeURIComponent(project)}`;
