/**
 * Real Bryntum clients editing the demo project at random, three at a time, for a number of
 * rounds: each round every client makes one edit a few milliseconds apart from the others (so
 * edits cross on the wire), and now and then everyone waits for the traffic to settle. At the end
 * the clients must fall quiet within a few seconds and hold what a freshly loaded client holds.
 * Seeds pick the edits and their timing: `BRYNTUM_SEEDS=81,82,83,84,85,86` (the default).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../support/server.js';
import { ClassicClient, RevisionsClient, bryntumWindow, quiet, type BryntumClient } from './client.js';

type Rec = Record<string, any>;
type Kind = typeof ClassicClient | typeof RevisionsClient;

const SEEDS = (process.env.BRYNTUM_SEEDS ?? '81,82,83,84,85,86').split(',').map(Number);
const ROUNDS = Number(process.env.BRYNTUM_ROUNDS ?? 20);

/** A small seeded generator (mulberry32), so a failing seed can be run again. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One edit a user may make, on whatever the client shows now. */
function randomEdit(rng: () => number, label: string): (project: Rec) => void {
  const pick = <T>(list: T[]): T | undefined => (list.length ? list[Math.floor(rng() * list.length)] : undefined);
  const roll = rng();
  const n = Math.floor(rng() * 1000);
  return (project) => {
    const tasks: Rec[] = project.taskStore.allRecords.filter((t: Rec) => !t.isRoot);
    const leaves = tasks.filter((t) => t.isLeaf);
    if (roll < 0.18) {
      const task = pick(tasks);
      if (task) task.name = `${label}-${n}`;
    } else if (roll < 0.36) {
      const task = pick(leaves);
      if (task) task.duration = 1 + (n % 9);
    } else if (roll < 0.44) {
      const task = pick(leaves);
      if (task) task.percentDone = n % 100;
    } else if (roll < 0.56) {
      const parent = pick(tasks);
      if (parent) parent.appendChild({ name: `${label}-new-${n}`, duration: 1 + (n % 5) });
    } else if (roll < 0.62) {
      // Keep the project from shrinking away: remove only tasks made during the run.
      const task = pick(leaves.filter((t) => String(t.name).includes('-new-')));
      task?.remove();
    } else if (roll < 0.72) {
      const task = pick(leaves);
      const target = pick(tasks.filter((t) => t !== task && !t.isLeaf));
      if (task && target && !task.contains?.(target)) target.appendChild(task);
    } else if (roll < 0.88) {
      const from = pick(leaves);
      const to = pick(leaves.filter((t) => t !== from));
      if (from && to) project.dependencyStore.add({ fromTask: from, toTask: to });
    } else {
      pick(project.dependencyStore.allRecords as Rec[])?.remove();
    }
  };
}

let server: TestServer | null = null;
const clients: BryntumClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await server?.dispose();
  server = null;
});

async function client(login: string, Kind: Kind): Promise<BryntumClient> {
  const c = new Kind(await bryntumWindow(), `ws://127.0.0.1:${server!.port}`);
  clients.push(c);
  await c.connect(login);
  await c.load(1);
  return c;
}

/** Messages the group sent and received within `ms`, counted from now. */
async function framesWithin(group: BryntumClient[], ms: number): Promise<number> {
  const before = group.reduce((n, c) => n + c.activity, 0);
  await sleep(ms);
  return group.reduce((n, c) => n + c.activity, 0) - before;
}

async function run(seed: number, kinds: Kind[]): Promise<void> {
  // BRYNTUM_TRACE_DIR=<dir>: each run's frames go to a file of their own there (client.ts).
  const dir = process.env.BRYNTUM_TRACE_DIR;
  if (dir) process.env.BRYNTUM_TRACE = `${dir}/${kinds.map((k) => (k === ClassicClient ? 'c' : 'r')).join('')}-${seed}.log`;
  server = await startServer();
  const rng = random(seed);
  const group: BryntumClient[] = [];
  for (const [i, Kind] of kinds.entries()) group.push(await client(['admin', 'alex', 'ben'][i], Kind));
  for (let round = 0; round < ROUNDS; round++) {
    await Promise.all(
      group.map(async (c, i) => {
        await sleep(Math.floor(rng() * 25));
        await c.edit(randomEdit(rng, `c${i}r${round}`));
      }),
    );
    if (rng() < 0.3) await quiet(group, 200, 20_000);
  }
  // Everyone falls quiet within a few seconds of the last edit...
  await quiet(group, 1000, 10_000);
  expect(await framesWithin(group, 1000), 'messages in a second after settling').toBe(0);
  // ...and holds what a client loading the project now gets.
  const fresh = await client('admin', kinds[0]);
  const view = (c: BryntumClient) => ({ tasks: c.tasks(), links: c.links(), schedule: c.schedule() });
  for (const [i, c] of group.entries()) expect(view(c), `client ${i} (${c.name})`).toEqual(view(fresh));
  expect(fresh.errors).toEqual([]);
}

describe('real Bryntum clients editing at random', () => {
  for (const seed of SEEDS) {
    it(`classic clients converge and fall quiet (seed ${seed})`, () => run(seed, [ClassicClient, ClassicClient, ClassicClient]), 180_000);
    it(`revisions clients converge and fall quiet (seed ${seed})`, () => run(seed, [RevisionsClient, RevisionsClient, RevisionsClient]), 180_000);
    it(`classic and revisions clients on one project converge and fall quiet (seed ${seed})`, () => run(seed, [RevisionsClient, ClassicClient, RevisionsClient]), 180_000);
  }
});
