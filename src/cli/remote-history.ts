/** The history operations through a running server's admin API (the CLI's token from the sidecar). */
import { z } from 'zod';
import { AdminClient, projectPath as path } from './admin-client.js';
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
  private readonly client: AdminClient;
  constructor(url: string, token: string, openError = '') {
    this.client = new AdminClient(url, token, openError);
  }

  private call(method: 'GET' | 'POST', route: string, body?: unknown): Promise<unknown> {
    return this.client.call(method, route, body);
  }

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
}

