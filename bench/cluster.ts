/**
 * `npm run bench:cluster`: the many-projects shape (200 projects x 5 classic clients, each sending
 * one change a second) on one node without Redis, one node with Redis, and three nodes sharing one
 * Redis with each project's clients spread over them. Per setup: CPU per change (Weft processes
 * and Redis apart), delivery latency (all, and between clients on different nodes), Redis commands
 * per change. Everything on 127.0.0.1; the setups run one after another on the same machine.
 *
 * Environment: BENCH_MANY=200x5 (projects x clients), BENCH_SECONDS=20, BENCH_TASKS=100.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { closeAll, type BenchClient } from './client.js';
import { join_, writeManyProjects } from './production.js';
import { killAllChildren, ServerProcess } from './processes.js';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const WEFT_MAIN = join(HERE, '..', 'src', 'cli', 'main.js');
const GC_PRELOAD = join(HERE, 'gc-signal.js');
const [PROJECTS, PER_PROJECT] = (process.env.BENCH_MANY ?? '200x5').split('x').map(Number);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 20);
const TASKS = Number(process.env.BENCH_TASKS ?? 100);
const INTERVAL_MS = 1000;
const TIMEOUT_MS = 120_000;

const log = (m: string) => process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${m}\n`);
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** A redis-server of the bench's own, with AOF (fsync every second, as a deployment would). */
class BenchRedis {
  private constructor(
    readonly child: ChildProcess,
    readonly port: number,
  ) {}

  static async start(dir: string): Promise<BenchRedis> {
    const port = await freePort();
    const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'everysec', '--save', ''], { stdio: 'ignore' });
    const redis = new BenchRedis(child, port);
    for (let i = 0; i < 100; i++) {
      if ((await redis.command('PING').catch(() => '')).startsWith('+PONG')) return redis;
      await sleep(50);
    }
    child.kill('SIGKILL');
    throw new Error('redis-server did not answer');
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** One inline command; the raw reply. */
  command(text: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = createConnection({ host: '127.0.0.1', port: this.port });
      let reply = '';
      const timer = setTimeout(() => (socket.destroy(), reject(new Error('no reply'))), 5000);
      socket.once('error', (e) => (clearTimeout(timer), reject(e)));
      socket.on('connect', () => socket.write(`${text}\r\n`));
      socket.on('data', (d) => {
        reply += d.toString('latin1');
        // A bulk reply is complete once its declared length arrived.
        const bulk = /^\$(\d+)\r\n/.exec(reply);
        if (!bulk || reply.length >= bulk[0].length + Number(bulk[1]) + 2) {
          clearTimeout(timer);
          socket.end();
          resolve(reply);
        }
      });
    });
  }

  /** Commands processed and CPU seconds used so far (INFO). */
  async counters(): Promise<{ commands: number; cpuMs: number }> {
    const info = await this.command('INFO');
    const field = (name: string) => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1] ?? NaN);
    return { commands: field('total_commands_processed'), cpuMs: (field('used_cpu_sys') + field('used_cpu_user')) * 1000 };
  }

  async stop(): Promise<void> {
    this.child.kill('SIGTERM');
    await new Promise((resolve) => this.child.once('exit', resolve));
  }
}

interface Setup {
  name: string;
  nodes: number;
  redis: boolean;
}

interface Figures {
  setup: string;
  changes: number;
  deliveries: number;
  expected: number;
  weftCpuMsPerChange: number;
  redisCpuMsPerChange: number | null;
  redisCommandsPerChange: number | null;
  p50: number;
  p99: number;
  crossP50: number | null;
  crossP99: number | null;
  joinMs: number;
}

const percentile = (sorted: number[], p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : NaN);

