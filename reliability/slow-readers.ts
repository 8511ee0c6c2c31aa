/**
 * Part "slow-readers": one client stops reading while 100 others receive 50 changes/s on the same
 * project. The others' delivery p99 must stay within 20% of the same traffic without the stalled
 * client, server memory must stay bounded, the stalled client must be closed with 1013, and when
 * it comes back its fresh load must equal what the others hold.
 *
 * Method: rounds of the same traffic (roundSeconds long) with and without a stalled client, in
 * pairs whose order alternates (without/with, with/without, ...) so drift of a shared machine hits
 * both sides; the figure is the median of the pairs' p99 ratios. In a with-round a fresh client
 * loads the project and pauses its socket at the start; once the server must hold more than the
 * limit for it (what every receiver got since the pause, less what the kernel holds for that
 * connection, read from /proc/net/tcp), it reads again, which is when it learns how it was closed,
 * and comes back as a client loading the project anew (compared with a witness client that applied
 * every change). The rounds run with the server told to close slow clients at a small
 * `limits.maxBufferedBytes` (1 MiB) and with 8 KiB changes, so the limit is reached in about 15 s
 * (the kernel takes ~5 MB first) instead of the many minutes the default 64 MB would take at 50
 * small changes/s; with heartbeats off, so only that limit closes the stalled client; and with
 * `storage.quietMaxMs` raised, so log folds and automatic versions wait for the quiet between
 * rounds instead of landing in one round and not its pair.
 *
 * Settings (--set slow-readers.KEY=N): receivers, perSecond, changeBytes, limitKb, pairs,
 * roundSeconds.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { closeAll, connectClients, type BenchClient } from '../bench/client.js';
import { generateSeed } from '../bench/seed-gen.js';
import { percentile } from '../bench/stats.js';
import { ClassicClient } from '../src/simulate/classic-client.js';
import { diffViews } from '../src/simulate/check.js';
import type { View } from '../src/simulate/view.js';
import { setting, type Figure, type Part, type PartContext, type PartResult } from './part.js';
import { startWeft, type Weft } from './weft-process.js';
import { StalledReader } from './readers-client.js';
import { startTraffic, type TrafficRun } from './readers-traffic.js';

const PROJECT = 1;
const TASKS = 50;
const TIMEOUT_MS = 30_000;
/** How long a stalled client may take to be closed and reload before the round gives up. */
const STALL_LIMIT_MS = 120_000;
/** Output of the server the stalled client may have read before its pause took effect. */
const HELD_MARGIN = 256 * 1024;
/** Longer than the server's storage.quietMs (1 s), so work waiting for quiet runs between rounds. */
const QUIET_MS = 2500;
const WARM_UP_MS = 5000;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

interface Round {
  stalled: boolean;
  p99: number;
  sent: number;
  expected: number;
  received: number;
  rssMaxKb: number;
  /** RSS max less RSS at the round's start. */
  rssGrowthKb: number;
  /** With a stalled client: its close code (null: not closed), whether its reload equals the others' view. */
  closeCode?: number | null;
  reloadEqual?: boolean;
  stallMs?: number;
}

/** RSS of the server every 250 ms: `start` at the last reset, `max` since. */
function rssSampler(weft: Weft): { start(): number; max(): number; reset(): void; stop(): void } {
  let start = 0;
  let peak = 0;
  const read = () => {
    try {
      return weft.process.memory().rssKb;
    } catch {
      return 0; // process gone: the round fails elsewhere
    }
  };
  const timer = setInterval(() => (peak = Math.max(peak, read())), 250);
  return { start: () => start, max: () => (peak = Math.max(peak, read())), reset: () => (start = peak = read()), stop: () => clearInterval(timer) };
}

export const slowReadersPart: Part = {
  name: 'slow-readers',
  summary: 'one client stops reading while 100 others get 50 changes/s: their p99, server memory, close 1013, clean reload',
  run,
};

