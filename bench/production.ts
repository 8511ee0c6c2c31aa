/**
 * The production shape (issue: many projects, join storms): many small projects with a few
 * clients each, and many clients joining one project at once. Each scenario runs against one
 * server process (Weft or a relay alike) and returns its figures.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BenchClient, closeAll } from './client.js';
import type { ServerProcess } from './processes.js';
import { generateSeed } from './seed-gen.js';
import { max, percentile } from './stats.js';

/** `count` projects of `tasks` tasks each (ids 1..count), and a config serving them to anyone. */
export function writeManyProjects(dir: string, count: number, tasks: number): { configFile: string; ids: number[] } {
  const { data } = generateSeed(tasks, 77);
  const seed = join(dir, `small-${tasks}.json`);
  writeFileSync(seed, JSON.stringify(data));
  const ids = Array.from({ length: count }, (_, i) => i + 1);
  const config = {
    projects: ids.map((id) => ({ id, name: `Small ${id}`, seed })),
    users: {},
    groups: {},
    anonymous: { enabled: true, projects: ids },
    // One connection sends at most 1 change/s here; the bench's own fan-out senders go faster.
    limits: { maxMessagesPerSecond: 10_000, messageBurst: 10_000 },
  };
  const configFile = join(dir, `config-many-${count}.json`);
  writeFileSync(configFile, JSON.stringify(config, null, 2));
  return { configFile, ids };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Connect, log in (as `name`) and load `project`: the client, subscribed. */
export async function join_(url: string, name: string, project: number, timeoutMs: number): Promise<BenchClient> {
  const client = await BenchClient.connect(url, timeoutMs);
  try {
    await client.login(name, '', timeoutMs);
    await client.loadDataset(project, timeoutMs);
    return client;
  } catch (e) {
    await client.close();
    throw e;
  }
}

export interface JoinFigures {
  clients: number;
  /** From the first connect to the last dataset received. */
  ms: number;
  cpuMs: number;
}

/** `count` clients with names of their own connect, log in and load `project` at once. */
export async function joinStorm(server: ServerProcess, project: number, count: number, timeoutMs: number): Promise<JoinFigures & { clients_: BenchClient[] }> {
  const cpu0 = server.cpuMs();
  const t0 = performance.now();
  const settled = await Promise.allSettled(Array.from({ length: count }, (_, i) => join_(server.url, `user${i + 1}`, project, timeoutMs)));
  const ms = performance.now() - t0;
  const clients = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failed = settled.find((s) => s.status === 'rejected');
  if (failed) {
    await closeAll(clients);
    throw new Error(`${server.name}: ${count - clients.length} of ${count} clients did not join: ${(failed as PromiseRejectedResult).reason}`);
  }
  return { clients: count, ms, cpuMs: server.cpuMs() - cpu0, clients_: clients };
}

export interface ManyFigures {
  projects: number;
  clients: number;
  /** Everyone connected, logged in and loaded, from the first connect. */
  joinMs: number;
  sent: number;
  expected: number;
  received: number;
  p50: number;
  p99: number;
  max: number;
  /** Server CPU over the traffic window, in % of one core. */
  cpuPct: number;
  rssMb: number;
  /** RSS 2 s after a full GC, clients still connected. */
  settledRssMb: number;
  /** The slowest deliveries: latency and when the change was sent (ms from the start of the traffic). */
  slowest: { latency: number; sentMs: number }[];
}

/**
 * `perProject` clients on each project join at once; then each sends one change per
 * `intervalMs` (its own task's name, so no two clients write one field) for `seconds`, and the
 * project's other clients timestamp its arrival.
 */
export async function manyProjects(server: ServerProcess, ids: number[], perProject: number, seconds: number, intervalMs: number, timeoutMs: number): Promise<ManyFigures> {
  const storm = await (async () => {
    const t0 = performance.now();
    const jobs = ids.flatMap((project) => Array.from({ length: perProject }, (_, k) => join_(server.url, `p${project}u${k + 1}`, project, timeoutMs)));
    const settled = await Promise.allSettled(jobs);
    const clients = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    const failed = settled.find((s) => s.status === 'rejected');
    if (failed) {
      await closeAll(clients);
      throw new Error(`${server.name}: ${jobs.length - clients.length} of ${jobs.length} clients did not join: ${(failed as PromiseRejectedResult).reason}`);
    }
    return { ms: performance.now() - t0, clients };
  })();
  const clients = storm.clients;
  try {
    const byProject = new Map<number, BenchClient[]>();
    clients.forEach((c, i) => {
      const project = ids[Math.floor(i / perProject)];
      byProject.set(project, [...(byProject.get(project) ?? []), c]);
    });
    const sentAt = new Map<string, number>();
    const latencies: number[] = [];
    const samples: { latency: number; sent: number }[] = [];
    for (const c of clients) {
      c.onChange = (raw, at) => {
        const name = /"name":"(m[^"]*)"/.exec(raw.toString('latin1'))?.[1];
        const t = name === undefined ? undefined : sentAt.get(name);
        if (t === undefined) return;
        latencies.push(at - t);
        samples.push({ latency: at - t, sent: t });
      };
    }
    await sleep(500);
    const cpu0 = server.cpuMs();
    const t0 = performance.now();
    let sent = 0;
    let expected = 0;
    // Senders start spread over the interval, as real users do not type in step.
    const rounds = Math.round((seconds * 1000) / intervalMs);
    const senders = [...byProject].flatMap(([project, list]) => list.map((client, k) => ({ project, client, task: k + 1, others: list.length - 1 })));
    await Promise.all(
      senders.map(async (s, i) => {
        const offset = (i / senders.length) * intervalMs;
        for (let round = 0; round < rounds; round++) {
          const wait = t0 + offset + round * intervalMs - performance.now();
          if (wait > 0) await sleep(wait);
          const name = `m${s.project}-${s.task}-${round}`;
          sentAt.set(name, performance.now());
          s.client.send({ command: 'projectChange', project: s.project, changes: { tasks: { updated: [{ id: s.task, name }] } } });
          sent++;
          expected += s.others;
        }
      }),
    );
    const drainUntil = performance.now() + 10_000;
    while (latencies.length < expected && performance.now() < drainUntil) await sleep(50);
    const cpuMs = server.cpuMs() - cpu0;
    const wallMs = performance.now() - t0;
    const rssMb = server.memory().rssKb / 1024;
    await server.collectGarbage();
    await sleep(2000);
    await server.collectGarbage();
    const settledRssMb = server.memory().rssKb / 1024;
    const sorted = [...latencies].sort((a, b) => a - b);
    return {
      projects: ids.length,
      clients: clients.length,
      joinMs: storm.ms,
      sent,
      expected,
      received: latencies.length,
      p50: percentile(sorted, 50),
      p99: percentile(sorted, 99),
      max: max(sorted),
      cpuPct: (cpuMs / wallMs) * 100,
      rssMb,
      settledRssMb,
      slowest: samples
        .sort((a, b) => b.latency - a.latency)
        .slice(0, 8)
        .map((x) => ({ latency: x.latency, sentMs: x.sent - t0 })),
    };
  } finally {
    for (const c of clients) c.onChange = null;
    await closeAll(clients);
  }
}

