/**
 * Part "crash": `kill -9` of a real Weft process at random moments while 10 clients (4 classic,
 * 3 revisions, 3 Yjs peers) write, some kills aimed at a log fold, an automatic version, a reset,
 * a restore, an import and a seed load. After each restart: every acknowledged change is there
 * (crash-model.ts), ids never repeat, revision numbers continue, the project is valid and loads
 * alike for each kind of client, and whole-project operations are done or not at all.
 *
 * Settings: crash.cycles (50; quick 8), crash.sideTasks (2000; quick 1000: size of the projects
 * reset, restored, imported and seeded), crash.writersTasks (1000: the seed of the writers'
 * project; its size makes folds and versions last long enough for a kill to land in them).
 */
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { setting, type Part, type PartContext, type PartResult } from './part.js';
import { startWeft, type Weft } from './weft-process.js';
import { Random, sleep } from '../src/simulate/random.js';
import { validate, diffViews } from '../src/simulate/check.js';
import { JsonSocket } from '../src/simulate/socket.js';
import { View } from '../src/simulate/view.js';
import { compareRecords, ledgerBorn, modelOf, ownRecords, replay, tokenOf, type State } from './crash-model.js';
import { ClassicWriter, Received, RevisionsWriter, YjsWriter, type Endpoint, type Writer } from './crash-writers.js';
import { ADMIN, ClassicSession, describe, generatedProject, importProject, projectIds, restoreVersion, takeVersion, yjsView } from './crash-side.js';

const KINDS = ['random', 'fold', 'version', 'reset', 'restore', 'import', 'seed'] as const;
type Kind = (typeof KINDS)[number];
const WRITERS = 1;
const SIDE = 2;
const PASSWORD = 'pw';

/** What one kill interrupted, as the server's log and the clients' answers showed. */
type InFlight = Partial<Record<Kind, boolean>>;

interface Tally {
  checked: number;
  lost: number;
  mismatched: number;
  repeatedIds: Set<string>;
  revisionRegressions: number;
  invalidLoads: number;
  sideBroken: number;
  refused: number;
  restarts: number;
  killsDuring: Record<Exclude<Kind, 'random'>, number>;
  issued: Record<Exclude<Kind, 'random'>, number>;
}

export const crashPart: Part = {
  name: 'crash',
  summary: 'kill -9 while 10 clients write (and during folds, versions, reset, restore, import, seed load); nothing acknowledged is lost',
  run,
};

