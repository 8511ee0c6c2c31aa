import type { ProjectId } from '../protocol/schemas.js';

/** A project named on a command line or in a URL: digits mean the numeric project when there is one. */
export function resolveProjectId(text: string, projects: { get(id: ProjectId): unknown }): ProjectId | undefined {
  if (/^\d{1,15}$/.test(text) && projects.get(Number(text))) return Number(text);
  return projects.get(text) ? text : undefined;
}
