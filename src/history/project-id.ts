import type { ProjectId } from '../protocol/schemas.js';

/** A project named on a command line or in a URL: digits mean the numeric project when there is one. */
export function resolveProjectId(text: string, projects: readonly { id: ProjectId }[]): ProjectId | undefined {
  if (/^\d{1,15}$/.test(text) && projects.some((p) => p.id === Number(text))) return Number(text);
  return projects.some((p) => p.id === text) ? text : undefined;
}
