/**
 * Start a real Weft server on 127.0.0.1 (ephemeral port) over a LevelDB in a temp directory.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load.js';
import { ConfigSchema, type ConfigInput } from '../../src/config/schema.js';
import { WeftServer } from '../../src/server/weft.js';

export interface TestServer {
  server: WeftServer;
  port: number;
  dataDir: string;
  /** Close the server (data kept). */
  stop(): Promise<void>;
  /** Start again on the same data directory. */
  restart(): Promise<TestServer>;
  /** Close and remove the data directory. */
  dispose(): Promise<void>;
}

export async function tempDir(prefix = 'weft-test-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/** `log` receives the server's log lines (silenced by default). */
export async function startServer(overrides: Partial<ConfigInput> = {}, dataDir?: string, log: (line: string) => void = () => {}): Promise<TestServer> {
  const dir = dataDir ?? (await tempDir());
  const base = await loadConfig({ flags: { port: 0, host: '127.0.0.1', dataDir: join(dir, 'db') }, env: {} });
  // Overrides go through the schema, so their own defaults apply.
  const config = ConfigSchema.parse({ ...base, ...overrides });
  const server = await WeftServer.start(config, { log });
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await server.close();
  };
  return {
    server,
    port: server.port,
    dataDir: dir,
    stop,
    restart: async () => {
      await stop();
      return startServer(overrides, dir, log);
    },
    dispose: async () => {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
