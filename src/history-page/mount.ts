/** The history page as the server mounts it: its users, history service and project list. */
import type { Log } from '../server/log.js';
import type { Config } from '../config/schema.js';
import { HistoryService, type VersionSource } from '../history/service.js';
import type { Storage } from '../persistence/storage.js';
import type { ProjectId } from '../protocol/schemas.js';
import type { Room } from '../server/projects.js';
import type { ProjectList } from '../projects/catalog.js';
import { HistoryPage, type HistoryPageOptions } from './page-http.js';
import { verifyPassword } from '../server/passwords.js';
import { projectSummaries } from './summaries.js';

export function historyPage(
  config: Config,
  storage: Storage,
  rooms: { open(id: ProjectId): Promise<Room | undefined>; readonly catalog: ProjectList },
  log: Log,
  guard?: HistoryPageOptions['guard'],
  versions?: VersionSource,
): HistoryPage {
  return new HistoryPage({
    guard,
    authenticateAdmin(name, password) {
      const user = Object.hasOwn(config.users, name) ? config.users[name] : undefined;
      return user && config.adminGroups.includes(user.group) && verifyPassword(password, user.password) ? name : null;
    },
    historyFor: (user) => new HistoryService(storage, rooms, user, versions),
    summaries: () => projectSummaries(storage, rooms),
    log,
  });
}
