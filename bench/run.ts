/**
 * `npm run bench`: Weft against a bare relay on generated projects of 1k, 10k and 100k tasks.
 *
 * Environment:
 *   BENCH_SIZES=1000,10000   other project sizes (the first is the fan-out project, the last the big one)
 *   BENCH_CPU_PROF=DIR       run Weft with --cpu-prof, profiles written to DIR/weft-<part>/
 *   BENCH_KEEP=1             keep the temp dir (seeds, config, data dir) and print its path
 *   BENCH_PARTS=a,b          run only these parts: `sizes` (loads, memory, fan-out on the sizes
 *                            above) and `production` (many projects, join storm); default both
 *   BENCH_MANY=200x5         projects x clients per project of the production part
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { promisify } from 'node:util';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { killAllChildren, ServerProcess } from './processes.js';
import { report, type SpacingProbe, type TargetResults, type YjsFloor } from './report.js';
import { fanout, latencyDuringLoads, loadProjects, type FanoutFigures, type Limits, type MemoryFigures, type PairedRound, type ProjectRef } from './scenarios.js';
import { median } from './stats.js';
import { closeAll } from './client.js';
import { label, writeBenchFiles } from './seed-gen.js';
import { benchProduction, productionReport } from './production-run.js';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const WEFT_MAIN = join(HERE, '..', 'src', 'cli', 'main.js');
const RELAY_MAIN = join(HERE, 'relay.js');
const GC_PRELOAD = join(HERE, 'gc-signal.js');
const YJS_FLOOR_MAIN = join(HERE, 'yjs-floor.js');
const SPACING_PROBE_MAIN = join(HERE, 'spacing-probe.js');

const SIZES = (process.env.BENCH_SIZES ?? '1000,10000,100000').split(',').map(Number);
if (SIZES.length === 0 || SIZES.some((n, i) => !Number.isInteger(n) || n < 1000 || (i > 0 && n <= SIZES[i - 1]))) {
  throw new Error('BENCH_SIZES: ascending task counts, the smallest at least 1000 (updates go round its first 1000 tasks)');
}
const FANOUT_RECEIVERS = [10, 100];
/** Paired fan-out rounds (Weft and the relay running side by side, taking turns). */
const PAIRED_ROUNDS = 5;
/** Relay memory is measured this many times (a process per count of projects held); medians are kept. */
const RELAY_MEMORY_RUNS = 3;
const UPDATES = 300;
const INTERVAL_MS = 5;
const RECEIVERS_DURING_LOAD = 10;
const WARM_LOADS = 3;
/** More warm loads by the same clients: the warm figure is the median of WARM_LOADS + WARM_REPEATS. */
const WARM_REPEATS = 4;
const LIMITS: Limits = { connectMs: 10_000, loadMs: 120_000, drainMs: 10_000 };
const START_MS = 60_000;
const STOP_MS = 120_000;
const WHOLE_RUN_MS = 15 * 60_000;

const t0 = performance.now();
const log = (m: string) => process.stderr.write(`[bench ${((performance.now() - t0) / 1000).toFixed(1).padStart(6)}s] ${m}\n`);

