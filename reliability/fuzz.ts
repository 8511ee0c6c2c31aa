/**
 * Part "fuzz": a million hostile messages against one live Weft process, over many connections
 * at once: structure-aware changes of both generations with mutated values (fuzz-messages.ts),
 * random JSON, text that is not JSON or not UTF-8, binary frames, frames before login, and
 * garbage and junk updates on the Yjs endpoint (fuzz-yjs.ts). Rules: the server never exits,
 * logs no unhandled rejection, uncaught exception or handler failure, answers every frame in the
 * protocol's shapes, answers every probe (no hang); afterwards every project loads and is valid,
 * and real clients of each kind get their changes confirmed.
 *
 * The server runs with the per-connection limits on message rate, refusals and logins raised
 * (else each fuzzing connection would be closed within a second and the run would measure
 * reconnects); those closes are what the connections that never log in still meet, through the
 * limits before login (bytes and failed logins per connection), which keep their defaults.
 *
 * The changes the server accepts pile up in the five projects (values up to 1 MB, thousands of
 * records): every fuzz.resetEvery messages the projects are reset to their seeds, and the two the
 * Yjs peers write into are replaced (deleted and imported again: a reset keeps the Yjs document's
 * history, with a client id for each junk update, which Yjs walks on every transaction), so their
 * size, and with it the server's memory and speed, stays about the same through the run. What is
 * measured is how the server takes hostile input, not how it holds an ever larger project (the
 * benchmarks measure that).
 *
 * Settings: fuzz.messages (1,000,000; quick 50,000), fuzz.connections (Bryntum connections,
 * 12), fuzz.batch (frames between probes, 50), fuzz.minutes (time limit, 25; quick 3),
 * fuzz.resetEvery (100,000; quick 25,000; 0: never).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Random } from '../src/simulate/random.js';
import { setting, type Figure, type Part, type PartContext, type PartResult } from './part.js';
import { startWeft, type Weft } from './weft-process.js';
import { drawPools } from './fuzz-values.js';
import { MessageMaker, type Generation } from './fuzz-messages.js';
import { YjsMaker } from './fuzz-yjs.js';
import { Budget, IdBook, Replacements, Tally, bryntumWorker, preLoginWorker, yjsWorker, type WorkerSpec } from './fuzz-workers.js';
import { checkProjects, clientsWork, replaceProject, resetProjects, type Replacement } from './fuzz-after.js';

const ADMIN = { login: 'admin', password: 'admin' };
const VIEWER = { login: 'viewer', password: 'viewer' };
const PROJECTS: (number | string)[] = [1, 2, 3, 'ops', 4];

/** storage/seed of the repository, found upwards from here or from the working directory. */
function seedDir(): string {
  for (let dir of [dirname(fileURLToPath(import.meta.url)), process.cwd()]) {
    for (let i = 0; i < 6; i++, dir = resolve(dir, '..')) if (existsSync(join(dir, 'storage', 'seed', 'saas.json'))) return join(dir, 'storage', 'seed');
  }
  throw new Error('storage/seed not found: run from the repository');
}

/** The projects, with their seeds. */
function projects() {
  const seeds = seedDir();
  return [
    { id: 1, name: 'SaaS', seed: join(seeds, 'saas.json'), ids: 'number' as const },
    { id: 2, name: 'Website', seed: join(seeds, 'website.json'), ids: 'number' as const },
    { id: 3, name: 'Backend', seed: join(seeds, 'backend.json'), ids: 'number' as const },
    { id: 'ops', name: 'Operations', seed: join(seeds, 'website.json'), ids: 'prefixed' as const },
    { id: 4, name: 'Empty', ids: 'number' as const },
  ];
}

/** Projects the Yjs peers write junk into: replaced (a fresh document) instead of reset. */
const YJS_PROJECTS: (number | string)[] = [1, 'ops'];

function replacements(): Replacement[] {
  return projects()
    .filter((p) => YJS_PROJECTS.includes(p.id) && p.seed !== undefined)
    .map((p) => ({ id: p.id, name: p.name, ids: p.ids, seed: readFileSync(p.seed!, 'utf8') }));
}

