/**
 * Weft inside a Node application: start a server from options (the config file's schema), or
 * attach it to the application's own HTTP server, with hooks for authentication, committed
 * changes and projects loaded and unloaded. `weft serve` is built on `startWeft`.
 *
 *   import { startWeft } from 'weft';
 *   const weft = await startWeft({
 *     config: { dataDir: './data', tokens: { secret: process.env.WEFT_TOKEN_SECRET } },
 *     server: app.listen(3000), path: '/weft',
 *     hooks: { onCommit: (change) => audit(change) },
 *   });
 */
import type { Server as HttpServer } from 'node:http';
import { parseConfig, mergeConfig } from './config/load.js';
import type { ConfigInput } from './config/schema.js';
import type { Log } from './server/log.js';
import type { WeftHooks } from './server/hooks.js';
import { WeftServer } from './server/weft.js';

/** The configuration an application passes: any part of a config file's, with `dataDir`. */
export type WeftConfig = Omit<Partial<ConfigInput>, 'dataDir'> & { dataDir: string };

export interface WeftOptions {
  /**
   * The configuration, as in a config file, over the schema's defaults, with no projects, users or
   * anonymous logins (unlike `weft serve`, which starts from the demo setup). `dataDir` is required.
   */
  config: WeftConfig;
  hooks?: WeftHooks;
  /** Attach to this HTTP server instead of listening on `config.host`/`config.port`; pass its requests to `handleRequest`. */
  server?: HttpServer;
  /** With `server`: only WebSocket upgrades under this path are Weft's (e.g. `/weft`). */
  path?: string;
  /** Where log lines go (default: stderr). */
  log?: Log;
}

/** What an embedding application starts from: nothing it did not configure. */
const BARE: Record<string, unknown> = { projects: [], users: {}, groups: {}, anonymous: { enabled: false, projects: [] } };

/** Start Weft. Rejects with a readable error for an invalid configuration or a port in use. */
export async function startWeft(options: WeftOptions): Promise<WeftServer> {
  const config = await parseConfig(mergeConfig(BARE, options.config as Record<string, unknown>));
  return WeftServer.start(config, { hooks: options.hooks, server: options.server, path: options.path, log: options.log });
}

export { WeftServer } from './server/weft.js';
export { ConfigSchema, type Config, type ConfigInput } from './config/schema.js';
export { loadConfig } from './config/load.js';
export type { WeftHooks, AuthRequest, AuthAnswer, CommittedChange } from './server/hooks.js';
export type { Log, LogFields } from './server/log.js';
export type { ProjectId, Changes } from './protocol/schemas.js';
export type { ProjectsApi, ProjectInfo, NewProject, ImportResult } from './projects/service.js';
export type { HistoryApi } from './history/service.js';
export { hashPassword } from './server/passwords.js';