async function runSetup(setup: Setup, configFile: string, ids: number[], root: string): Promise<Figures> {
  const dir = join(root, setup.name.replace(/\W+/g, '-'));
  mkdirSync(dir, { recursive: true });
  const redis = setup.redis ? await BenchRedis.start(dir) : null;
  const servers: ServerProcess[] = [];
  let clients: BenchClient[] = [];
  try {
    for (let i = 0; i < setup.nodes; i++) {
      const args = [WEFT_MAIN, 'serve', '--config', configFile, '--host', '127.0.0.1', '--port', '0', '--data-dir', join(dir, `node${i + 1}`), '--log-level', 'warn'];
      if (redis) args.push('--redis', redis.url, '--node-id', `node${i + 1}`);
      servers.push(await ServerProcess.start({ name: `${setup.name} node ${i + 1}`, args, gcPreload: GC_PRELOAD, timeoutMs: 60_000 }));
    }
    // Client k of project p on node (p + k) mod n: every project has clients on every node.
    const nodeOf = (project: number, k: number) => (project + k) % servers.length;
    const t0 = performance.now();
    const settled = await Promise.allSettled(ids.flatMap((project) => Array.from({ length: PER_PROJECT }, (_, k) => join_(servers[nodeOf(project, k)].url, `p${project}u${k + 1}`, project, TIMEOUT_MS))));
    clients = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    const failed = settled.find((s) => s.status === 'rejected');
    if (failed) throw new Error(`${settled.length - clients.length} clients did not join: ${(failed as PromiseRejectedResult).reason}`);
    const joinMs = performance.now() - t0;
    log(`${setup.name}: ${clients.length} clients joined in ${joinMs.toFixed(0)} ms`);

    const sent = new Map<string, { at: number; node: number }>();
    const same: number[] = [];
    const cross: number[] = [];
    const senders = clients.map((client, i) => ({ client, project: ids[Math.floor(i / PER_PROJECT)], k: i % PER_PROJECT }));
    for (const s of senders) {
      const node = nodeOf(s.project, s.k);
      s.client.onChange = (raw, at) => {
        const name = /"name":"(m[^"]*)"/.exec(raw.toString('latin1'))?.[1];
        const from = name === undefined ? undefined : sent.get(name);
        if (from) (from.node === node ? same : cross).push(at - from.at);
      };
    }
    await sleep(1000);
    const cpu0 = servers.reduce((n, s) => n + s.cpuMs(), 0);
    const redis0 = redis ? await redis.counters() : null;
    const start = performance.now();
    let changes = 0;
    await Promise.all(
      senders.map(async (s, i) => {
        const offset = (i / senders.length) * INTERVAL_MS;
        for (let round = 0; round < SECONDS; round++) {
          const wait = start + offset + round * INTERVAL_MS - performance.now();
          if (wait > 0) await sleep(wait);
          const name = `m${s.project}-${s.k + 1}-${round}`;
          sent.set(name, { at: performance.now(), node: nodeOf(s.project, s.k) });
          s.client.send({ command: 'projectChange', project: s.project, changes: { tasks: { updated: [{ id: s.k + 1, name }] } } });
          changes++;
        }
      }),
    );
    const expected = changes * (PER_PROJECT - 1);
    const until = performance.now() + 15_000;
    while (same.length + cross.length < expected && performance.now() < until) await sleep(50);
    const cpuMs = servers.reduce((n, s) => n + s.cpuMs(), 0) - cpu0;
    const redis1 = redis ? await redis.counters() : null;
    const all = [...same, ...cross].sort((a, b) => a - b);
    cross.sort((a, b) => a - b);
    return {
      setup: setup.name,
      changes,
      deliveries: all.length,
      expected,
      weftCpuMsPerChange: cpuMs / changes,
      redisCpuMsPerChange: redis0 && redis1 ? (redis1.cpuMs - redis0.cpuMs) / changes : null,
      redisCommandsPerChange: redis0 && redis1 ? (redis1.commands - redis0.commands) / changes : null,
      p50: percentile(all, 50),
      p99: percentile(all, 99),
      crossP50: cross.length ? percentile(cross, 50) : null,
      crossP99: cross.length ? percentile(cross, 99) : null,
      joinMs,
    };
  } finally {
    await closeAll(clients);
    for (const s of servers) await s.stop(20_000);
    await redis?.stop();
  }
}

async function main(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'weft-bench-cluster-'));
  process.on('exit', () => {
    killAllChildren();
    rmSync(root, { recursive: true, force: true });
  });
  const { configFile, ids } = writeManyProjects(root, PROJECTS, TASKS);
  const setups: Setup[] = [
    { name: '1 node', nodes: 1, redis: false },
    { name: '1 node + Redis', nodes: 1, redis: true },
    { name: '3 nodes + Redis', nodes: 3, redis: true },
  ];
  const results: Figures[] = [];
  for (const setup of setups) {
    log(`${setup.name}: ${PROJECTS} projects x ${PER_PROJECT} clients, one change per client per second for ${SECONDS} s`);
    results.push(await runSetup(setup, configFile, ids, root));
  }
  const ms = (x: number | null) => (x === null || Number.isNaN(x) ? '-' : x.toFixed(2));
  const lines = [
    `Cluster bench: ${PROJECTS} projects x ${PER_PROJECT} classic clients, ${SECONDS} s, one change per client per second (${TASKS}-task projects)`,
    '',
    '| setup | changes | delivered | Weft CPU ms/change | Redis CPU ms/change | Redis commands/change | p50 ms | p99 ms | cross-node p50 ms | cross-node p99 ms | join ms |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
    ...results.map((r) => `| ${r.setup} | ${r.changes} | ${r.deliveries}/${r.expected} | ${ms(r.weftCpuMsPerChange)} | ${ms(r.redisCpuMsPerChange)} | ${ms(r.redisCommandsPerChange)} | ${ms(r.p50)} | ${ms(r.p99)} | ${ms(r.crossP50)} | ${ms(r.crossP99)} | ${r.joinMs.toFixed(0)} |`),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().then(
  () => process.exit(0),
  (e: Error) => {
    log(`failed: ${e.stack ?? e}`);
    process.exit(1);
  },
);
