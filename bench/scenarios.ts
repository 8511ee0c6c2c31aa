/**
 * The measurements, each against one running server process (Weft or the relay alike).
 */
import { BenchClient, closeAll, connectClients, datasetCounts } from './client.js';
import type { HeapReport, ServerProcess } from './processes.js';
import { max, median, percentile } from './stats.js';
import { runTraffic } from './traffic.js';
import { RemoteLoader } from './remote-loader.js';

export interface Limits {
  connectMs: number;
  loadMs: number;
  drainMs: number;
}

export interface ProjectRef {
  id: number;
  tasks: number;
  counts: Record<string, number>;
}

export interface LoadFigures {
  tasks: number;
  firstMs: number;
  /** From the first request to the socket read that brought the reply's first bytes. */
  firstByteMs?: number;
  warmMs: number[];
  bytes: number;
}

export interface MemoryFigures {
  baselineKb: number;
  baselineHeapKb: number;
  /** RSS SETTLE_MS after the baseline's full GC (and a second one). */
  baselineSettledKb: number;
  /**
   * RSS and V8 heap in use after each project was loaded (cumulative), right after a full GC, and
   * RSS again SETTLE_MS later: V8 and the allocator hand freed pages back to the system in the
   * background, so RSS right after a collection still counts some of what was just freed.
   */
  afterKb: { tasks: number; rssKb: number; heapKb: number; settledKb: number }[];
  peakKb: number;
}

/** How long RSS is given to settle after a full GC before it is read again. */
export const SETTLE_MS = 2000;

export interface FanoutFigures {
  receivers: number;
  sent: number;
  expected: number;
  received: number;
  /** Other projectChange frames the receivers got (e.g. server corrections). */
  extra: number;
  p50: number;
  p99: number;
  max: number;
  cpuMs: number;
  cpuMsPer1000: number;
  /** The updates with the highest latency (worst receiver), slowest first. */
  slowest: { seq: number; latency: number }[];
}

/** One round of the paired fan-out: the same measurement on Weft and on the relays, back to back. */
export interface PairedRound {
  round: number;
  receivers: number;
  weft: FanoutFigures;
  relay: FanoutFigures;
  /** The relay writing each change to LevelDB before forwarding it. */
  persisting: FanoutFigures;
  /** The relay writing each change into a Yjs document and its update to LevelDB before forwarding it. */
  yjs: FanoutFigures;
}

export interface InterferenceFigures {
  loadMs: number;
  inWindow: number;
  p50: number;
  p99: number;
  max: number;
  outsideP99: number;
}

const heapKb = (report: HeapReport | null) => (report ? report.heapUsed / 1024 : NaN);

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** RSS after SETTLE_MS and one more full GC. */
async function settledRss(server: ServerProcess): Promise<number> {
  await sleep(SETTLE_MS);
  await server.collectGarbage();
  return server.memory().rssKb;
}

/** The dataset must hold the whole generated project, or the timing means nothing. */
function verify(server: ServerProcess, project: ProjectRef, raw: Buffer): void {
  const got = datasetCounts(raw);
  for (const [store, want] of Object.entries(project.counts)) {
    if (got[store] !== want) throw new Error(`${server.name}: project ${project.id} served ${got[store]} ${store}, expected ${want}`);
  }
}

/**
 * Per project, in order: the first load (timed), then `warmLoads` more by other clients (and
 * `warmRepeats` more by those clients again, so the warm figure is a median of enough loads), all of
 * whom stay subscribed; with `memory`, RSS after a full GC before the first and after each project.
 * Returns the clients (still connected) so the caller decides when to let go.
 */
export async function loadProjects(
  server: ServerProcess,
  projects: ProjectRef[],
  options: { warmLoads: number; warmRepeats?: number; memory: boolean; verify: boolean; limits: Limits; log: (m: string) => void },
): Promise<{ loads: LoadFigures[]; memory: MemoryFigures | null; clients: BenchClient[] }> {
  const { limits } = options;
  const clients: BenchClient[] = [];
  const loads: LoadFigures[] = [];
  let memory: MemoryFigures | null = null;
  try {
    if (options.memory) {
      const heap = await server.collectGarbage();
      const baselineKb = server.memory().rssKb;
      memory = { baselineKb, baselineHeapKb: heapKb(heap), baselineSettledKb: await settledRss(server), afterKb: [], peakKb: 0 };
    }
    for (const project of projects) {
      const batch = await connectClients(server.url, 1 + options.warmLoads, limits.connectMs);
      clients.push(...batch);
      const first = await batch[0].loadDataset(project.id, limits.loadMs);
      if (options.verify) verify(server, project, first.raw);
      const warmMs: number[] = [];
      for (const client of batch.slice(1)) warmMs.push((await client.loadDataset(project.id, limits.loadMs)).ms);
      const warm = batch.slice(1);
      for (let i = 0; i < (options.warmRepeats ?? 0) && warm.length > 0; i++) warmMs.push((await warm[i % warm.length].loadDataset(project.id, limits.loadMs)).ms);
      loads.push({ tasks: project.tasks, firstMs: first.ms, firstByteMs: first.firstByteMs, warmMs, bytes: first.bytes });
      options.log(`${server.name}: project ${project.tasks} tasks: first ${first.ms.toFixed(0)} ms (first byte ${first.firstByteMs.toFixed(0)} ms), warm ${warmMs.map((m) => m.toFixed(0)).join('/')} ms, ${(first.bytes / 1e6).toFixed(1)} MB`);
      if (memory) {
        // Memory with the project's document in it, not only the texts a cold open serves first.
        if (server.name === 'Weft' && !(await server.projectLoaded(project.id, limits.loadMs))) options.log(`${server.name}: project ${project.id} not reported loaded`);
        const heap = await server.collectGarbage();
        const rssKb = server.memory().rssKb;
        memory.afterKb.push({ tasks: project.tasks, rssKb, heapKb: heapKb(heap), settledKb: await settledRss(server) });
      }
    }
    if (memory) memory.peakKb = server.memory().peakKb;
  } catch (e) {
    await closeAll(clients);
    throw e;
  }
  return { loads, memory, clients };
}

