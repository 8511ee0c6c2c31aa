/**
 * Two users set the same field of the same task at nearly the same moment, a third watches: the
 * case where classic engines used to answer each other's values without end. The task is a leaf
 * with successors and a summary parent, so each write moves dates and roll-ups in every engine.
 * Each seed picks the gap between the two writes and which user writes first. Every run must fall
 * quiet (no frame for a second) within 5 s and hold what a freshly loaded client holds.
 * `BRYNTUM_SAME_FIELD_RUNS` sets how many seeds (24 by default).
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../support/server.js';
import { ClassicClient, bryntumWindow, type BryntumClient } from './client.js';

type Rec = Record<string, any>;
const RUNS = Number(process.env.BRYNTUM_SAME_FIELD_RUNS ?? 24);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let server: TestServer | null = null;
const clients: BryntumClient[] = [];
const figures: string[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await server?.dispose();
  server = null;
});
afterAll(() => {
  if (figures.length) console.log(`same field, same moment:\n${figures.join('\n')}`);
});

/** `autoSyncMs` 0 for the two writers: each edit leaves at once, so both reach the server. */
async function client(login: string, autoSyncMs = 100): Promise<BryntumClient> {
  const c = new ClassicClient(await bryntumWindow(), `ws://127.0.0.1:${server!.port}`, autoSyncMs);
  clients.push(c);
  await c.connect(login);
  await c.load(1);
  return c;
}

/** Waits until no frame moved for `calmMs`; returns the time it took, or null past `limitMs`. */
async function settle(group: BryntumClient[], calmMs: number, limitMs: number): Promise<number | null> {
  const start = Date.now();
  let last = group.reduce((n, c) => n + c.activity, 0);
  let lastMove = start;
  while (Date.now() - start < limitMs + calmMs) {
    await sleep(25);
    const now = group.reduce((n, c) => n + c.activity, 0);
    if (now !== last || group.some((c) => c.busy)) {
      last = now;
      lastMove = Date.now();
    } else if (Date.now() - lastMove >= calmMs) return lastMove - start;
  }
  return null;
}

async function run(seed: number): Promise<void> {
  server = await startServer();
  const [ann, ben, cid] = [await client('admin', 0), await client('alex', 0), await client('ben')];
  const group = [ann, ben, cid];
  // A leaf with successors under a summary task.
  const task = ann.project!.taskStore.allRecords.find((t: Rec) => t.isLeaf && !t.parent?.isRoot && t.outgoingDeps?.size > 0 && !t.isMilestone);
  expect(task, 'a leaf task with successors under a summary').toBeDefined();
  const id = task.id;
  const gapMs = (seed * 7) % 11;
  const [first, second] = seed % 2 ? [ann, ben] : [ben, ann];
  const before = group.reduce((n, c) => n + c.activity, 0);
  const writes = [first.edit((p) => void (p.taskStore.getById(id).duration = 6)), sleep(gapMs).then(() => second.edit((p) => void (p.taskStore.getById(id).duration = 7)))];
  await Promise.all(writes);
  const settledMs = await settle(group, 1000, 5000);
  const frames = group.reduce((n, c) => n + c.activity, 0) - before;
  figures.push(`seed ${seed}: gap ${gapMs} ms, ${first.name} first: ${frames} frames, quiet after ${settledMs ?? '>5000'} ms`);
  expect(settledMs, `seed ${seed}: quiet within 5 s (${frames} frames)`).not.toBeNull();
  expect(settledMs!).toBeLessThanOrEqual(5000);
  const fresh = await client('admin');
  const view = (c: BryntumClient) => ({ tasks: c.tasks(), links: c.links(), schedule: c.schedule() });
  for (const c of group) expect(view(c), `${c.name} beside a fresh load`).toEqual(view(fresh));
  expect([6, 7]).toContain(fresh.project!.taskStore.getById(id).duration);
  for (const c of [...group, fresh]) expect(c.errors).toEqual([]);
}

describe('real classic clients setting the same field of one task at the same moment', () => {
  for (let seed = 1; seed <= RUNS; seed++) it(`fall quiet within 5 s and agree with a fresh load (seed ${seed})`, () => run(seed), 60_000);
});
