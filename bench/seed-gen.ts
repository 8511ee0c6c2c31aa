/**
 * Synthetic Gantt projects in the demo seed layout, and a config file that serves them.
 *
 * Tasks form a forest with 10 children per summary task (10 top-level tasks, then level by
 * level), ~1 dependency per task, one resource per 20 tasks and ~1 assignment per task.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface BenchProject {
  id: number;
  name: string;
  tasks: number;
  seed: string;
}

export interface SeedCounts {
  tasks: number;
  dependencies: number;
  resources: number;
  assignments: number;
}

type Row = Record<string, unknown>;

const FANOUT = 10;
const DAY = 86_400_000;
const PROJECT_START = Date.UTC(2025, 0, 6);
const ID_BASE = { dependencies: 1_000_000, resources: 2_000_000, assignments: 3_000_000 };
const WORDS = ['Design', 'Build', 'Review', 'Test', 'Deploy', 'Plan', 'Migrate', 'Document', 'Audit', 'Integrate', 'Refactor', 'Measure'];
const OBJECTS = ['API', 'database', 'frontend', 'billing', 'reports', 'auth', 'search', 'mobile app', 'pipeline', 'dashboard'];
const CITIES = ['Barcelona', 'Stockholm', 'Berlin', 'Lisbon', 'Toronto', 'Osaka', 'Nairobi', 'Lima'];

/** Small deterministic PRNG (mulberry32), so every run benchmarks the same data. */
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

const isoDate = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** Parent index of task `i` (0-based, breadth-first numbering), or -1 at the top level. */
const parentIndex = (i: number) => (i < FANOUT ? -1 : Math.floor(i / FANOUT) - 1);

export function generateSeed(taskCount: number, seed: number): { data: Row; counts: SeedCounts } {
  const rnd = random(seed);
  const pick = <T>(list: T[]) => list[Math.floor(rnd() * list.length)];
  const isParent = (i: number) => (i + 1) * FANOUT < taskCount;

  const flat: Row[] = [];
  const childrenOf = new Map<number, Row[]>();
  for (let i = 0; i < taskCount; i++) {
    const start = PROJECT_START + Math.floor(rnd() * 200) * DAY;
    const duration = 1 + Math.floor(rnd() * 20);
    const task: Row = {
      id: i + 1,
      name: `${pick(WORDS)} ${pick(OBJECTS)} ${i + 1}`,
      startDate: isoDate(start),
      endDate: isoDate(start + duration * DAY),
      duration,
      durationUnit: 'day',
      effort: duration * 8,
      effortUnit: 'hour',
      percentDone: Math.floor(rnd() * 101),
      schedulingMode: 'Normal',
      constraintType: null,
      note: rnd() < 0.2 ? `Owner to confirm scope of item ${i + 1}` : '',
    };
    if (isParent(i)) task.expanded = i < FANOUT;
    flat.push(task);
    const p = parentIndex(i);
    if (p >= 0) {
      let list = childrenOf.get(p);
      if (!list) childrenOf.set(p, (list = []));
      list.push(task);
    }
  }
  for (const [p, list] of childrenOf) flat[p].children = list;
  const roots = flat.slice(0, Math.min(FANOUT, taskCount));

  const leaves: number[] = [];
  for (let i = 0; i < taskCount; i++) if (!isParent(i)) leaves.push(i);

  // Finish-to-start chains between leaf siblings, topped up with forward links between leaves.
  const dependencies: Row[] = [];
  const dependency = (from: number, to: number) =>
    dependencies.push({ id: ID_BASE.dependencies + dependencies.length + 1, fromTask: from + 1, toTask: to + 1, type: 2, lag: 0, lagUnit: 'day' });
  for (let k = 1; k < leaves.length; k++) {
    if (parentIndex(leaves[k]) === parentIndex(leaves[k - 1])) dependency(leaves[k - 1], leaves[k]);
  }
  for (let guard = 0; dependencies.length < taskCount && guard < taskCount * 4; guard++) {
    const a = leaves[Math.floor(rnd() * leaves.length)];
    const b = leaves[Math.floor(rnd() * leaves.length)];
    if (a < b && parentIndex(a) !== parentIndex(b)) dependency(a, b);
  }

  const resourceCount = Math.max(1, Math.round(taskCount / 20));
  const resources: Row[] = [];
  for (let r = 0; r < resourceCount; r++) {
    resources.push({ id: ID_BASE.resources + r + 1, name: `Resource ${r + 1}`, city: pick(CITIES), calendar: null });
  }

  const assignments: Row[] = [];
  const assign = (task: number) =>
    assignments.push({ id: ID_BASE.assignments + assignments.length + 1, event: task + 1, resource: pick(resources).id, units: 100 });
  for (const leaf of leaves) assign(leaf);
  for (let k = 0; assignments.length < taskCount && k < leaves.length * 2; k++) assign(leaves[Math.floor(rnd() * leaves.length)]);

  const data: Row = {
    success: true,
    project: { startDate: isoDate(PROJECT_START), hoursPerDay: 24, daysPerWeek: 5, daysPerMonth: 20 },
    calendars: { rows: [] },
    tasks: { rows: roots },
    dependencies: { rows: dependencies },
    resources: { rows: resources },
    assignments: { rows: assignments },
    versions: { rows: [] },
  };
  return { data, counts: { tasks: taskCount, dependencies: dependencies.length, resources: resources.length, assignments: assignments.length } };
}

/** Writes one seed file per size (project ids 1, 2, ...) and the config file listing them. */
export function writeBenchFiles(dir: string, sizes: number[]): { configFile: string; projects: (BenchProject & SeedCounts)[] } {
  const projects = sizes.map((tasks, i) => {
    const { data, counts } = generateSeed(tasks, 1000 + i);
    const seed = join(dir, `project-${tasks}.json`);
    writeFileSync(seed, JSON.stringify(data));
    return { id: i + 1, name: `Bench ${label(tasks)}`, seed, ...counts };
  });
  const ids = projects.map((p) => p.id);
  const config = {
    projects: projects.map((p) => ({ id: p.id, name: p.name, seed: p.seed })),
    users: { bench: { password: 'bench', group: 'all' } },
    groups: { all: ids },
    anonymous: { enabled: true, projects: ids },
  };
  const configFile = join(dir, 'config.json');
  writeFileSync(configFile, JSON.stringify(config, null, 2));
  return { configFile, projects };
}

export function label(tasks: number): string {
  return tasks >= 1000 ? `${tasks / 1000}k` : String(tasks);
}
