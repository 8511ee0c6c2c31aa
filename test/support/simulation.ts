/**
 * A server for simulation tests: many small projects from one tiny seed, so each test (or each
 * property run) edits a project of its own, plus helpers to run simulated clients on one.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Simulation, type SimulationOptions } from '../../src/simulate/runner.js';
import type { ClientKind } from '../../src/simulate/client.js';
import type { GeneratorLimits } from '../../src/simulate/ops.js';
import { startServer, tempDir, type TestServer } from './server.js';

/**
 *   1 Project
 *     2 Design     (3 Sketch, 4 Review)
 *     5 Build      (6 Frontend, 7 Backend)
 * resources 1 Ann, 2 Bob; dependency 1: 3 -> 4; assignment 1: 3 to Ann.
 */
export const TINY_SEED = {
  project: { calendar: 'general', startDate: '2024-01-08', hoursPerDay: 24, daysPerWeek: 5, daysPerMonth: 20 },
  calendars: { rows: [{ id: 'general', name: 'General', intervals: [{ recurrentStartDate: 'on Sat at 0:00', recurrentEndDate: 'on Mon at 0:00', isWorking: false }] }] },
  tasks: {
    rows: [
      {
        id: 1,
        name: 'Project',
        expanded: true,
        children: [
          { id: 2, name: 'Design', duration: 3, percentDone: 0, expanded: true, children: [{ id: 3, name: 'Sketch', duration: 1, percentDone: 0 }, { id: 4, name: 'Review', duration: 2, percentDone: 0 }] },
          { id: 5, name: 'Build', duration: 5, percentDone: 0, expanded: true, children: [{ id: 6, name: 'Frontend', duration: 3, percentDone: 0 }, { id: 7, name: 'Backend', duration: 4, percentDone: 0 }] },
        ],
      },
    ],
  },
  resources: { rows: [{ id: 1, name: 'Ann' }, { id: 2, name: 'Bob' }] },
  dependencies: { rows: [{ id: 1, fromTask: 3, toTask: 4, type: 2, lag: 0 }] },
  assignments: { rows: [{ id: 1, event: 3, resource: 1, units: 100 }] },
};

/** Limits of the random edits for the tiny project: it may grow a little and never empties. */
export const TINY_LIMITS: GeneratorLimits = { minTasks: 3, maxTasks: 30, maxRemovedSubtree: 4 };

export interface SimServer {
  server: TestServer;
  url: string;
  /** A project nobody has edited yet. */
  freshProject(): number;
  dispose(): Promise<void>;
}

export async function startSimServer(projects = 60): Promise<SimServer> {
  const dir = await tempDir('weft-sim-');
  const seed = join(dir, 'tiny.json');
  await writeFile(seed, JSON.stringify(TINY_SEED));
  const ids = Array.from({ length: projects }, (_, i) => i + 1);
  const server = await startServer({
    projects: ids.map((id) => ({ id, name: `Tiny ${id}`, seed })),
    groups: { admin: ids, user: [1] },
    // Projects nobody is subscribed to stay loaded while a test still checks them.
    storage: { unloadAfterSeconds: 600 },
  });
  let next = 0;
  return {
    server,
    url: `ws://127.0.0.1:${server.port}`,
    freshProject: () => {
      if (next >= projects) throw new Error('no fresh project left: start the server with more');
      return ids[next++];
    },
    dispose: async () => {
      await server.dispose();
      const { rm } = await import('node:fs/promises');
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export function simulationOn(s: SimServer, project: number, mix: Partial<Record<ClientKind, number>>, extra: Partial<SimulationOptions> = {}): Promise<Simulation> {
  return Simulation.start({
    url: s.url,
    project,
    mix: { classic: 0, revisions: 0, yjs: 0, ...mix },
    login: 'admin',
    password: 'admin',
    seed: 1,
    // Long enough that a busy machine (the whole suite runs in parallel) does not pass for quiet.
    quietMs: 700,
    settleTimeoutMs: 15_000,
    timeoutMs: 5_000,
    limits: TINY_LIMITS,
    ...extra,
  });
}