async function run(ctx: PartContext): Promise<PartResult> {
  const cycles = setting(ctx, 'cycles', 50, 8);
  const sideTasks = setting(ctx, 'sideTasks', 2000, 1000);
  const writersTasks = setting(ctx, 'writersTasks', 1000, 1000);
  const random = new Random(ctx.seed);
  const dir = join(ctx.workDir, 'weft');
  mkdirSync(dir, { recursive: true });
  const seedFile = (name: string, data: unknown) => {
    const file = join(ctx.workDir, `${name}.json`);
    writeFileSync(file, JSON.stringify(data));
    return file;
  };
  const writerNames = ['c0', 'c1', 'c2', 'c3', 'r0', 'r1', 'r2', 'y0', 'y1', 'y2'];
  const config = {
    projects: [
      { id: WRITERS, name: 'Writers', seed: seedFile('writers', generatedProject(writersTasks, 6, 'seed')) },
      { id: SIDE, name: 'Side', seed: seedFile('side', generatedProject(sideTasks, 20, 'side')) },
    ],
    users: Object.fromEntries([[ADMIN.login, { password: ADMIN.password, group: 'admin' }], ...writerNames.map((n) => [n, { password: PASSWORD, group: 'admin' }])]),
    groups: { admin: ['*'] },
    adminGroups: ['admin'],
    anonymous: { enabled: false },
    storage: { compactAfterUpdates: 20, quietMs: 20, quietMaxMs: 300, unloadAfterSeconds: 3600 },
    history: { autoEveryChanges: 25 },
  };
  const importData = generatedProject(sideTasks, 20, 'imported');
  const tally: Tally = {
    checked: 0, lost: 0, mismatched: 0, repeatedIds: new Set(), revisionRegressions: 0, invalidLoads: 0, sideBroken: 0, refused: 0, restarts: 0,
    killsDuring: { fold: 0, version: 0, reset: 0, restore: 0, import: 0, seed: 0 },
    issued: { fold: 0, version: 0, reset: 0, restore: 0, import: 0, seed: 0 },
  };
  const problems: string[] = [];
  const problem = (line: string) => {
    if (problems.length < 40) problems.push(line);
  };

  let weft: Weft = await startWeft({ name: 'crash', dir, config, logLevel: 'debug' });
  const port = weft.port;
  const writers: Writer[] = writerNames.map((n, i) => {
    const r = new Random(ctx.seed * 31 + i + 1);
    return n[0] === 'c' ? new ClassicWriter(n, r) : n[0] === 'r' ? new RevisionsWriter(n, r) : new YjsWriter(n, r);
  });
  try {
    // What the project holds at first, what a reset brings back, what an import makes.
    const first = await loadAll(weft.url, WRITERS);
    const resources = [...first.classic.store('resources').keys()];
    const sideSeed = (await sideView(weft.url)).view;
    const imported = await importProject(weft.url, 'imp-ref', importData);
    if (imported.status !== 200) throw new Error(`import: ${imported.status} ${JSON.stringify(imported.json).slice(0, 200)}`);
    const importedView = (await sideView(weft.url, 'imp-ref')).view;

    const owners = new Map<string, string>();
    const noteId = (id: string, owner: string, cycle: number) => {
      const before = owners.get(id);
      if (before === undefined) owners.set(id, owner);
      else if (before !== owner) {
        if (!tally.repeatedIds.has(id)) problem(`cycle ${cycle}: id ${id} was given to ${before} and now to ${owner}`);
        tally.repeatedIds.add(id);
      }
    };
    for (const store of ['tasks', 'resources', 'dependencies', 'assignments'] as const) for (const key of first.classic.store(store).keys()) noteId(key, `seed ${store} ${key}`, -1);
    let stored: State = new Map();
    let storedIds = new Map<string, string>();
    let lastRevision = first.revision;
    const estimates = new Map<Kind, number>();

    for (let cycle = 0; cycle < cycles; cycle++) {
      const kind: Kind = KINDS[cycle % KINDS.length];
      const received = new Received(cycle);
      const endpoint: Endpoint = { url: weft.url, project: WRITERS, password: PASSWORD, resources };
      for (const w of writers) {
        w.begin(cycle, ownRecords(stored, w.name), storedIds, received);
        await w.connect(endpoint);
      }
      const runs = writers.map((w) => w.run(endpoint));
      await sleep(random.int(300, 1500));
      if (cycle === 0) await until(() => writers.every((w) => w.hasLedger()), 15_000);

      const side = await sideOperation(kind, cycle, weft, dir, random, estimates, importData);
      if (side.issued) tally.issued[kind as Exclude<Kind, 'random'>]++;
      weft.signal('SIGKILL');
      await weft.exit;
      // Frames the server wrote before it died may still be on their way.
      await sleep(100);
      received.frozen = true;
      for (const w of writers) {
        w.stop();
        w.close();
      }
      await Promise.all(runs);
      const inFlight: InFlight = { ...logInFlight(weft.process.stderrTail(400)), ...side.inFlight };
      for (const k of Object.keys(inFlight) as Kind[]) if (inFlight[k] && k !== 'random') tally.killsDuring[k]++;
      if (received.errors.length) {
        tally.refused += received.errors.length;
        problem(`cycle ${cycle}: the server refused writes: ${received.errors.slice(0, 3).join('; ')}`);
      }

      weft = await startWeft({ name: 'crash', dir, config, port, logLevel: 'debug' });
      tally.restarts++;
      const where = `cycle ${cycle} (seed ${ctx.seed}, kill during ${kind}${Object.entries(inFlight).filter(([, v]) => v).map(([k]) => ` [${k} in flight]`).join('')})`;

      // The writers' project: valid, the same for every kind of client, and all that was acknowledged.
      const loads = await loadAll(weft.url, WRITERS).catch((e: Error) => {
        throw new Error(`${where}: loading the writers' project after the restart: ${e.message}\nserver log: ${weft.process.stderrTail(8)}`);
      });
      for (const [name, view] of [['classic', loads.classic], ['revisions', loads.revisions], ['yjs', loads.yjs]] as const) {
        const invalid = validate(name, view);
        const differs = name === 'classic' ? [] : diffViews(name, view, loads.classic);
        if (invalid.length || differs.length) {
          tally.invalidLoads++;
          problem(`${where}: a ${name} load ${invalid.length ? `is invalid: ${invalid.slice(0, 2).map((p) => p.problem).join('; ')}` : `differs from a classic load: ${describe(differs)}`}`);
        }
      }
      const model = modelOf(loads.classic);
      for (const w of writers) {
        const own = ownRecords(model.state, w.name);
        const ledger = own.get(ledgerBorn(w.name))?.fields.name;
        const before = w.baseline.get(ledgerBorn(w.name))?.fields.name;
        const k = w.changes.findIndex((c) => c.token === ledger) + 1;
        const storedCount = k > 0 ? k : ledger === before ? 0 : -1;
        const acked = received.acked.get(w.name) ?? 0;
        tally.checked += acked;
        if (storedCount < 0) {
          tally.lost += acked;
          problem(`${where}: writer ${w.name}: its ledger reads ${JSON.stringify(ledger)}, which is none of its changes (acknowledged up to ${tokenOf(w.name, cycle, acked)})`);
          continue;
        }
        if (storedCount < acked) {
          tally.lost += acked - storedCount;
          problem(`${where}: writer ${w.name} (${w.kind}): ${acked - storedCount} acknowledged change(s) lost: stored up to #${storedCount}, acknowledged up to #${acked} (${tokenOf(w.name, cycle, acked)})`);
        }
        const diffs = compareRecords(replay(w.baseline, w.name, w.changes, storedCount), own);
        tally.mismatched += diffs.length;
        for (const d of diffs.slice(0, 3)) problem(`${where}: writer ${w.name} (${w.kind}) after its change #${storedCount}: ${d}`);
      }
      for (const [born, ids] of received.ids) for (const id of ids) noteId(id, born, cycle);
      for (const [born, id] of model.ids) noteId(id, born, cycle);
      if (received.maxRevision > loads.revision) {
        tally.revisionRegressions++;
        problem(`${where}: a client was told of server-${received.maxRevision}; after the restart the project is at server-${loads.revision}`);
      }
      if (received.minChangeRevision <= lastRevision) {
        tally.revisionRegressions++;
        problem(`${where}: the first revision after the restart before was server-${received.minChangeRevision}, not above server-${lastRevision}`);
      }
      lastRevision = loads.revision;
      stored = model.state;
      storedIds = model.ids;

      if (side.check) {
        const wrong = await side.check(weft.url, { sideSeed, importedView }).catch((e: Error) => `checking after the restart failed: ${e.message}`);
        if (wrong) {
          tally.sideBroken++;
          problem(`${where}: ${wrong}`);
        }
      }
      ctx.log(`cycle ${cycle + 1}/${cycles} ${kind}: ${[...received.acked.values()].reduce((a, b) => a + b, 0)} acknowledged; in flight: ${Object.entries(inFlight).filter(([, v]) => v).map(([k]) => k).join(', ') || '-'}`);
    }
  } finally {
    for (const w of writers) {
      w.stop();
      w.close();
    }
    weft.signal('SIGKILL');
    await weft.exit;
  }

  const zero = (figure: string, value: number) => ({ figure, value: String(value), rule: '= 0', ok: value === 0 });
  const during = (label: string, k: Exclude<Kind, 'random'>) => ({
    figure: `kills while ${label} was in flight`,
    value: k === 'fold' || k === 'version' ? String(tally.killsDuring[k]) : `${tally.killsDuring[k]} of ${tally.issued[k]} issued`,
    rule: ctx.quick ? '' : '>= 1',
    ok: ctx.quick ? undefined : tally.killsDuring[k] >= 1,
  });
  return {
    figures: [
      { figure: 'restarts after kill -9', value: String(tally.restarts), rule: `>= ${cycles}`, ok: tally.restarts >= cycles },
      { figure: 'acknowledged changes checked', value: String(tally.checked), rule: '> 0', ok: tally.checked > 0 },
      zero('acknowledged changes lost', tally.lost),
      zero('records unlike their stored changes', tally.mismatched),
      zero('repeated ids', tally.repeatedIds.size),
      zero('revision regressions', tally.revisionRegressions),
      zero('invalid or differing loads', tally.invalidLoads),
      zero('resets/restores/imports/seed loads half done or lost', tally.sideBroken),
      zero('writes refused', tally.refused),
      during('a log fold', 'fold'),
      during('an automatic version', 'version'),
      during('a reset', 'reset'),
      during('a restore', 'restore'),
      during('an import', 'import'),
      during('a seed load', 'seed'),
    ],
    problems,
  };
}