function config() {
  return {
    projects: projects(),
    users: { admin: { password: 'admin', group: 'admin' }, viewer: { password: 'viewer', group: 'viewers' } },
    groups: { admin: PROJECTS, viewers: [1, 2] },
    readOnlyGroups: ['viewers'],
    anonymous: { enabled: true, projects: [1] },
    limits: {
      maxMessagesPerSecond: 1_000_000,
      messageBurst: 1_000_000,
      maxRefusalsPerMinute: 1_000_000,
      maxLoginsPerConnection: 1_000_000,
      maxFailedLoginsPerAddress: 1_000_000,
    },
  };
}

/** What the server writes on stderr that breaks a rule: faults it survived and failed handlers. */
class ServerLog {
  unhandled = 0;
  errors = 0;
  warnings = 0;
  readonly examples: string[] = [];

  /** Every line of the server's stderr (the process keeps only a tail). */
  watch(weft: Weft): void {
    weft.process.onLine((line) => this.line(line));
  }

  private line(line: string): void {
    if (!line || line.startsWith('[gc-signal]')) return;
    if (/unhandled rejection|uncaught exception/.test(line)) {
      this.unhandled++;
      this.keep(line);
      return;
    }
    let level = 0;
    try {
      level = Number((JSON.parse(line) as { level?: number }).level ?? 0);
    } catch {
      level = 50; // a plain line on stderr is not the logger's: a crash report or a warning of Node's
    }
    if (level >= 50) {
      this.errors++;
      this.keep(line);
    } else if (level >= 40) this.warnings++;
  }

