/**
 * Part "soak": `weft simulate` traffic (classic, revisions and Yjs clients, offline periods) on
 * many projects against one Weft process for minutes. The server's RSS and event-loop delay are
 * sampled all along and must stay flat over the last minutes (slope of a least-squares line, at
 * most two standard errors above its bound: soak-trend.ts `flat`);
 * at the end every project must converge (each replica equals a fresh load) and be valid.
 *
 * Settings (--set soak.KEY=VALUE): minutes (10; quick 1), projects (20), rate (edits per client
 * per second, 1), perKind (clients of each kind per project, 1), offlineRate (chance per client
 * per second of going offline for 0.5-3 s, 0.05), sampleSeconds (10; quick 5), fitMinutes (5: the
 * window fitted, at most the second half of the run), judgeMinutes (2: a shorter window, as in a
 * --quick run, still holds start-up growth, so its slopes are reported, not judged).
 */
import { join } from 'node:path';
import { setting, type Figure, type Part, type PartContext, type PartResult } from './part.js';
import { startWeft } from './weft-process.js';
import type { HeapReport } from '../bench/processes.js';
import { Sampler, type SoakSamples } from './soak-sampler.js';
import { flat, since, trend, type Sample, type Trend } from './soak-trend.js';
import { Simulation, type Outcome } from '../src/simulate/runner.js';

const LOGIN = 'soak';
const PASSWORD = 'soak-password';
const METRICS_TOKEN = 'soak-metrics-token-0123456789';
/** RSS may grow by at most this share of its mean per minute over the fitted window. */
const RSS_SLOPE_SHARE = 0.01;
/**
 * The p99 event-loop delay may grow by at most this share of its mean per minute, or by
 * LOOP_SLOPE_FLOOR_MS when its mean is tiny (a few ms of scheduling noise on a shared machine).
 */
const LOOP_SLOPE_SHARE = 0.1;
const LOOP_SLOPE_FLOOR_MS = 1;

interface ProjectRun {
  id: number;
  sim: Simulation;
}

export const soakPart: Part = {
  name: 'soak',
  beside: 'fuzz',
  summary: 'simulated clients of all kinds on many projects for minutes: RSS and event-loop delay flat, all converge',
  run: runSoak,
};

async function runSoak(ctx: PartContext): Promise<PartResult> {
  const minutes = setting(ctx, 'minutes', 10, 1);
  const projectCount = Math.max(1, Math.round(setting(ctx, 'projects', 20, 20)));
  const rate = setting(ctx, 'rate', 1, 1);
  const perKind = Math.max(1, Math.round(setting(ctx, 'perKind', 1, 1)));
  const offlineRate = setting(ctx, 'offlineRate', 0.05, 0.05);
  const sampleSeconds = Math.max(1, setting(ctx, 'sampleSeconds', 10, 5));
  const fitMinutes = setting(ctx, 'fitMinutes', 5, 5);
  const judgeMinutes = setting(ctx, 'judgeMinutes', 2, 2);

  const ids = Array.from({ length: projectCount }, (_, i) => i + 1);
  const weft = await startWeft({
    name: 'weft-soak',
    dir: join(ctx.workDir, 'server'),
    config: {
      projects: ids.map((id) => ({ id, name: `Soak ${id}` })),
      users: { [LOGIN]: { password: PASSWORD, group: 'soak' } },
      groups: { soak: ids },
      anonymous: { enabled: false },
      metricsToken: METRICS_TOKEN,
      // Versions every 100 changes (about every half minute per project, not in step across
      // projects), and few kept: taking and thinning them happens many times in the fitted
      // window instead of as a few bumps that tilt its line.
      history: { autoEveryChanges: 100, keepLast: 10 },
    },
  });
  let exitedEarly: number | null | undefined;
  void weft.exit.then((code) => (exitedEarly ??= code));
  const runs: ProjectRun[] = [];
  let sampler: Sampler | undefined;
  let heapTimer: NodeJS.Timeout | undefined;
  let heapTimerResolve = () => {};
  try {
    for (const id of ids) {
      const sim = await Simulation.start({
        url: weft.url,
        project: id,
        mix: { classic: perKind, revisions: perKind, yjs: perKind },
        login: LOGIN,
        password: PASSWORD,
        seed: (ctx.seed + id * 104_729) >>> 0,
        rate,
        offlineRate,
        settleTimeoutMs: 60_000,
        timeoutMs: 20_000,
      });
      runs.push({ id, sim });
    }
    ctx.log(`${projectCount} projects, ${runs.reduce((n, r) => n + r.sim.clients.length, 0)} clients (+${projectCount} observers), ${minutes} min, ${rate} edits/s per client`);

    sampler = new Sampler(weft, METRICS_TOKEN, sampleSeconds * 1000);
    sampler.start();
    const samples = sampler.samples;
    const startedAt = Date.now();
    // The fitted window is the last fitMinutes, never the first half (start-up, projects
    // filling); with parts running beside the soak, it starts only once they are done (and the
    // machine has had SETTLE_MS to calm down), and the soak runs on until the window is whole.
    const plan = new SoakPlan(minutes, fitMinutes);
    const besideDone = ctx.besideDone ?? Promise.resolve();
    const windowKnown = besideDone.then(() => plan.quietFrom(Date.now() - startedAt));
    let endKnown = false;
    void windowKnown.then(() => {
      endKnown = true;
      for (const r of runs) r.sim.stopAt(startedAt + plan.endMs);
      if (ctx.besideDone) ctx.log(`the parts beside it are done: fitted window from ${(plan.windowFromMs / 1000).toFixed(0)} s, end at ${(plan.endMs / 1000).toFixed(0)} s`);
    });
    // The JS heap after a full GC where the fitted window starts and at the end tells a leak of
    // objects from memory the allocator or LevelDB keeps (RSS only). One GC pause in the window.
    const heapAtFitStart = windowKnown.then(
      () =>
        new Promise<HeapReport | null>((resolve) => {
          heapTimer = setTimeout(() => void weft.process.collectGarbage().then(resolve, () => resolve(null)), Math.max(0, startedAt + plan.windowFromMs - Date.now()));
          heapTimerResolve = () => resolve(null);
        }),
    );
    const progress = setInterval(() => {
      const rss = samples.rssMb.at(-1)?.value;
      const loop = samples.loopP99Ms.at(-1)?.value;
      const ops = runs.reduce((n, r) => n + r.sim.progress(0).ops, 0);
      ctx.log(`${ops} edits; RSS ${rss?.toFixed(0) ?? '?'} MB; event-loop p99 ${loop?.toFixed(1) ?? '?'} ms`);
    }, 30_000);
    try {
      // Until the parts beside it are done, the end is not known: the simulations run on until told.
      await Promise.all(runs.map((r) => r.sim.run(ctx.besideDone && !endKnown ? plan.endMs + 24 * 3600_000 : plan.endMs)));
    } finally {
      clearInterval(progress);
    }
    await sampler.stop();
    const heapAtEnd = await weft.process.collectGarbage();
    const heap = { start: await heapAtFitStart, end: heapAtEnd };

    ctx.log('settling and checking every project');
    const outcomes = await Promise.all(runs.map(async (r) => ({ id: r.id, outcome: await r.sim.check() })));
    return judge(ctx, { plan, beside: ctx.besideDone !== undefined, judgeMinutes, runs, outcomes, samples, heap, exitedEarly });
  } finally {
    clearTimeout(heapTimer);
    heapTimerResolve();
    await sampler?.stop();
    await Promise.all(runs.map((r) => r.sim.close()));
    await weft.stop();
  }
}