const tempRoot = mkdtempSync(join(tmpdir(), 'weft-bench-'));
const keep = process.env.BENCH_KEEP === '1';
process.on('exit', () => {
  killAllChildren();
  if (!keep) rmSync(tempRoot, { recursive: true, force: true });
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => process.exit(130));
setTimeout(() => {
  log(`giving up: the whole run took longer than ${WHOLE_RUN_MS / 60_000} minutes`);
  process.exit(1);
}, WHOLE_RUN_MS).unref();

function startWeft(configFile: string, dataDir: string, tag: string): Promise<ServerProcess> {
  const profileDir = process.env.BENCH_CPU_PROF;
  // A directory per start: the main thread and the merge worker each write a profile (default names).
  const dir = profileDir ? resolve(profileDir, `weft-${tag}`) : '';
  const nodeFlags = profileDir ? ['--cpu-prof', '--cpu-prof-dir', dir] : [];
  if (profileDir) mkdirSync(dir, { recursive: true });
  return ServerProcess.start({
    name: 'Weft',
    args: [WEFT_MAIN, 'serve', '--config', configFile, '--host', '127.0.0.1', '--port', '0', '--data-dir', dataDir],
    gcPreload: GC_PRELOAD,
    timeoutMs: START_MS,
    nodeFlags,
  });
}

/**
 * `persistDir`: the relay writes each change to a LevelDB there before forwarding it; with `yjs`,
 * it writes the change into a Yjs document first and stores the document's update.
 */
function startRelay(configFile: string, projects: number[], persistDir?: string, yjs = false): Promise<ServerProcess> {
  return ServerProcess.start({
    name: persistDir ? (yjs ? 'relay+Yjs+LevelDB' : 'relay+LevelDB') : 'relay',
    args: [RELAY_MAIN, '--config', configFile, '--port', '0', '--projects', projects.join(','), ...(persistDir ? ['--persist', persistDir] : []), ...(yjs ? ['--yjs'] : [])],
    gcPreload: GC_PRELOAD,
    timeoutMs: START_MS,
  });
}

async function stop(server: ServerProcess): Promise<number> {
  const { code, ms, killed } = await server.stop(STOP_MS);
  if (killed || code !== 0) log(`${server.name} stopped with code ${code}${killed ? ' (killed after timeout)' : ''}; stderr:\n${server.stderrTail()}`);
  return ms;
}

/** Run `body` against a started server, stopping it afterwards whatever happens. */
async function withServer<T>(start: Promise<ServerProcess>, body: (s: ServerProcess) => Promise<T>): Promise<{ result: T; stopMs: number }> {
  const server = await start;
  try {
    const result = await body(server);
    return { result, stopMs: await stop(server) };
  } catch (e) {
    log(`${server.name} failed; its stderr:\n${server.stderrTail()}`);
    await server.stop(5_000).catch(() => undefined);
    throw e;
  }
}

async function fanouts(server: ServerProcess, project: number, when: string) {
  const out = [];
  for (const receivers of FANOUT_RECEIVERS) {
    const f = await fanout(server, project, receivers, { count: UPDATES, intervalMs: INTERVAL_MS, limits: LIMITS });
    const slowest = f.slowest.map((s) => `#${s.seq} ${s.latency.toFixed(0)}`).join(', ');
    log(`${server.name} (${when}): fan-out to ${receivers}: p50 ${f.p50.toFixed(2)} ms, p99 ${f.p99.toFixed(2)} ms, ${f.received}/${f.expected} delivered, CPU ${f.cpuMs} ms; slowest updates (ms): ${slowest}`);
    out.push(f);
  }
  return out;
}

async function benchWeft(configFile: string, projects: ProjectRef[]): Promise<TargetResults> {
  const dataDir = join(tempRoot, 'weft-data');
  const small = projects[0];
  const big = projects[projects.length - 1];

  log('Weft: first start on an empty data dir (seed import)');
  const imported = await withServer(startWeft(configFile, dataDir, 'import'), async (server) => {
    const { loads, clients } = await loadProjects(server, projects, { warmLoads: 1, memory: false, verify: true, limits: LIMITS, log });
    await closeAll(clients);
    return loads;
  });
  log(`Weft: shutdown took ${imported.stopMs.toFixed(0)} ms`);

  log('Weft: restart; cold loads from LevelDB, memory, fan-out');
  const main = await withServer(startWeft(configFile, dataDir, 'main'), async (server) => {
    const { loads, memory, clients } = await loadProjects(server, projects, { warmLoads: WARM_LOADS, warmRepeats: WARM_REPEATS, memory: true, verify: true, limits: LIMITS, log });
    await closeAll(clients);
    const fan = await fanouts(server, small.id, 'all projects loaded');
    return { loads, memory: memory!, fan };
  });

  log('Weft: restart; fan-out with only the small project loaded, then latency while the big project loads (cold, then warm)');
  const during = await withServer(startWeft(configFile, dataDir, 'during-load'), async (server) => {
    const fan = await fanouts(server, small.id, 'fresh');
    const loads = await latencyDuringLoads(server, small.id, big, 2, { receivers: RECEIVERS_DURING_LOAD, intervalMs: INTERVAL_MS, limits: LIMITS, log });
    return { fan, loads };
  });

  return {
    importLoads: imported.result,
    coldLoads: main.result.loads,
    memory: main.result.memory,
    fanout: during.result.fan,
    fanoutAllLoaded: main.result.fan,
    duringLoad: { cold: during.result.loads[0], warm: during.result.loads[1] },
    stopMs: imported.stopMs,
  };
}

async function benchRelay(configFile: string, projects: ProjectRef[]): Promise<TargetResults> {
  const small = projects[0];
  const big = projects[projects.length - 1];

  // The relay parses its seeds at start, so memory per project comes from relays holding 0..n
  // projects, one process each; separate processes differ by tens of MB, so each is measured
  // RELAY_MEMORY_RUNS times and the medians are kept.
  log(`relay: memory with 0..n projects held (${RELAY_MEMORY_RUNS} runs each)`);
  const runs: MemoryFigures[][] = Array.from({ length: projects.length + 1 }, () => []);
  for (let run = 0; run < RELAY_MEMORY_RUNS; run++) {
    for (let n = 0; n <= projects.length; n++) {
      const held = projects.slice(0, n);
      const { result } = await withServer(startRelay(configFile, held.map((p) => p.id)), async (server) => {
        const { memory, clients } = await loadProjects(server, held, { warmLoads: WARM_LOADS, memory: true, verify: false, limits: LIMITS, log: () => undefined });
        await closeAll(clients);
        return memory!;
      });
      runs[n].push(result);
    }
  }
  const baselineKb = median(runs[0].map((m) => m.baselineKb));
  const baselineHeapKb = median(runs[0].map((m) => m.baselineHeapKb));
  const baselineSettledKb = median(runs[0].map((m) => m.baselineSettledKb));
  const afterKb: MemoryFigures['afterKb'] = runs.slice(1).map((list, i) => {
    const last = list.map((m) => m.afterKb[m.afterKb.length - 1]);
    return {
      tasks: projects[i].tasks,
      rssKb: median(last.map((a) => a.rssKb)),
      heapKb: median(last.map((a) => a.heapKb)),
      settledKb: median(last.map((a) => a.settledKb)),
    };
  });
  const peakKb = median(runs[projects.length].map((m) => m.peakKb));

  log('relay: all projects; loads, memory, fan-out');
  const main = await withServer(startRelay(configFile, projects.map((p) => p.id)), async (server) => {
    const { loads, clients } = await loadProjects(server, projects, { warmLoads: WARM_LOADS, warmRepeats: WARM_REPEATS, memory: false, verify: true, limits: LIMITS, log });
    await closeAll(clients);
    const fan = await fanouts(server, small.id, 'all projects loaded');
    return { loads, fan };
  });

  log('relay: restart; fan-out, then latency while the big project loads (first, then again)');
  const during = await withServer(startRelay(configFile, projects.map((p) => p.id)), async (server) => {
    const fan = await fanouts(server, small.id, 'fresh');
    const loads = await latencyDuringLoads(server, small.id, big, 2, { receivers: RECEIVERS_DURING_LOAD, intervalMs: INTERVAL_MS, limits: LIMITS, log });
    return { fan, loads };
  });

  return {
    coldLoads: main.result.loads,
    memory: { baselineKb, baselineHeapKb, baselineSettledKb, afterKb, peakKb },
    fanout: during.result.fan,
    fanoutAllLoaded: main.result.fan,
    duringLoad: { cold: during.result.loads[0], warm: during.result.loads[1] },
  };
}

/**
 * Fan-out with a Weft process, a relay, a relay that writes to LevelDB and one that also keeps a
 * Yjs document running side by side, in rounds that rotate which goes first, so all see the same
 * machine: this machine's noise moves single runs by tens of percent, and paired rounds let the
 * ratio be taken per round.
 */
async function pairedFanouts(configFile: string, small: ProjectRef): Promise<PairedRound[]> {
  log(`paired fan-out: Weft and three relays (plain, writing to LevelDB, keeping a Yjs document) side by side, ${PAIRED_ROUNDS} rounds`);
  const started: ServerProcess[] = [];
  try {
    const weft = await startWeft(configFile, join(tempRoot, 'weft-data'), 'paired');
    started.push(weft);
    const relay = await startRelay(configFile, [small.id]);
    started.push(relay);
    const persisting = await startRelay(configFile, [small.id], join(tempRoot, 'relay-level'));
    started.push(persisting);
    const yjs = await startRelay(configFile, [small.id], join(tempRoot, 'relay-yjs'), true);
    started.push(yjs);
    const servers = [relay, weft, persisting, yjs];
    const rounds: PairedRound[] = [];
    for (let round = 0; round < PAIRED_ROUNDS; round++) {
      for (const receivers of FANOUT_RECEIVERS) {
        const first = round % servers.length;
        const order = [...servers.slice(first), ...servers.slice(0, first)];
        const figures = new Map<ServerProcess, FanoutFigures>();
        for (const server of order) figures.set(server, await fanout(server, small.id, receivers, { count: UPDATES, intervalMs: INTERVAL_MS, limits: LIMITS }));
        const [w, r, l, y] = [weft, relay, persisting, yjs].map((s) => figures.get(s)!);
        const vs = (f: FanoutFigures) => `${f.p99.toFixed(2)} ms (${(f.p99 / r.p99).toFixed(2)}x)`;
        log(`paired round ${round + 1}, ${receivers} receivers: p99 relay ${r.p99.toFixed(2)} ms, Weft ${vs(w)}, relay+LevelDB ${vs(l)}, relay+Yjs+LevelDB ${vs(y)}`);
        rounds.push({ round: round + 1, receivers, weft: w, relay: r, persisting: l, yjs: y });
      }
    }
    for (const server of started.splice(0).reverse()) await stop(server);
    return rounds;
  } catch (e) {
    for (const server of started) {
      log(`${server.name} stderr:\n${server.stderrTail()}`);
      await server.stop(5_000).catch(() => undefined);
    }
    throw e;
  }
}

/** Run a bench script in a process of its own; it prints one JSON line. */
async function jsonFromScript<T>(args: string[]): Promise<T> {
  const { stdout } = await promisify(execFile)(process.execPath, args, { timeout: START_MS });
  return JSON.parse(stdout) as T;
}

/** The Yjs structure alone for the big project's records (a Y.Map per record). */
function yjsFloor(big: ProjectRef): Promise<YjsFloor> {
  log(`the Yjs structure alone for ${label(big.tasks)} tasks' records`);
  return jsonFromScript(['--expose-gc', YJS_FLOOR_MAIN, ...Object.entries(big.counts).map(([store, n]) => `${store}=${n}`)]);
}

/** How much a gap between small pieces of work slows them on this machine. */
function spacingProbe(): Promise<SpacingProbe> {
  log('the same small work back to back and spaced out');
  return jsonFromScript([SPACING_PROBE_MAIN]);
}

const PARTS = new Set((process.env.BENCH_PARTS ?? 'sizes,production').split(','));
const [MANY_PROJECTS, MANY_CLIENTS] = (process.env.BENCH_MANY ?? '200x5').split('x').map(Number);

async function production(): Promise<string> {
  const results = await benchProduction({
    tempRoot,
    projects: MANY_PROJECTS,
    perProject: MANY_CLIENTS,
    tasks: 100,
    seconds: 20,
    intervalMs: 1000,
    joiners: 500,
    timeoutMs: 120_000,
    log,
    startWeft,
    startRelay,
    withServer,
  });
  return productionReport(results);
}

async function main(): Promise<void> {
  const tables: string[] = [];
  if (PARTS.has('production')) tables.push(await production());
  if (PARTS.has('sizes')) tables.push(await sizes());
  process.stdout.write(`\n${tables.join('\n\n')}\n`);
  log(`done in ${((performance.now() - t0) / 1000).toFixed(0)} s${keep ? `; kept ${tempRoot}` : ''}`);
}

async function sizes(): Promise<string> {
  log(`temp dir ${tempRoot}; generating projects of ${SIZES.map(label).join(', ')} tasks`);
  const files = writeBenchFiles(tempRoot, SIZES);
  const projects: ProjectRef[] = files.projects.map((p) => ({
    id: p.id,
    tasks: p.tasks,
    counts: { tasks: p.tasks, dependencies: p.dependencies, resources: p.resources, assignments: p.assignments },
  }));
  for (const p of files.projects) log(`project ${p.id}: ${p.tasks} tasks, ${p.dependencies} dependencies, ${p.resources} resources, ${p.assignments} assignments`);

  const relay = await benchRelay(files.configFile, projects);
  const weft = await benchWeft(files.configFile, projects);
  const paired = await pairedFanouts(files.configFile, projects[0]);
  const floor = await yjsFloor(projects[projects.length - 1]);
  const spacing = await spacingProbe();

  return report(weft, relay, paired, floor, spacing, {
    count: UPDATES,
    intervalMs: INTERVAL_MS,
    receiversDuringLoad: RECEIVERS_DURING_LOAD,
    bigTasks: projects[projects.length - 1].tasks,
  });
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    log(`failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    process.exit(1);
  },
);