export interface RateStep {
  rate: number;
  sent: number;
  received: number;
  expected: number;
  p99: number;
  /** Every change delivered to every receiver with p99 under the bound. */
  ok: boolean;
}

export interface RateFigures {
  receivers: number;
  /** The highest rate of the ladder sustained (0: not even the first). */
  best: number;
  steps: RateStep[];
}

/** Changes per second tried in turn, each for RATE_STEP_MS, until one is not sustained. */
const RATES = [250, 500, 1000, 2000, 3000, 4000, 6000, 8000, 12_000, 16_000, 24_000, 32_000];
const RATE_STEP_MS = 2000;
/** A rate is sustained when every change reaches every receiver with this p99 (ms). */
export const RATE_P99_MS = 100;
/** One sender connection sends at most this many changes per second (below Weft's per-connection limit in this config). */
const PER_SENDER = 4000;

/**
 * The highest rate of changes one project sustains with `receivers` receivers: rates from RATES
 * in turn, each for RATE_STEP_MS, sent in 5 ms ticks by enough sender connections (each its own
 * tasks, so no two write one field); a rate is sustained when every change reaches every receiver
 * within the drain time and the p99 stays under RATE_P99_MS. Stops at the first rate that is not.
 */
export async function highestRate(server: ServerProcess, project: number, receivers: number, timeoutMs: number, log: (m: string) => void): Promise<RateFigures> {
  const maxSenders = Math.ceil(RATES[RATES.length - 1] / PER_SENDER);
  const clients: BenchClient[] = [];
  try {
    for (let i = 0; i < receivers + maxSenders; i++) clients.push(await join_(server.url, `rate${i + 1}`, project, timeoutMs));
    const receiving = clients.slice(0, receivers);
    const sending = clients.slice(receivers);
    for (const c of sending) c.onChange = () => undefined;
    await sleep(500);
    const steps: RateStep[] = [];
    let best = 0;
    let run = 0;
    for (const rate of RATES) {
      run++;
      const sentAt: number[] = [];
      const latencies: number[] = [];
      let expected = Infinity;
      let allIn: (() => void) | null = null;
      const prefix = `r${run}x`;
      const pattern = new RegExp(`"name":"${prefix}(\\d+)"`);
      for (const c of receiving) {
        c.onChange = (raw, at) => {
          const seq = pattern.exec(raw.toString('latin1'))?.[1];
          const t = seq === undefined ? undefined : sentAt[Number(seq)];
          if (t === undefined) return;
          latencies.push(at - t);
          if (latencies.length >= expected) allIn?.();
        };
      }
      const senders = sending.slice(0, Math.ceil(rate / PER_SENDER));
      const t0 = performance.now();
      let seq = 0;
      while (performance.now() - t0 < RATE_STEP_MS) {
        const due = Math.min(Math.floor(((performance.now() - t0) * rate) / 1000), Math.floor((RATE_STEP_MS * rate) / 1000));
        for (; seq < due; seq++) {
          const k = seq % senders.length;
          // Sender k writes tasks k+1, k+1+senders, ...: no two senders write one task.
          const id = 1 + ((k + senders.length * (Math.floor(seq / senders.length) % 10)) % 100);
          sentAt[seq] = performance.now();
          senders[k].send({ command: 'projectChange', project, changes: { tasks: { updated: [{ id, name: `${prefix}${seq}` }] } } });
        }
        await sleep(5);
      }
      expected = seq * receiving.length;
      if (latencies.length < expected) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 5000);
          allIn = () => (clearTimeout(timer), resolve());
        });
      }
      for (const c of receiving) c.onChange = null;
      const p99 = percentile(latencies, 99);
      const ok = latencies.length === expected && p99 < RATE_P99_MS;
      steps.push({ rate, sent: seq, received: latencies.length, expected, p99, ok });
      log(`${server.name}: ${rate} changes/s to ${receivers} receivers: ${latencies.length}/${expected} delivered, p99 ${p99.toFixed(1)} ms${ok ? '' : ' (not sustained)'}`);
      if (!ok) break;
      best = rate;
      await sleep(1000);
    }
    return { receivers, best, steps };
  } finally {
    await closeAll(clients);
  }
}
