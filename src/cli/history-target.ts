/**
 * Where the history commands work: directly on the data directory when no process holds it, or
 * through the server that does (found through its sidecar file). Says which on stderr.
 */
import { existsSync } from 'node:fs';
import type { Config } from '../config/schema.js';
import { HistoryService, type HistoryApi } from '../history/service.js';
import { Storage } from '../persistence/storage.js';
import { ProjectRegistry } from '../server/projects.js';
import { readSidecar } from '../server/sidecar.js';
import type { Io } from './io.js';
import { RemoteHistory } from './remote-history.js';
import { RemoteProjects } from './remote-projects.js';
import { ProjectCatalog } from '../projects/catalog.js';
import { ProjectsService, type ProjectsApi } from '../projects/service.js';

export interface HistoryTarget {
  api: HistoryApi;
  projects: ProjectsApi;
  close(): Promise<void>;
}

export async function openHistory(config: Config, io: Io): Promise<HistoryTarget> {
  const dir = config.dataDir;
  if (!existsSync(dir)) throw new Error(`no data directory at ${dir}`);
  let storage: Storage;
  try {
    storage = await Storage.open(dir, { sync: config.storage.sync });
  } catch (error) {
    // LevelDB admits one process: a running server holds the directory and says where it listens.
    const sidecar = await readSidecar(dir);
    if (!sidecar) throw error;
    io.err(`via server at ${sidecar.url}\n`);
    const openError = (error as Error).message;
    return { api: new RemoteHistory(sidecar.url, sidecar.token, openError), projects: new RemoteProjects(sidecar.url, sidecar.token, openError), close: async () => {} };
  }
  io.err(`directly on ${dir}\n`);
  const projects = new ProjectRegistry(config, storage, await ProjectCatalog.open(storage, config.projects), () => {});
  const history = new HistoryService(storage, projects);
  return {
    api: history,
    projects: new ProjectsService(projects, history, config.limits),
    close: async () => {
      await projects.closeAll();
      await storage.close();
    },
  };
}
