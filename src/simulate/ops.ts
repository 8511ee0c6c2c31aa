/**
 * The edits simulated users make, chosen at random against what the user currently sees (their
 * client's view), the way a person works in a Gantt chart: add a task, rename it, change progress
 * or duration, drag it under another task or to another place among its siblings, link two
 * tasks, assign a resource, delete a task (with its subtree).
 */
import type { Random } from './random.js';
import { DEPENDENCY_ENDS, ROOT, keyOf, refOf, type View } from './view.js';

/** Record references are keys of the client's view (String(id), phantom ids included). */
export type Op =
  | { kind: 'add'; parent: string | null; index: number; name: string; duration: number; percentDone: number }
  | { kind: 'rename'; task: string; name: string }
  | { kind: 'percentDone'; task: string; value: number }
  | { kind: 'duration'; task: string; value: number }
  | { kind: 'move'; task: string; parent: string | null; index: number }
  | { kind: 'reorder'; task: string; index: number }
  | { kind: 'link'; from: string; to: string }
  | { kind: 'assign'; task: string; resource: string }
  | { kind: 'remove'; task: string }
  | { kind: 'removeResource'; resource: string };

export type OpKind = Op['kind'];
export const OP_KINDS: OpKind[] = ['add', 'rename', 'percentDone', 'duration', 'move', 'reorder', 'link', 'assign', 'remove', 'removeResource'];

export interface GeneratorLimits {
  /** Below this many tasks nothing is removed; above `maxTasks` nothing is added. */
  minTasks: number;
  maxTasks: number;
  /** Largest subtree a single delete may take. */
  maxRemovedSubtree: number;
}

export const DEFAULT_LIMITS: GeneratorLimits = { minTasks: 4, maxTasks: 80, maxRemovedSubtree: 4 };

const WEIGHTS: Record<Exclude<OpKind, 'removeResource'>, number> = {
  add: 18,
  rename: 14,
  percentDone: 14,
  duration: 10,
  move: 10,
  reorder: 10,
  link: 8,
  assign: 7,
  remove: 9,
};

let names = 0;

/** A random edit that makes sense on `view`, or null when none does (e.g. an empty project). */
export function randomOp(view: View, random: Random, author: string, limits: GeneratorLimits = DEFAULT_LIMITS): Op | null {
  const tasks = [...view.tasks.keys()];
  const resources = [...view.store('resources').keys()];
  const weights: Partial<Record<OpKind, number>> = { ...WEIGHTS };
  if (tasks.length >= limits.maxTasks) weights.add = 0;
  if (tasks.length <= limits.minTasks) weights.remove = 0;
  if (tasks.length === 0) return { kind: 'add', parent: null, index: 0, name: `${author} task ${++names}`, duration: random.int(1, 10), percentDone: 0 };
  for (let attempt = 0; attempt < 10; attempt++) {
    const kind = random.weighted(weights);
    if (kind === null) return null;
    const op = build(kind, view, random, author, tasks, resources, limits);
    if (op) return op;
  }
  return null;
}

function build(kind: OpKind, view: View, random: Random, author: string, tasks: string[], resources: string[], limits: GeneratorLimits): Op | null {
  const task = () => random.pick(tasks);
  switch (kind) {
    case 'add': {
      const parent = random.chance(0.25) ? null : task();
      const siblings = view.childrenOf(parent ?? ROOT).length;
      return { kind, parent, index: random.int(0, siblings), name: `${author} task ${++names}`, duration: random.int(1, 10), percentDone: 0 };
    }
    case 'rename':
      return { kind, task: task(), name: `${author} renamed ${++names}` };
    case 'percentDone':
      return { kind, task: task(), value: random.int(0, 100) };
    case 'duration':
      return { kind, task: task(), value: random.int(1, 30) };
    case 'move': {
      const moved = task();
      const targets = [null, ...tasks.filter((k) => !view.isSelfOrAncestor(moved, k))];
      const parent = random.pick(targets);
      if (parent === view.parentKeyOrNull(moved)) return null;
      return { kind, task: moved, parent, index: random.int(0, view.childrenOf(parent ?? ROOT).length) };
    }
    case 'reorder': {
      const moved = task();
      const count = view.childrenOf(view.parentKey(moved)).length;
      if (count < 2) return null;
      const current = view.childrenOf(view.parentKey(moved)).indexOf(moved);
      let index = random.int(0, count - 2);
      if (index >= current) index++;
      return { kind, task: moved, index };
    }
    case 'link': {
      const from = task();
      const to = task();
      if (from === to) return null;
      const linked = [...view.store('dependencies').values()].some((d) => {
        const [a, b] = DEPENDENCY_ENDS.map((n) => refOf(d, n)?.value);
        return (keyOf(a) === from && keyOf(b) === to) || (keyOf(a) === to && keyOf(b) === from);
      });
      return linked ? null : { kind, from, to };
    }
    case 'assign': {
      if (resources.length === 0) return null;
      const t = task();
      const resource = random.pick(resources);
      const taken = [...view.store('assignments').values()].some((a) => keyOf(refOf(a, ['event', 'eventId'])?.value) === t && keyOf(refOf(a, ['resource', 'resourceId'])?.value) === resource);
      return taken ? null : { kind, task: t, resource };
    }
    case 'remove': {
      const small = tasks.filter((k) => view.descendants(k).length < limits.maxRemovedSubtree);
      if (small.length === 0 || tasks.length - 1 < limits.minTasks) return null;
      return { kind, task: random.pick(small) };
    }
    case 'removeResource':
      return resources.length ? { kind, resource: random.pick(resources) } : null;
  }
}

/** One line naming an op, for logs. */
export function describeOp(op: Op): string {
  const { kind, ...rest } = op;
  return `${kind} ${JSON.stringify(rest)}`;
}
