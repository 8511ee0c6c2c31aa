/** The project operations through a running server's admin API (the CLI's token from the sidecar). */
import { z } from 'zod';
import { AdminClient, projectPath } from './admin-client.js';
import { DeleteResultSchema, ImportResultSchema, ProjectInfoSchema, type DeleteResult, type ImportResult, type NewProject, type ProjectInfo, type ProjectsApi } from '../projects/service.js';

const DatasetSchema = z.record(z.string(), z.unknown());

export class RemoteProjects implements ProjectsApi {
  private readonly client: AdminClient;
  constructor(url: string, token: string, openError = '') {
    this.client = new AdminClient(url, token, openError);
  }

  async list(): Promise<ProjectInfo[]> {
    return z.array(ProjectInfoSchema).parse(await this.client.call('GET', '/api/projects'));
  }

  async create(project: NewProject): Promise<ProjectInfo> {
    return ProjectInfoSchema.parse(await this.client.call('POST', '/api/projects', project));
  }

  async import(project: NewProject, data: unknown): Promise<ImportResult> {
    return ImportResultSchema.parse(await this.client.call('POST', '/api/projects', { ...project, data }));
  }

  async export(project: string, version = 'current'): Promise<Record<string, unknown>> {
    return DatasetSchema.parse(await this.client.call('GET', `${projectPath(project)}/export?${new URLSearchParams({ version })}`));
  }

  async rename(project: string, name: string): Promise<ProjectInfo> {
    return ProjectInfoSchema.parse(await this.client.call('PATCH', projectPath(project), { name }));
  }

  async delete(project: string): Promise<DeleteResult> {
    return DeleteResultSchema.parse(await this.client.call('DELETE', projectPath(project)));
  }
}
