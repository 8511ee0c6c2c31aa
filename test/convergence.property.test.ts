/**
 * Convergence under random interleavings: classic, revisions and Yjs clients edit one small
 * project concurrently (no waiting for each other), go offline with edits piling up and come
 * back; at the end every client, the server's dataset and the server's Yjs document must be equal
 * and valid. Each property run gets a fresh project on one shared server.
 *
 * Also: for each client kind, edits made offline to records another client removed meanwhile.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { Simulation, Outcome } from '../src/simulate/runner.js';
import type { ClientKind, SimClient } from '../src/simulate/client.js';
import { describeDivergence } from '../src/simulate/report.js';
import { randomOp, type Op } from '../src/simulate/ops.js';
import { Random, sleep } from '../src/simulate/random.js';
import { ROOT, type Rec, type View } from '../src/simulate/view.js';
import { TEST_SEED } from './support/seed.js';
import { TINY_LIMITS, simulationOn, startSimServer, type SimServer } from './support/simulation.js';

let s: SimServer;
beforeAll(async () => {
  s = await startSimServer(80);
});
afterAll(async () => {
  await s?.dispose();
});

function explain(outcome: Outcome): string {
  return [
    ...outcome.unsettled.map((u) => `unsettled ${u.client}: ${u.state}`),
    ...outcome.problems.map((p) => `invalid ${p.replica}: ${p.problem}`),
    ...outcome.divergences.slice(0, 30).map(describeDivergence),
  ].join('\n');
}

function expectConverged(outcome: Outcome): void {
  expect(explain(outcome)).toBe('');
  expect(outcome.settled && outcome.converged && outcome.valid).toBe(true);
}

/**
 * The property runs start from one seed, so `npm test` checks the same cases every time;
 * `WEFT_TEST_SEED=random` (or a number) explores others (test/support/seed.ts). Cases found that
 * way are kept below.
 */
const SEED = TEST_SEED;

type Step =
  | { kind: 'edit'; client: number; seed: number }
  | { kind: 'offline'; client: number }
  | { kind: 'online'; client: number }
  | { kind: 'pause'; ms: number };

const stepArb = (offline: boolean): fc.Arbitrary<Step> =>
  fc.oneof(
    { weight: 8, arbitrary: fc.record({ kind: fc.constant('edit' as const), client: fc.nat(9), seed: fc.nat() }) },
    { weight: offline ? 2 : 0, arbitrary: fc.record({ kind: fc.constant('offline' as const), client: fc.nat(9) }) },
    { weight: offline ? 2 : 0, arbitrary: fc.record({ kind: fc.constant('online' as const), client: fc.nat(9) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('pause' as const), ms: fc.integer({ min: 1, max: 60 }) }) },
  );

const mixArb = fc
  .record({ classic: fc.integer({ min: 0, max: 2 }), revisions: fc.integer({ min: 0, max: 2 }), yjs: fc.integer({ min: 0, max: 2 }) })
  .filter((m) => m.classic + m.revisions + m.yjs >= 2);

/** Play the steps without waiting for the server in between (reconnects race with later edits). */
async function play(sim: Simulation, steps: Step[]): Promise<void> {
  const reconnects: Promise<void>[] = [];
  for (const step of steps) {
    if (step.kind === 'pause') {
      await sleep(step.ms);
      continue;
    }
    const client = sim.clients[step.client % sim.clients.length];
    if (step.kind === 'edit') {
      const op = randomOp(client.view(), new Random(step.seed), client.name, TINY_LIMITS);
      if (op) client.edit(op);
    } else if (step.kind === 'offline') client.goOffline();
    else {
      const reconnect = client.goOnline();
      // Failures are reported by Promise.all below, not as unhandled meanwhile.
      reconnect.catch(() => {});
      reconnects.push(reconnect);
    }
  }
  await Promise.all(reconnects);
}

async function runProperty(mix: Record<ClientKind, number>, steps: Step[]): Promise<void> {
  const sim = await simulationOn(s, s.freshProject(), mix);
  try {
    await play(sim, steps);
    expectConverged(await sim.check());
  } finally {
    await sim.close();
  }
}