  private keep(line: string): void {
    if (this.examples.length < 5) this.examples.push(line.slice(0, 600));
  }
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

/**
 * Each `every` messages while the fuzz runs: the projects the Yjs peers write into are replaced
 * (deleted and imported again from their seeds), the others reset to their seeds.
 */
async function janitor(url: string, spec: WorkerSpec, every: number, ctx: PartContext): Promise<void> {
  const { budget, tally } = spec;
  const fresh = replacements();
  let next = every;
  while (budget.active()) {
    await new Promise((r) => setTimeout(r, 250));
    if (tally.total < next) continue;
    next = tally.total + every;
    const problems = await resetProjects(url, ADMIN, PROJECTS.filter((p) => !YJS_PROJECTS.includes(p)), tally);
    for (const project of fresh) {
      await spec.replaced.replace(project.id, () => replaceProject(url, ADMIN, project)).catch((e: Error) => problems.push(`replacing ${JSON.stringify(project.id)}: ${e.message}`));
    }
    tally.resets++;
    ctx.log(`fuzz: projects reset and replaced at ${fmt(tally.total)} messages${problems.length ? ` (${problems.join('; ')})` : ''}`);
  }
}
const zero = (figure: string, n: number): Figure => ({ figure, value: fmt(n), rule: '= 0', ok: n === 0 });

async function run(ctx: PartContext): Promise<PartResult> {
  const messages = setting(ctx, 'messages', 1_000_000, 50_000);
  const connections = Math.max(2, setting(ctx, 'connections', 12, 12));
  const batch = Math.max(1, setting(ctx, 'batch', 50, 50));
  const minutes = setting(ctx, 'minutes', 25, 3);
  const resetEvery = setting(ctx, 'resetEvery', 100_000, 25_000);
  const random = new Random(ctx.seed);
  const pools = drawPools(ctx.seed, 3000);

  const weft = await startWeft({ name: 'fuzz', dir: join(ctx.workDir, 'weft'), config: config(), logLevel: 'warn' });
  const log = new ServerLog();
  log.watch(weft);
  let exited: number | null | undefined;
  const budget = new Budget(messages, Date.now() + minutes * 60_000);
  void weft.exit.then((code) => {
    exited = code;
    budget.stop();
  });
  const tally = new Tally();
  const book = new IdBook();
  const spec: WorkerSpec = { url: weft.url, budget, tally, book, batch, replaced: new Replacements() };
  const maker = () => new MessageMaker(new Random(random.int(0, 2 ** 31)), pools);
  const projectIds: unknown[] = [...PROJECTS, '1', 5, 0, -1, 1e300, null, true, { id: 1 }, [1], 'OPS', ' ops'];

  let peakRss = 0;
  const started = Date.now();
  const progress = setInterval(() => {
    if (exited !== undefined) return;
    const rss = weft.process.memory().rssKb;
    peakRss = Math.max(peakRss, rss);
    const seconds = (Date.now() - started) / 1000;
    ctx.log(`fuzz: ${fmt(tally.total)} sent (${fmt(tally.total / seconds)}/s), ${tally.nonConforming} non-conforming, server RSS ${fmt(rss / 1024)} MB`);
  }, 10_000);

  try {
    const workers: Promise<void>[] = [];
    for (let i = 0; i < connections; i++) {
      const generation: Generation = i % 2 === 0 ? 'classic' : 'revisions';
      const project = PROJECTS[Math.floor(i / 2) % PROJECTS.length];
      // One in six is read-only (its changes are refused): the viewer may open projects 1 and 2.
      const account = i % 6 === 5 ? VIEWER : ADMIN;
      workers.push(bryntumWorker(spec, maker(), generation, account === VIEWER ? 2 : project, account, projectIds));
    }
    workers.push(preLoginWorker(spec, maker()), preLoginWorker(spec, maker()));
    for (const project of YJS_PROJECTS) workers.push(yjsWorker({ ...spec, batch: 4 }, new YjsMaker(new Random(random.int(0, 2 ** 31)), pools), project, ADMIN));
    if (resetEvery > 0) workers.push(janitor(weft.url, spec, resetEvery, ctx));
    await Promise.all(workers);
  } finally {
    clearInterval(progress);
  }
  const seconds = (Date.now() - started) / 1000;
  ctx.log(`fuzz: ${fmt(tally.total)} messages in ${seconds.toFixed(0)} s; checking the projects`);

  const invalid = exited === undefined ? await checkProjects(weft.url, ADMIN, PROJECTS, tally) : ['the server is gone'];
  const broken = exited === undefined ? await clientsWork(weft.url, ADMIN, PROJECTS, tally) : ['the server is gone'];
  const rss = exited === undefined ? weft.process.memory() : { rssKb: 0, peakKb: peakRss };
  const crashed = exited !== undefined;
  await weft.stop();

  const kinds = [...tally.sent].sort((a, b) => b[1] - a[1]).map(([kind, n]) => `${kind} ${fmt(n)}`).join(', ');
  const closes = [...tally.closes].sort((a, b) => b[1] - a[1]).map(([key, n]) => `${key}: ${fmt(n)}`).join(', ');
  ctx.log(`fuzz: sent by kind: ${kinds}`);
  ctx.log(`fuzz: closes by connection and code: ${closes || 'none'}; reconnects ${fmt(tally.reconnects)}; server warnings ${fmt(log.warnings)}`);

  const figures: Figure[] = [
    { figure: 'messages sent', value: fmt(tally.total), rule: `>= ${fmt(messages)}`, ok: tally.total >= messages },
    { figure: 'messages per second', value: fmt(tally.total / seconds), rule: '' },
    { figure: 'times the projects were reset or replaced (every fuzz.resetEvery messages)', value: fmt(tally.resets), rule: '' },
    zero('server crashes (exits)', crashed ? 1 : 0),
    zero('unhandled rejections / uncaught exceptions', log.unhandled),
    zero('errors the server logged (failed handlers)', log.errors),
    zero('answers not in the protocol\'s shapes', tally.nonConforming),
    zero('probes not answered within 30 s (hangs)', tally.hangs),
    zero('projects invalid or not loading', invalid.length),
    zero('real clients unable to work afterwards', broken.length),
    { figure: 'server RSS at the end / peak', value: `${fmt(rss.rssKb / 1024)} / ${fmt(Math.max(rss.peakKb, peakRss) / 1024)} MB`, rule: '<= 1024 MB', ok: rss.peakKb / 1024 <= 1024 },
  ];
  const problems = [
    ...(!crashed ? [] : [`the server exited with code ${exited}: ${weft.process.stderrTail(10)}`]),
    ...log.examples.map((l) => `server log: ${l}`),
    ...tally.examples,
    ...invalid.slice(0, 10),
    ...broken,
  ];
  if (problems.length) problems.push(`sent by kind: ${kinds}`, `replay with --seed ${ctx.seed}`);
  return { figures, problems };
}

export const fuzzPart: Part = {
  name: 'fuzz',
  summary: '1,000,000 hostile messages (both generations, random JSON, bad UTF-8, binary, Yjs garbage): no crash, no fault, answers in shape, projects valid',
  run,
};