async function until(done: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!done()) {
    if (performance.now() > deadline) throw new Error('writers did not get their ledgers within the time');
    await sleep(20);
  }
}

/** The project as a classic, a revisions and a Yjs client each load it, and its last revision. */
async function loadAll(url: string, project: number): Promise<{ classic: View; revisions: View; yjs: View; revision: number }> {
  const { session, view: classic } = await ClassicSession.open(url, project);
  session.close();
  const socket = await JsonSocket.open(url, 10_000);
  try {
    socket.send({ command: 'login', data: { login: ADMIN.login, password: ADMIN.password } });
    await socket.waitFor((m) => m.command === 'login', 10_000, 'login reply');
    socket.send({ command: 'dataset', data: { project } });
    const m = await socket.waitFor((x) => x.command === 'dataset' || x.error !== undefined, 20_000, 'dataset');
    if (m.error) throw new Error(`revisions dataset refused: ${m.error}`);
    const revision = /^server-(\d+)$/.exec(String(m.data.revision))?.[1];
    return { classic, revisions: View.fromDataset(m.data.dataset), yjs: await yjsView(url, project), revision: revision ? Number(revision) : 0 };
  } finally {
    socket.close();
  }
}

async function sideView(url: string, project: number | string = SIDE): Promise<{ session: ClassicSession; view: View }> {
  const opened = await ClassicSession.open(url, project);
  opened.session.close();
  return opened;
}