/** Subscribe `count` logged-in clients to a project (each loads its dataset). */
async function subscribed(server: ServerProcess, project: number, count: number, limits: Limits): Promise<BenchClient[]> {
  const clients = await connectClients(server.url, count, limits.connectMs);
  try {
    for (const client of clients) await client.loadDataset(project, limits.loadMs);
  } catch (e) {
    await closeAll(clients);
    throw e;
  }
  return clients;
}

/** One sender, `receivers` other subscribers; `count` updates every `intervalMs`; server CPU around it. */
export async function fanout(
  server: ServerProcess,
  project: number,
  receivers: number,
  options: { count: number; intervalMs: number; limits: Limits },
): Promise<FanoutFigures> {
  const clients = await subscribed(server, project, receivers + 1, options.limits);
  try {
    await sleep(500); // let login/users announcements settle
    const cpu0 = server.cpuMs();
    const r = await runTraffic({
      sender: clients[0],
      receivers: clients.slice(1),
      project,
      intervalMs: options.intervalMs,
      maxCount: options.count,
      drainTimeoutMs: options.limits.drainMs,
    });
    const cpuMs = server.cpuMs() - cpu0;
    const latencies = r.samples.map((s) => s.latency);
    const worst = new Map<number, number>();
    for (const s of r.samples) worst.set(s.seq, Math.max(worst.get(s.seq) ?? 0, s.latency));
    const slowest = [...worst].sort((a, b) => b[1] - a[1]).slice(0, 5).map(([seq, latency]) => ({ seq, latency }));
    return {
      slowest,
      receivers,
      sent: r.sent,
      expected: r.expected,
      received: r.received,
      extra: r.extra,
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      max: max(latencies),
      cpuMs,
      cpuMsPer1000: r.received > 0 ? (cpuMs * 1000) / r.received : NaN,
    };
  } finally {
    await closeAll(clients);
  }
}

/**
 * `receivers` clients on `project` get updates every `intervalMs` while loading clients (one per
 * load, in a process of their own, as another user's browser would be) request `bigProject` one
 * after another; latency of updates sent during each load, and of the updates sent outside any load.
 */
export async function latencyDuringLoads(
  server: ServerProcess,
  project: number,
  bigProject: ProjectRef,
  loads: number,
  options: { receivers: number; intervalMs: number; limits: Limits; log: (m: string) => void },
): Promise<InterferenceFigures[]> {
  const clients = await subscribed(server, project, options.receivers + 1, options.limits);
  const loader = await RemoteLoader.start(server.url, bigProject.id, loads, options.limits.connectMs).catch(async (e) => {
    await closeAll(clients);
    throw e;
  });
  try {
    await sleep(500);
    const out: InterferenceFigures[] = [];
    for (let load = 0; load < loads; load++) {
      let done = false;
      const traffic = runTraffic({
        sender: clients[0],
        receivers: clients.slice(1),
        project,
        intervalMs: options.intervalMs,
        maxCount: 5000,
        stop: () => done,
        drainTimeoutMs: options.limits.drainMs,
      });
      await sleep(500);
      const start = performance.now();
      let loadMs: number;
      try {
        loadMs = (await loader.load(options.limits.loadMs)).ms;
      } finally {
        // Let traffic run on a little so delayed updates are seen, then stop it either way.
        await sleep(500);
        done = true;
      }
      const r = await traffic;
      const end = start + loadMs;
      const inside: number[] = [];
      const outside: number[] = [];
      for (const s of r.samples) (r.sentAt[s.seq] >= start && r.sentAt[s.seq] <= end ? inside : outside).push(s.latency);
      options.log(`${server.name}: ${bigProject.tasks}-task load ${loadMs.toFixed(0)} ms under traffic; ${inside.length} deliveries in window, ${r.received}/${r.expected} delivered`);
      out.push({ loadMs, inWindow: inside.length, p50: median(inside), p99: percentile(inside, 99), max: max(inside), outsideP99: percentile(outside, 99) });
    }
    return out;
  } finally {
    await closeAll(clients);
    await loader.close();
  }
}
