/**
 * Start a real Weft server on 127.0.0.1 (ephemeral port) over a LevelDB in a temp directory.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load.js';
import { ConfigSchema, type ConfigInput } from '../../src/config/schema.js';
import { WeftServer } from '../../src/server/weft.js';
import { hasRedisServer, noticeIfRedisMissing, startRedis, type TestRedis } from './redis.js';
import { FollowerRoom } from '../../src/cluster/follower-room.js';
import type { Log, LogFields } from '../../src/server/log.js';

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

/** A server log line as a test keeps it. */
export interface LoggedLine {
  msg: string;
  fields?: LogFields;
}

/** A log function for startServer that keeps every line with its fields in `lines`. */
export function recordingLog(lines: LoggedLine[] = []): { lines: LoggedLine[]; log: Log } {
  return { lines, log: (msg, fields) => void lines.push({ msg, fields }) };
}

export async function tempDir(prefix = 'weft-test-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/**
 * `log` receives the server's log lines (silenced by default).
 *
 * With WEFT_TEST_FOLLOWER=1 the server clients reach is a node that does not sequence the
 * configured projects: another node, started beside it on the same Redis (one redis-server per test
 * process), opened them first. Suites run that way show a following node behaves as one server.
 */
export async function startServer(overrides: Partial<ConfigInput> = {}, dataDir?: string, log: Log = () => {}): Promise<TestServer> {
  if (process.env.WEFT_TEST_FOLLOWER === '1' && !overrides.cluster) {
    if (hasRedisServer()) return startFollower(overrides, dataDir, log);
    noticeIfRedisMissing();
  }
  return startOne(overrides, dataDir, log);
}

let sharedRedis: Promise<TestRedis> | null = null;
let clusters = 0;

async function startFollower(overrides: Partial<ConfigInput>, dataDir: string | undefined, log: Log): Promise<TestServer> {
  sharedRedis ??= startRedis();
  const redis = await sharedRedis;
  const dir = dataDir ?? (await tempDir());
  const prefix = `follower-suite-${process.pid}-${++clusters}`;
  const cluster = (nodeId: string) => ({ ...overrides, cluster: { redis: redis.url, nodeId, prefix, leaseMs: 60_000 } });
  const owner = await startOne(cluster('owner'), join(dir, 'owner'), () => {});
  // The owner sequences every configured project before the follower serves anyone.
  for (const project of owner.server.projects.catalog.list()) await owner.server.projects.open(project.id);
  const follower = await startOne(cluster('follower'), join(dir, 'follower'), log);
  const first = owner.server.projects.catalog.list()[0];
  if (first && !((await follower.server.projects.open(first.id)) instanceof FollowerRoom)) throw new Error('the follower node sequences the project itself');
  const stop = async () => {
    await follower.stop();
    await owner.stop();
  };
  return {
    ...follower,
    dataDir: dir,
    stop,
    restart: async () => {
      await stop();
      return startFollower(overrides, dir, log);
    },
    dispose: async () => {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function startOne(overrides: Partial<ConfigInput> = {}, dataDir?: string, log: Log = () => {}): Promise<TestServer> {
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
      return startOne(overrides, dir, log);
    },
    dispose: async () => {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
