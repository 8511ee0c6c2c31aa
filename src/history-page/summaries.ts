/**
 * One line per project for the history page's list: name, tasks, versions, and the last change
 * with who made it (changes not in a version yet, else the newest version's).
 */
import type { ProjectList } from '../projects/catalog.js';
import { VersionStore } from '../history/versions.js';
import type { Storage } from '../persistence/storage.js';
import type { ProjectId } from '../protocol/schemas.js';
import type { Room } from '../server/projects.js';
import type { ProjectSummary } from './page-http.js';

export async function projectSummaries(
  storage: Storage,
  rooms: { open(id: ProjectId): Promise<Room | undefined>; readonly catalog: ProjectList },
): Promise<ProjectSummary[]> {
  const out: ProjectSummary[] = [];
  for (const project of rooms.catalog.list()) {
    const store = new VersionStore(storage.project(project.id));
    const [versions, pending, room] = [await store.list(), await store.pending(), await rooms.open(project.id)];
    const newest = versions[versions.length - 1];
    const pendingAuthor = pending?.since != null ? pending.authors[pending.authors.length - 1] : undefined;
    out.push({
      id: String(project.id),
      name: project.name,
      tasks: room ? room.taskCount : null,
      versions: versions.length,
      lastChange: pending?.since != null ? new Date(pending.since).toISOString() : (newest?.time ?? null),
      lastAuthor: pendingAuthor ?? newest?.authors[newest.authors.length - 1] ?? null,
    });
  }
  return out;
}