/** Where the soak's fitted window starts and when the soak ends, in ms from the start of its traffic. */
export class SoakPlan {
  windowFromMs: number;
  endMs: number;

  constructor(minutes: number, fitMinutes: number) {
    this.windowFromMs = Math.max(minutes - fitMinutes, minutes / 2) * 60_000;
    this.endMs = minutes * 60_000;
  }

  /**
   * The parts beside the soak were done `atMs` into it: the window starts SETTLE_MS later at the
   * earliest, and keeps its length.
   */
  quietFrom(atMs: number): void {
    const from = atMs + SETTLE_MS;
    if (from <= this.windowFromMs) return;
    this.endMs += from - this.windowFromMs;
    this.windowFromMs = from;
  }
}

/** Time for the machine to calm down after the parts beside the soak before its window starts. */
const SETTLE_MS = 10_000;

interface Measured {
  plan: SoakPlan;
  /** Whether parts ran beside the soak (its window then starts after them). */
  beside: boolean;
  judgeMinutes: number;
  runs: ProjectRun[];
  outcomes: { id: number; outcome: Outcome }[];
  samples: SoakSamples;
  heap: { start: HeapReport | null; end: HeapReport | null };
  exitedEarly: number | null | undefined;
}

function judge(ctx: PartContext, m: Measured): PartResult {
  const problems: string[] = [];
  const runSeconds = m.plan.endMs / 1000;
  const fitFromSeconds = m.plan.windowFromMs / 1000;
  const rss = trend(since(m.samples.rssMb, fitFromSeconds));
  const loop = trend(since(m.samples.loopP99Ms, fitFromSeconds));
  const loopMean = trend(since(m.samples.loopMeanMs, fitFromSeconds));
  const heapTotal = trend(since(m.samples.heapTotalMb, fitFromSeconds));
  const external = trend(since(m.samples.externalMb, fitFromSeconds));
  const rssBound = RSS_SLOPE_SHARE * rss.mean;
  const loopBound = Math.max(LOOP_SLOPE_SHARE * loop.mean, LOOP_SLOPE_FLOOR_MS);
  // A window shorter than judgeMinutes (a --quick run) still shows start-up: its slopes are reported only.
  const judged = runSeconds - fitFromSeconds >= m.judgeMinutes * 60;
  const enough = (t: Trend) => t.samples >= 3;

  let edits = 0;
  let offline = 0;
  let errors = 0;
  for (const r of m.runs) {
    for (const c of r.sim.summaries()) {
      edits += Object.values(c.ops).reduce((a, b) => a + (b ?? 0), 0);
      offline += c.offlinePeriods;
      errors += c.errors.length;
    }
  }
  const converged = m.outcomes.filter((o) => o.outcome.converged).length;
  const valid = m.outcomes.filter((o) => o.outcome.valid).length;
  for (const { id, outcome } of m.outcomes) {
    if (!outcome.settled) problems.push(`project ${id}: never settled: ${outcome.unsettled.slice(0, 3).map((u) => `${u.client} (${u.state})`).join(', ')}`);
    if (outcome.divergences.length) problems.push(`project ${id}: ${outcome.divergences.length} divergences, first: ${JSON.stringify(outcome.divergences[0])}`);
    if (outcome.problems.length) problems.push(`project ${id}: invalid: ${outcome.problems.slice(0, 3).map((p) => `${p.replica}: ${p.problem}`).join('; ')}`);
  }
  if (m.exitedEarly !== undefined) problems.push(`the server exited during the soak (code ${m.exitedEarly})`);
  const series = (name: string, list: Sample[], digits: number) =>
    `${name}: ${list.map((s) => `${s.atSeconds.toFixed(0)}s=${s.value.toFixed(digits)}`).join(' ')}`;
  const rssFlat = enough(rss) && flat(rss, rssBound);
  const loopFlat = enough(loop) && flat(loop, loopBound);
  if (judged && (!rssFlat || !loopFlat)) {
    problems.push(series('RSS MB', m.samples.rssMb, 0));
    problems.push(series('event-loop p99 ms', m.samples.loopP99Ms, 1));
  }
  if (judged && (!enough(rss) || !enough(loop))) problems.push(`too few samples in the fitted window (RSS ${rss.samples}, event loop ${loop.samples}): a longer run or shorter sampleSeconds`);
  if (problems.length) problems.push(`replay: --part soak --seed ${ctx.seed}`);

  const notJudged = `not judged: window < ${m.judgeMinutes} min`;
  const window = `last ${((runSeconds - fitFromSeconds) / 60).toFixed(1)} min, ${rss.samples} samples`;
  const figures: Figure[] = [
    { figure: 'projects / clients', value: `${m.runs.length} / ${m.runs.reduce((n, r) => n + r.sim.clients.length, 0)}`, rule: '' },
    { figure: 'edits made / offline periods', value: `${edits} / ${offline}`, rule: '' },
    { figure: 'errors sent to clients', value: String(errors), rule: '' },
    { figure: `fitted window${m.beside ? ' (after the parts run beside the soak)' : ''}`, value: `${fitFromSeconds.toFixed(0)} s to ${runSeconds.toFixed(0)} s`, rule: '' },
    { figure: `RSS slope (${window})`, value: `${signed(rss.slopePerMinute, 2)} ± ${rss.standardErrorPerMinute.toFixed(2)} MB/min (mean ${rss.mean.toFixed(0)} MB)`, rule: judged ? `slope - 2 SE <= ${rssBound.toFixed(2)} MB/min (1% of mean)` : notJudged, ok: judged ? rssFlat : undefined },
    { figure: 'event-loop delay p99 slope (server, /metrics)', value: `${signed(loop.slopePerMinute, 2)} ± ${loop.standardErrorPerMinute.toFixed(2)} ms/min (mean ${loop.mean.toFixed(1)} ms)`, rule: judged ? `slope - 2 SE <= ${loopBound.toFixed(2)} ms/min (10% of mean, >= 1 ms)` : notJudged, ok: judged ? loopFlat : undefined },
    { figure: 'JS heap after a full GC, window start -> end', value: `${mb(m.heap.start)} -> ${mb(m.heap.end)} MB`, rule: '' },
    { figure: 'V8 heap allocated / memory outside it, slopes', value: `${signed(heapTotal.slopePerMinute, 2)} / ${signed(external.slopePerMinute, 2)} MB/min (means ${heapTotal.mean.toFixed(0)} / ${external.mean.toFixed(0)} MB)`, rule: '' },
    { figure: 'event-loop delay mean slope', value: `${signed(loopMean.slopePerMinute, 3)} ± ${loopMean.standardErrorPerMinute.toFixed(3)} ms/min (mean ${loopMean.mean.toFixed(2)} ms)`, rule: '' },
    { figure: 'failed metrics scrapes', value: String(m.samples.failedScrapes), rule: '' },
    { figure: 'server alive to the end', value: m.exitedEarly === undefined ? 'yes' : 'no', rule: 'yes', ok: m.exitedEarly === undefined },
    { figure: 'projects converged', value: `${converged}/${m.outcomes.length}`, rule: 'all', ok: converged === m.outcomes.length },
    { figure: 'projects valid', value: `${valid}/${m.outcomes.length}`, rule: 'all', ok: valid === m.outcomes.length },
  ];
  return { figures, problems };
}

const mb = (report: HeapReport | null) => (report ? (report.heapUsed / 2 ** 20).toFixed(0) : '?');
const signed = (n: number, digits: number) => `${n >= 0 ? '+' : ''}${n.toFixed(digits)}`;
