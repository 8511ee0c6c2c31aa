/**
 * Part "storm": 1000 clients over 50 projects are logged in and loaded, some have just written,
 * and the server restarts (SIGTERM, then a new process on the same port and data). Every client
 * comes back after a random delay (0–2 s), retrying while nobody listens, logs in again and loads:
 * classic clients load the dataset, revisions clients catch up from the last revision they hold.
 *
 * Clients back first write at once, so those still away come back to changes they have not seen.
 *
 * Rules: every client back, none holding data other than the server's (each client's view against
 * a fresh load of its project once all are quiet), every change from just before the restart that
 * some client was told of is still there, and no error but retryable ones (storm-reconnect.ts).
 *
 * Settings (--set storm.KEY=N): clients, projects, jitterMs, revisionsEvery (every n-th client
 * speaks the revisions generation), lateWriters (clients writing just before the restart).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateSeed } from '../bench/seed-gen.js';
import { diffViews, validate } from '../src/simulate/check.js';
import { ClassicClient } from '../src/simulate/classic-client.js';
import type { SimClient } from '../src/simulate/client.js';
import { randomOp } from '../src/simulate/ops.js';
import { Random } from '../src/simulate/random.js';
import { RevisionsClient } from '../src/simulate/revisions-client.js';
import { JsonSocket } from '../src/simulate/socket.js';
import { View } from '../src/simulate/view.js';
import { setting, type Figure, type Part, type PartContext, type PartResult } from './part.js';
import { Reconnector } from './storm-reconnect.js';
import { startWeft, type Weft, type WeftSpec } from './weft-process.js';

const TASKS = 20;
const TIMEOUT_MS = 30_000;
/** How long a client keeps trying to come back. */
const GIVE_UP_MS = 180_000;
/** Nothing arrived at any client for this long: everyone is in step. */
const QUIET_MS = 1500;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

interface StormClient {
  client: SimClient;
  project: number;
  reconnector: Reconnector;
}

export const stormPart: Part = {
  name: 'storm',
  summary: '1000 clients over 50 projects lose their server at once and come back with jitter: time, stale data, errors',
  run,
};