async function run(ctx: PartContext): Promise<PartResult> {
  const receiversCount = setting(ctx, 'receivers', 100, 100);
  const perSecond = setting(ctx, 'perSecond', 50, 50);
  const changeBytes = setting(ctx, 'changeBytes', 8192, 8192);
  const limitBytes = setting(ctx, 'limitKb', 1024, 1024) * 1024;
  const pairs = setting(ctx, 'pairs', 3, 1);
  const roundMs = setting(ctx, 'roundSeconds', 20, 20) * 1000;

  const seedFile = join(ctx.workDir, 'seed.json');
  writeFileSync(seedFile, JSON.stringify(generateSeed(TASKS, ctx.seed).data));
  const weft = await startWeft({
    name: 'weft-slow-readers',
    dir: join(ctx.workDir, 'weft'),
    config: { projects: [{ id: PROJECT, name: 'Readers', seed: seedFile }], users: {}, groups: {}, anonymous: { enabled: true, projects: [PROJECT], readOnly: false }, limits: { maxBufferedBytes: limitBytes }, storage: { quietMaxMs: 600_000 }, heartbeatSeconds: 0 },
  });
  const clients: BenchClient[] = [];
  const simulated: ClassicClient[] = [];
  const rss = rssSampler(weft);
  const rounds: Round[] = [];
  const problems: string[] = [];
  try {
    ctx.log(`server up at ${weft.url}; connecting ${receiversCount} receivers and a writer`);
    clients.push(...(await connectClients(weft.url, receiversCount + 1, TIMEOUT_MS)));
    for (const c of clients) await c.loadDataset(PROJECT, TIMEOUT_MS);
    const [writer, ...receivers] = clients;
    // What the others hold: a client applying every change as Bryntum's classic client does.
    const witness = new ClassicClient({ name: 'witness', url: weft.url, project: PROJECT, login: 'witness', password: '', timeoutMs: TIMEOUT_MS });
    simulated.push(witness);
    await witness.start();
    await sleep(1000);
    const tasks = Array.from({ length: TASKS }, (_, i) => i + 1);
    // Warm-up, not measured: the first seconds of traffic (compilation, first writes) would count
    // against whichever round comes first.
    const warmUp = startTraffic({ writer, receivers, project: PROJECT, tasks, perSecond, changeBytes, firstSeq: 0 });
    await sleep(WARM_UP_MS);
    await warmUp.stop(10_000);
    let firstSeq = 1_000_000;
    for (let pair = 0; pair < pairs; pair++) {
      const order = pair % 2 === 0 ? [false, true] : [true, false];
      for (const stalled of order) {
        // A quiet moment first: background work (log folds, automatic versions) runs between rounds.
        await sleep(QUIET_MS);
        rss.reset();
        const traffic = startTraffic({ writer, receivers, project: PROJECT, tasks, perSecond, changeBytes, firstSeq });
        firstSeq += 1_000_000;
        const started = performance.now();
        const round: Partial<Round> = { stalled };
        let returned: ClassicClient | null = null;
        if (stalled) {
          const stall = await stallOnce(weft, traffic, limitBytes, ctx);
          simulated.push((returned = stall.returned));
          Object.assign(round, { closeCode: stall.closeCode, stallMs: stall.stallMs });
        }
        const left = started + roundMs - performance.now();
        if (left > 0) await sleep(left);
        const { sent, expected, latencies, sentTimes } = await traffic.stop(10_000);
        // The last change sent has reached the clients that keep the project's state.
        const last = `rel-seq-${firstSeq - 1_000_000 + sent - 1}`;
        await until(() => [witness, ...(returned ? [returned] : [])].every((c) => hasTaskNamed(c.view(), last)), 10_000);
        // Latency over the round, 5 s at a time (where a stall or anything else made it worse).
        const windows: string[] = [];
        for (let w = 0; w * 5000 < performance.now() - started; w++) {
          const inWindow = latencies.filter((_, i) => sentTimes[i] >= started + w * 5000 && sentTimes[i] < started + (w + 1) * 5000);
          if (inWindow.length) windows.push(percentile(inWindow, 99).toFixed(0));
        }
        if (returned) {
          const diff = diffViews('returned', returned.view(), witness.view());
          round.reloadEqual = diff.length === 0 && returned.errors.length === 0;
          if (diff.length) problems.push(`round ${rounds.length + 1}: the reloaded client differs from the others: ${JSON.stringify(diff.slice(0, 3)).slice(0, 400)}`);
          if (returned.errors.length) problems.push(`round ${rounds.length + 1}: the reloaded client got errors: ${returned.errors.slice(0, 3).join('; ')}`);
          await returned.close();
        }
        Object.assign(round, { p99: percentile(latencies, 99), sent, expected, received: latencies.length, rssMaxKb: rss.max(), rssGrowthKb: rss.max() - rss.start() });
        rounds.push(round as Round);
        ctx.log(
          `round ${rounds.length} (${stalled ? 'with' : 'without'} a stalled client): ${sent} changes, ${latencies.length}/${expected} delivered, p99 ${round.p99!.toFixed(1)} ms, RSS max ${(round.rssMaxKb! / 1024).toFixed(0)} MB` +
            `; p99 per 5 s: ${windows.join(' ')} ms` +
            (stalled ? `, closed ${round.closeCode} after ${((round.stallMs ?? 0) / 1000).toFixed(1)} s, reload ${round.reloadEqual ? 'equal' : 'DIFFERENT'}` : ''),
        );
      }
    }
    if (witness.errors.length) problems.push(`the witness client got errors: ${witness.errors.slice(0, 3).join('; ')}`);
  } finally {
    rss.stop();
    await closeAll(clients);
    for (const c of simulated) await c.close();
    await weft.stop();
  }
  return { figures: figures(rounds, limitBytes, changeBytes, perSecond, receiversCount), problems };
}

/**
 * Stall a fresh client until the server has closed it (its buffer for it passed the limit), then
 * let it read, note how it was closed, and bring it back as a client that loads the project anew.
 */