/** Which background work of the writers' project the log shows started and not finished. */
function logInFlight(stderr: string): InFlight {
  let fold = false;
  let version = false;
  for (const line of stderr.split('\n')) {
    if (!line.includes(`project ${WRITERS}:`)) continue;
    if (line.includes('folding the log')) fold = true;
    else if (line.includes('log folded') || line.includes('compaction failed')) fold = false;
    else if (line.includes('taking an automatic version')) version = true;
    else if (line.includes('automatic version')) version = false;
  }
  return { fold, version };
}

interface Side {
  issued: boolean;
  inFlight: InFlight;
  /** After the restart: a line saying what is wrong, or null. */
  check?: (url: string, refs: { sideSeed: View; importedView: View }) => Promise<string | null>;
}

/** Run the cycle's operation and return once the kill is due. */
async function sideOperation(kind: Kind, cycle: number, weft: Weft, dir: string, random: Random, estimates: Map<Kind, number>, importData: unknown): Promise<Side> {
  const dataDir = join(dir, 'db');
  if (kind === 'random') return { issued: false, inFlight: {} };
  if (kind === 'fold' || kind === 'version') {
    // Kill as soon as the log says it started (the fold or version may still finish first).
    const deadline = performance.now() + 8000;
    while (performance.now() < deadline && !logInFlight(weft.process.stderrTail(60))[kind]) await sleep(2);
    await sleep(random.int(0, 3));
    return { issued: logInFlight(weft.process.stderrTail(60))[kind] === true, inFlight: {} };
  }
  // Started now, killed a random part of its usual duration later: whether it was still in flight
  // then, and (once the kill is due) whether it was answered with success.
  const killDuring = async (operation: Promise<unknown>): Promise<{ inFlight: boolean; acknowledged: boolean }> => {
    const t0 = performance.now();
    let done = false;
    const succeeded = operation.then(() => true, () => false).finally(() => (done = true));
    const estimate = estimates.get(kind) ?? 300;
    const deadline = t0 + random.next() * estimate * 1.2;
    while (!done && performance.now() < deadline) await sleep(1);
    if (done) estimates.set(kind, performance.now() - t0);
    return { inFlight: !done, acknowledged: done && (await succeeded) };
  };
  if (kind === 'reset' || kind === 'restore') {
    const { session, view: versionView } = await ClassicSession.open(weft.url, SIDE);
    const version = kind === 'restore' ? await takeVersion(weft.url, dataDir, SIDE, `crash ${cycle}`) : 0;
    await session.mark(`marker ${cycle}`);
    const before = await session.load();
    const operation = kind === 'reset' ? session.reset() : restoreVersion(weft.url, dataDir, SIDE, version).then((r) => {
      if (r.status !== 200) throw new Error(`restore: ${r.status}`);
    });
    const { inFlight, acknowledged } = await killDuring(operation);
    return {
      issued: true,
      inFlight: { [kind]: inFlight },
      check: async (url, refs) => {
        session.close();
        const after = (await sideView(url)).view;
        const target = kind === 'reset' ? refs.sideSeed : versionView;
        if (diffViews('side', after, target).length === 0) return null;
        if (!acknowledged && diffViews('side', after, before).length === 0) return null;
        return `the side project after a ${acknowledged ? 'acknowledged ' : ''}${kind} is neither as before nor as after it: ${describe(diffViews('side', after, target))}`;
      },
    };
  }
  const id = `${kind === 'import' ? 'imp' : 'seed'}-${cycle}`;
  if (kind === 'import') {
    const operation = importProject(weft.url, id, importData).then((r) => {
      if (r.status !== 200) throw new Error(`import: ${r.status}`);
    });
    const { inFlight, acknowledged } = await killDuring(operation);
    return {
      issued: true,
      inFlight: { import: inFlight },
      check: async (url, refs) => {
        const listed = (await projectIds(url)).includes(id);
        if (!listed) return acknowledged ? `project ${id} was imported (answered 200) and is gone` : null;
        const view = (await sideView(url, id)).view;
        const d = diffViews(id, view, refs.importedView);
        return d.length ? `project ${id} is not what was imported: ${describe(d)}` : null;
      },
    };
  }
  // A seed load: the imported data becomes the document when the project is first opened.
  const imported = await importProject(weft.url, id, importData);
  if (imported.status !== 200) throw new Error(`import of ${id}: ${imported.status}`);
  const { session } = await openUnloaded(weft.url, id);
  const operation = session.requestDataset();
  const { inFlight } = await killDuring(operation);
  return {
    issued: true,
    inFlight: { seed: inFlight },
    check: async (url, refs) => {
      session.close();
      const view = (await sideView(url, id)).view;
      const d = diffViews(id, view, refs.importedView);
      return d.length ? `project ${id} opened after a kill during its seed load is not its seed: ${describe(d)}` : null;
    },
  };
}

/** A logged-in classic session that has not asked for any dataset yet. */
async function openUnloaded(url: string, project: string): Promise<{ session: ClassicSession }> {
  const socket = await JsonSocket.open(url, 10_000);
  socket.send({ command: 'login', login: ADMIN.login, password: ADMIN.password });
  await socket.waitFor((m) => m.command === 'login' && !('userName' in m), 10_000, 'login reply');
  return { session: ClassicSession.attach(socket, project) };
}
