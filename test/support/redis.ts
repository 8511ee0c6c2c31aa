/**
 * A real redis-server for tests: a child process on 127.0.0.1, a free port and a temp directory,
 * with AOF on and fsync on every write by default (the durability Weft's cluster mode relies on).
 * Every child started here is killed when the test process exits, whatever the path out.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface RedisOptions {
  /** Data directory (AOF); a new temp directory when omitted (removed by dispose()). */
  dir?: string;
  appendonly?: boolean;
  appendfsync?: 'always' | 'everysec' | 'no';
  /** Further `--name value` arguments. */
  args?: string[];
  /** How long to wait for PING to answer after a start. */
  startTimeoutMs?: number;
}

export interface TestRedis {
  port: number;
  url: string;
  dir: string;
  /** SIGTERM (clean shutdown, AOF flushed), then SIGKILL if it has not exited within 5 s. */
  stop(): Promise<void>;
  /** Sends a signal; for one that ends the process, waits (bounded) until it has exited. */
  kill(signal: NodeJS.Signals): Promise<void>;
  /** Starts again on the same port and directory (the AOF is reloaded). */
  restart(): Promise<void>;
  /** stop() and remove a directory made here. */
  dispose(): Promise<void>;
  /** The server's output so far (for failure messages). */
  log(): string;
}

let available: boolean | undefined;

/** Whether a redis-server binary can be run here. */
export function hasRedisServer(): boolean {
  available ??= spawnSync('redis-server', ['--version'], { stdio: 'ignore', timeout: 5_000 }).status === 0;
  return available;
}

let noticeShown = false;
/** Says once per test process why the Redis suites are skipped. */
export function noticeIfRedisMissing(): void {
  if (hasRedisServer() || noticeShown) return;
  noticeShown = true;
  console.warn('Redis suites skipped: no redis-server on PATH (Debian package redis-server; .ci/run installs it)');
}

const children = new Set<ChildProcess>();
const killChildren = () => {
  for (const child of children) child.kill('SIGKILL');
};
process.once('exit', killChildren);
// A signal ends the process without 'exit': kill the servers, then die of the same signal.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    killChildren();
    process.kill(process.pid, signal);
  });
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port ? resolve(port) : reject(new Error('no free port'))));
    });
  });
}

/** One PING over a plain socket; true on +PONG within `timeoutMs`. */
function ping(port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let answer = '';
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once('error', () => done(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (data) => {
      answer += data.toString('latin1');
      if (answer.includes('\r\n')) done(answer.startsWith('+PONG'));
    });
  });
}

function exited(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

export async function startRedis(options: RedisOptions = {}): Promise<TestRedis> {
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'weft-redis-')));
  const port = await freePort();
  const args = [
    '--port', String(port),
    '--bind', '127.0.0.1',
    '--dir', dir,
    '--appendonly', options.appendonly === false ? 'no' : 'yes',
    '--appendfsync', options.appendfsync ?? 'always',
    '--save', '',
    '--daemonize', 'no',
    '--logfile', '',
    ...(options.args ?? []),
  ];
  const startTimeoutMs = options.startTimeoutMs ?? 10_000;
  let child: ChildProcess | null = null;
  let output = '';

  const launch = async () => {
    const started = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child = started;
    children.add(started);
    started.once('exit', () => children.delete(started));
    const collect = (data: Buffer) => {
      output = (output + data.toString('utf8')).slice(-20_000);
    };
    started.stdout?.on('data', collect);
    started.stderr?.on('data', collect);
    const deadline = Date.now() + startTimeoutMs;
    while (Date.now() < deadline) {
      if (started.exitCode !== null || started.signalCode !== null) break;
      if (await ping(port, 500)) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    started.kill('SIGKILL');
    throw new Error(`redis-server on port ${port} did not answer PING within ${startTimeoutMs} ms:\n${output}`);
  };

  const kill = async (signal: NodeJS.Signals) => {
    const current = child;
    if (!current || current.exitCode !== null || current.signalCode !== null) return;
    current.kill(signal);
    if (signal === 'SIGSTOP' || signal === 'SIGCONT') return;
    if (!(await exited(current, 5_000))) {
      current.kill('SIGKILL');
      await exited(current, 5_000);
    }
  };
  const stop = async () => {
    // A stopped process does not act on SIGTERM until continued.
    child?.kill('SIGCONT');
    await kill('SIGTERM');
  };

  await launch();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    dir,
    stop,
    kill,
    restart: async () => {
      await stop();
      await launch();
    },
    dispose: async () => {
      await stop();
      if (ownDir) await rm(dir, { recursive: true, force: true });
    },
    log: () => output,
  };
}