async function stallOnce(weft: Weft, traffic: TrafficRun, limitBytes: number, ctx: PartContext): Promise<{ closeCode: number | null; stallMs: number; returned: ClassicClient }> {
  const reader = await StalledReader.open(weft.url, PROJECT, TIMEOUT_MS);
  reader.pause();
  const sentBefore = traffic.bytesPerReceiver();
  const t0 = performance.now();
  try {
    // What the server holds for the stalled client is what it was sent since the pause (what
    // every receiver got) less what the kernel holds. The server closes it at its first write past
    // the limit: once it must hold more (with a margin for what was read before the pause), it has.
    let held = 0;
    while (held <= limitBytes + HELD_MARGIN && performance.now() - t0 < STALL_LIMIT_MS) {
      await sleep(200);
      held = traffic.bytesPerReceiver() - sentBefore - reader.kernelHeld();
    }
    const stallMs = performance.now() - t0;
    ctx.log(`stalled client: the server holds about ${(held / 1024).toFixed(0)} KiB for it after ${(stallMs / 1000).toFixed(1)} s (the kernel ${(reader.kernelHeld() / 1024).toFixed(0)} KiB); reading again`);
    const closeCode = await reader.resume(10_000);
    const returned = new ClassicClient({ name: 'returned', url: weft.url, project: PROJECT, login: 'stalled', password: '', timeoutMs: TIMEOUT_MS });
    try {
      await returned.start();
    } catch (e) {
      await returned.close();
      throw e;
    }
    return { closeCode, stallMs, returned };
  } finally {
    reader.terminate();
  }
}

async function until(done: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (!done()) {
    if (performance.now() > deadline) return false;
    await sleep(50);
  }
  return true;
}

function hasTaskNamed(view: View, name: string): boolean {
  for (const task of view.tasks.values()) if (task.name === name) return true;
  return false;
}

/** Median; the mean of the middle two of an even count. */
function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function figures(rounds: Round[], limitBytes: number, changeBytes: number, perSecond: number, receivers: number): Figure[] {
  const without = rounds.filter((r) => !r.stalled);
  const withStall = rounds.filter((r) => r.stalled);
  const ratios = without.map((w, i) => withStall[i].p99 / w.p99);
  const ratio = median(ratios);
  const delivered = rounds.reduce((n, r) => n + r.received, 0);
  const expected = rounds.reduce((n, r) => n + r.expected, 0);
  const mb = (kb: number) => kb / 1024;
  const rssMax = mb(Math.max(...rounds.map((r) => r.rssMaxKb)));
  const growthWith = mb(Math.max(...withStall.map((r) => r.rssGrowthKb)));
  const growthWithout = mb(Math.max(...without.map((r) => r.rssGrowthKb)));
  // The server holds at most the limit for the stalled client (the queued frames share their bytes
  // with every other receiver's) and the kernel holds the rest: a round with a stall may grow by a
  // few limits more than one without (whose growth is the project's own and garbage not collected yet).
  const growthBound = growthWithout + (4 * limitBytes) / 1024 / 1024 + 16;
  const codes = withStall.map((r) => r.closeCode);
  const setup = `${receivers} receivers, ${perSecond} changes/s of ${(changeBytes / 1024).toFixed(0)} KiB, maxBufferedBytes ${(limitBytes / 1024).toFixed(0)} KiB`;
  return [
    { figure: `traffic (${setup})`, value: `${without.length}+${withStall.length} rounds`, rule: '' },
    { figure: "others' p99 without / with a stalled client (median of rounds)", value: `${median(without.map((r) => r.p99)).toFixed(1)} / ${median(withStall.map((r) => r.p99)).toFixed(1)} ms`, rule: '' },
    { figure: 'p99 with / without (median of paired rounds)', value: `${ratio.toFixed(2)}x (${ratios.map((r) => r.toFixed(2)).join(', ')})`, rule: '<= 1.2x', ok: ratio <= 1.2 },
    { figure: "changes delivered to the others", value: `${delivered}/${expected}`, rule: 'all', ok: delivered === expected },
    { figure: 'server RSS max', value: `${rssMax.toFixed(0)} MB`, rule: '' },
    { figure: 'server RSS growth in a round with / without a stalled client', value: `${growthWith.toFixed(0)} / ${growthWithout.toFixed(0)} MB`, rule: `<= ${growthBound.toFixed(0)} MB (without + 4 x limit + 16 MB)`, ok: growthWith <= growthBound },
    { figure: 'stalled client closed with', value: codes.map(String).join(', '), rule: '= 1013', ok: codes.length > 0 && codes.every((c) => c === 1013) },
    { figure: 'reload after coming back equals the others', value: withStall.every((r) => r.reloadEqual) ? 'yes' : `no (${withStall.filter((r) => !r.reloadEqual).length} of ${withStall.length})`, rule: 'yes', ok: withStall.length > 0 && withStall.every((r) => r.reloadEqual) },
  ];
}