async function run(ctx: PartContext): Promise<PartResult> {
  const count = setting(ctx, 'clients', 1000, 200);
  const projects = setting(ctx, 'projects', 50, 10);
  const jitterMs = setting(ctx, 'jitterMs', 2000, 2000);
  const revisionsEvery = setting(ctx, 'revisionsEvery', 5, 5);
  const lateWriters = setting(ctx, 'lateWriters', Math.round(count / 10), Math.round(count / 10));
  const random = new Random(ctx.seed);

  const ids = Array.from({ length: projects }, (_, i) => i + 1);
  const seeds = ids.map((id) => {
    const file = join(ctx.workDir, `seed-${id}.json`);
    writeFileSync(file, JSON.stringify(generateSeed(TASKS, ctx.seed + id).data));
    return { id, name: `Storm ${id}`, seed: file };
  });
  const spec: WeftSpec = {
    name: 'weft-storm',
    dir: join(ctx.workDir, 'weft'),
    config: { projects: seeds, users: {}, groups: {}, anonymous: { enabled: true, projects: ids, readOnly: false } },
  };
  let weft: Weft = await startWeft(spec);
  spec.port = weft.port;
  let lastActivity = performance.now();
  const clients: StormClient[] = [];
  const problems: string[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const project = ids[i % projects];
      const options = { name: `storm-${i}`, login: `storm-${i}`, password: '', url: weft.url, project, timeoutMs: TIMEOUT_MS, onActivity: () => (lastActivity = performance.now()) };
      const client = revisionsEvery > 0 && i % revisionsEvery === revisionsEvery - 1 ? new RevisionsClient(options) : new ClassicClient(options);
      clients.push({ client, project, reconnector: new Reconnector(client, new Random(ctx.seed * 7919 + i), jitterMs, GIVE_UP_MS) });
    }
    const revisionsCount = clients.filter((c) => c.client.kind === 'revisions').length;
    ctx.log(`server up at ${weft.url}; connecting ${count} clients (${revisionsCount} revisions) to ${projects} projects`);
    const t0 = performance.now();
    await inBatches(clients, 50, (c) => c.client.start());
    ctx.log(`all ${count} logged in and loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    // Some write and are told; then some write just before the server goes.
    for (const c of clients) if (random.chance(0.3)) edit(c.client, random);
    await settle(clients, () => lastActivity, 60_000);
    const lateNames = new Map<string, StormClient>();
    // Each a task of its own, which nothing later renames or removes: one that was told must stay.
    for (const c of sample(clients, lateWriters, random)) {
      const name = `late ${c.client.name}`;
      if (c.client.edit({ kind: 'add', parent: null, index: 0, name, duration: 1, percentDone: 0 })) lateNames.set(name, c);
    }
    // Those back first write at once: those still away must catch up with it (revisions clients
    // by revision number), not only with what was there before the restart.
    for (const c of clients) {
      c.reconnector.arm();
      c.reconnector.onBack = () => random.chance(0.2) && progress(c.client, random);
    }
    const stopAt = performance.now();
    await weft.stop();
    // Told = some other client of the project holds it (a broadcast reached it).
    const told = [...lateNames].filter(([name, writer]) => clients.some((c) => c !== writer && c.project === writer.project && hasTaskNamed(c.client.view(), name)));
    ctx.log(`server stopped in ${((performance.now() - stopAt) / 1000).toFixed(1)} s; ${told.length} of ${lateNames.size} late changes were told to other clients; restarting`);

    weft = await startWeft(spec);
    const listeningAt = performance.now();
    ctx.log(`server listening again after ${((listeningAt - stopAt) / 1000).toFixed(1)} s`);
    const allBack = await waitFor(() => clients.every((c) => c.reconnector.onlineAt !== null), GIVE_UP_MS + 10_000);
    const back = clients.filter((c) => c.reconnector.onlineAt !== null);
    const lastBack = Math.max(...back.map((c) => c.reconnector.onlineAt!));
    ctx.log(`${back.length} of ${count} back; the last ${((lastBack - stopAt) / 1000).toFixed(1)} s after the stop`);
    await settle(clients, () => lastActivity, 60_000);

    // Every client against a fresh load of its project.
    const references = new Map<number, View>();
    for (const id of ids) references.set(id, await serverView(weft.url, id));
    let stale = 0;
    for (const c of clients) {
      const diff = diffViews(c.client.name, c.client.view(), references.get(c.project)!);
      if (diff.length === 0) continue;
      stale++;
      if (stale <= 3) problems.push(`${c.client.name} (${c.client.kind}, project ${c.project}, ${c.client.describeState()}) differs from the server: ${JSON.stringify(diff.slice(0, 2)).slice(0, 300)}`);
    }
    const lost = told.filter(([name, writer]) => !hasTaskNamed(references.get(writer.project)!, name));
    for (const [name, writer] of lost.slice(0, 3)) problems.push(`"${name}" (project ${writer.project}) reached other clients before the restart and is gone after it`);
    const invalid = ids.flatMap((id) => validate(`project ${id}`, references.get(id)!));
    for (const p of invalid.slice(0, 3)) problems.push(`${p.replica}: ${p.problem}`);

    const failures = clients.flatMap((c) => [...c.reconnector.failures.map((f) => `${c.client.name}: ${f}`), ...c.client.errors.map((e) => `${c.client.name}: server said: ${e}`)]);
    for (const f of failures.slice(0, 5)) problems.push(f);
    const retryable = clients.reduce((n, c) => n + c.reconnector.retryable, 0);
    if (!allBack) problems.push(`not back: ${clients.filter((c) => c.reconnector.onlineAt === null).slice(0, 3).map((c) => `${c.client.name} (${c.client.describeState()})`).join(', ')}`);

    const figures: Figure[] = [
      { figure: 'clients over projects (classic / revisions)', value: `${count} over ${projects} (${count - revisionsCount} / ${revisionsCount})`, rule: '' },
      { figure: 'back, logged in and loaded', value: `${back.length}/${count}`, rule: 'all', ok: allBack },
      { figure: `time from the stop until all are back (jitter 0-${jitterMs} ms)`, value: `${((lastBack - stopAt) / 1000).toFixed(1)} s (${((lastBack - listeningAt) / 1000).toFixed(1)} s after the new server listened)`, rule: '' },
      { figure: 'clients holding stale data', value: String(stale), rule: '= 0', ok: stale === 0 },
      { figure: 'changes told to others just before the restart, lost', value: `${lost.length} of ${told.length}`, rule: '= 0', ok: lost.length === 0 },
      { figure: 'projects invalid after the storm', value: String(new Set(invalid.map((p) => p.replica)).size), rule: '= 0', ok: invalid.length === 0 },
      { figure: 'errors other than retryable', value: `${failures.length} (retryable: ${retryable})`, rule: '= 0', ok: failures.length === 0 },
    ];
    return { figures, problems };
  } finally {
    await Promise.all(clients.map((c) => c.client.close()));
    await weft.stop();
  }
}

function edit(client: SimClient, random: Random): void {
  const op = randomOp(client.view(), random, client.name);
  if (op) client.edit(op);
}

/** `n` distinct items of `items`, chosen by `random`. */
function sample<T>(items: T[], n: number, random: Random): T[] {
  const copy = [...items];
  for (let i = 0; i < Math.min(n, copy.length); i++) {
    const j = random.int(i, copy.length - 1);
    [copy[i], copy[j]] = [copy[j], copy[i]];
  }
  return copy.slice(0, n);
}

/** A progress update of a random task (what returning users do first, and it renames nothing). */
function progress(client: SimClient, random: Random): void {
  const tasks = [...client.view().tasks.keys()];
  if (tasks.length) client.edit({ kind: 'percentDone', task: random.pick(tasks), value: random.int(0, 100) });
}

function hasTaskNamed(view: View, name: string): boolean {
  for (const task of view.tasks.values()) if (task.name === name) return true;
  return false;
}

/** Run `work` over `items`, at most `width` at a time. */
async function inBatches<T>(items: T[], width: number, work: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, items.length) }, async () => {
      while (next < items.length) await work(items[next++]);
    }),
  );
}

async function waitFor(done: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (!done()) {
    if (performance.now() > deadline) return false;
    await sleep(100);
  }
  return true;
}

/** Every client in step with nothing of its own waiting, and nothing arriving for QUIET_MS. */
async function settle(clients: StormClient[], lastActivity: () => number, timeoutMs: number): Promise<boolean> {
  return waitFor(() => performance.now() - lastActivity() >= QUIET_MS && clients.every((c) => c.client.settled()), timeoutMs);
}

/** The project as a client loading it now gets it (revisions dataset). */
async function serverView(url: string, project: number): Promise<View> {
  const socket = await JsonSocket.open(url, TIMEOUT_MS);
  try {
    socket.send({ command: 'login', data: { login: 'storm-check', password: '' } });
    await socket.waitFor((m) => m.command === 'login', TIMEOUT_MS, 'login reply');
    socket.send({ command: 'dataset', data: { project } });
    const loaded = await socket.waitFor((m) => m.command === 'dataset' && m.data?.project === project, TIMEOUT_MS, 'dataset');
    return View.fromDataset(loaded.data.dataset);
  } finally {
    socket.close();
  }
}