describe('convergence over random interleavings', () => {
  it('concurrent edits by online clients of every kind', async () => {
    await fc.assert(fc.asyncProperty(mixArb, fc.array(stepArb(false), { minLength: 5, maxLength: 40 }), runProperty), { numRuns: 20, endOnFailure: true, seed: SEED });
  }, 180_000);

  it('replays a recorded case: a task sent back whole after a move under a removed parent does not undo a rename made meanwhile', async () => {
    // Found by the property above (seed -1605073138, path 19): a classic client renamed the task
    // before the server's copy of it (with the old name) reached it, and was never told otherwise.
    await fc.assert(fc.asyncProperty(mixArb, fc.array(stepArb(false), { minLength: 5, maxLength: 40 }), runProperty), { seed: -1605073138, path: '19', numRuns: 1, endOnFailure: true });
  });

  it('replays a recorded case: a classic client that missed the echo of its task links to it offline', async () => {
    // Found by the property below (seed 884876587, path 10): the client still referred to the
    // phantom id after a reload; the server had resolved it and echoed the real id.
    await fc.assert(fc.asyncProperty(mixArb, fc.array(stepArb(true), { minLength: 5, maxLength: 50 }), runProperty), { seed: 884876587, path: '10', numRuns: 1, endOnFailure: true });
  });

  it('offline batches and reconnects racing with edits', async () => {
    await fc.assert(fc.asyncProperty(mixArb, fc.array(stepArb(true), { minLength: 5, maxLength: 50 }), runProperty), { numRuns: 20, endOnFailure: true, seed: SEED });
  }, 180_000);

  // Known, not fixed yet (CHANGELOG, Known issues): these recorded cases still diverge; `it.fails`
  // turns red once they converge, to be made ordinary tests then.
  it.fails('replays a recorded case (known issue): a classic client ends without a child moved out of a task it moved under a removed parent', async () => {
    // Found with seed -2119318620, path 11.
    const steps = fc.array(stepArb(true), { minLength: 10, maxLength: 50 });
    await fc.assert(fc.asyncProperty(steps, (st) => runProperty({ classic: 1, revisions: 1, yjs: 3 }, st)), { seed: -2119318620, path: '11', numRuns: 1, endOnFailure: true });
  });

  it.fails('replays a recorded case (known issue): a classic client keeps a task the server removed', async () => {
    // Found with seed -862909301, path 13.
    await fc.assert(fc.asyncProperty(mixArb, fc.array(stepArb(false), { minLength: 5, maxLength: 40 }), runProperty), { seed: -862909301, path: '13', numRuns: 1, endOnFailure: true });
  });

  it('Yjs replicas editing offline, with a Bryntum client of each generation watching', async () => {
    const mix = { classic: 1, revisions: 1, yjs: 3 };
    const steps = fc.array(stepArb(true), { minLength: 10, maxLength: 50 });
    await fc.assert(fc.asyncProperty(steps, (st) => runProperty(mix, st)), { numRuns: 15, endOnFailure: true, seed: SEED });
  }, 180_000);
});

/** The task of `view` named `name` (key and record). */
function taskNamed(view: View, name: string): [string, Rec] | undefined {
  return [...view.tasks].find(([, t]) => t.name === name);
}

function edit(client: SimClient, op: Op): void {
  expect(client.edit(op), `${client.name}: ${op.kind}`).toBe(true);
}

describe('edits made offline to records removed meanwhile', () => {
  // The tiny seed: 1 > (2 > 3, 4), (5 > 6, 7); dependency 3 -> 4; 3 assigned to Ann (resource 1).
  const remover: Record<ClientKind, ClientKind> = { classic: 'revisions', revisions: 'yjs', yjs: 'classic' };

  for (const kind of ['classic', 'revisions', 'yjs'] as const) {
    it(`${kind}: offline edits under a removed subtree and to a removed resource end up repaired, everywhere alike`, async () => {
      const sim = await simulationOn(s, s.freshProject(), { classic: 1, revisions: 1, yjs: 1 });
      try {
        const offline = sim.client(`${kind}-1`);
        const other = sim.client(`${remover[kind]}-1`);
        offline.goOffline();
        // Made offline against the old state: all of them touch what `other` removes meanwhile.
        edit(offline, { kind: 'rename', task: '3', name: 'Sketch (offline)' });
        edit(offline, { kind: 'percentDone', task: '4', value: 50 });
        edit(offline, { kind: 'add', parent: '2', index: 1, name: 'offline child', duration: 2, percentDone: 0 });
        edit(offline, { kind: 'move', task: '6', parent: '3', index: 0 });
        edit(offline, { kind: 'link', from: '4', to: '7' });
        edit(offline, { kind: 'assign', task: '7', resource: '2' });
        edit(offline, { kind: 'reorder', task: '7', index: 0 });
        const added = taskNamed(offline.view(), 'offline child')![0];
        edit(offline, { kind: 'add', parent: added, index: 0, name: 'offline grandchild', duration: 1, percentDone: 0 });

        edit(other, { kind: 'remove', task: '2' });
        edit(other, { kind: 'removeResource', resource: '2' });
        expect(await sim.settle([offline.name])).toEqual({ settled: true, unsettled: [] });

        await offline.goOnline();
        const outcome = await sim.check();
        expectConverged(outcome);

        const view = other.view();
        for (const gone of ['2', '3', '4']) expect(view.tasks.has(gone)).toBe(false);
        expect(view.store('resources').has('2')).toBe(false);
        // Added under a removed parent: kept, at the top level; its own child stays with it.
        const [childKey, child] = taskNamed(view, 'offline child')!;
        expect(child.parentId).toBe(null);
        expect(taskNamed(view, 'offline grandchild')![1].parentId).toEqual(child.id);
        expect(view.childrenOf(childKey)).toHaveLength(1);
        // Moved under a removed task: kept, at the top level.
        expect(view.tasks.get('6')!.parentId).toBe(null);
        expect(view.childrenOf(ROOT)).toEqual(expect.arrayContaining(['6', childKey]));
        // Links and assignments to removed records are gone; 7 stays first under 5.
        for (const dep of view.store('dependencies').values()) expect([dep.fromTask, dep.toTask]).not.toContain(4);
        for (const a of view.store('assignments').values()) expect(a.resource).not.toBe(2);
        expect(view.childrenOf('5')[0]).toBe('7');
      } finally {
        await sim.close();
      }
    }, 60_000);
  }
});
