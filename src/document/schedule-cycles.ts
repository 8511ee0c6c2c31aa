/**
 * Scheduling cycles: dependencies that, together with the task tree, make a task wait for itself.
 * Bryntum's scheduling engine cannot load such a project (every client that loads it fails), so
 * the integrity rules never let one into the document (src/document/integrity.ts, rule 5).
 *
 * The engine's constraints, as a graph with two nodes per task, "start" and "end":
 * - a dependency A -> B (any type): end(A) -> start(B);
 * - a task's start constrains its children's starts: start(T) -> start(child);
 * - a task's own end, and its parent's end that rolls it up: start(T) -> end(T) -> end(parent).
 * A cycle must use a dependency edge, since the tree edges alone only go down (starts) or up (ends).
 * So a dependency A -> B closes a cycle exactly when end(A) is reachable from start(B).
 */
import { ACTIVE_FIELD, DEPENDENCY_ENDS, firstField, isRecordId, readField, recordKey, type FieldMap, type StoreMap } from './layout.js';
import { ROOT, type TreeIndex } from './tree.js';

/** The task key a dependency end names (the first of `names` it has), or undefined. */
function endOf(record: FieldMap, names: readonly string[]): string | undefined {
  const value = firstField(record, names);
  return isRecordId(value) ? recordKey(value) : undefined;
}

/** A multimap kept small: most tasks have no dependency or one (a string), a few have a list. */
type Links = Map<string, string | string[]>;

function link(index: Links, task: string, key: string): void {
  const current = index.get(task);
  if (current === undefined) index.set(task, key);
  else if (typeof current === 'string') index.set(task, [current, key]);
  else current.push(key);
}

function unlink(index: Links, task: string, key: string): void {
  const current = index.get(task);
  if (current === key) index.delete(task);
  else if (Array.isArray(current)) {
    const i = current.indexOf(key);
    // Stryker disable next-line ConditionalExpression: update() unlinks only the ends it linked, so the key is always there
    if (i >= 0) current.splice(i, 1);
    if (current.length === 1) index.set(task, current[0]);
  }
}

function linked(index: Links, task: string): readonly string[] {
  const current = index.get(task);
  return current === undefined ? [] : typeof current === 'string' ? [current] : current;
}

/**
 * Dependencies by the task they start from and the task they lead to, kept current by the
 * integrity rules from what each transaction touched, so no check scans the whole store.
 */
export class DependencyIndex {
  /** `from` and `to` task keys of each live dependency. */
  private readonly ends = new Map<string, readonly [string, string]>();
  private readonly bySource: Links = new Map();
  private readonly byTarget: Links = new Map();

  /** `pending`: keys left out for now, picked up by `update`. */
  constructor(
    private readonly dependencies: StoreMap,
    pending: Iterable<string> = [],
  ) {
    const later = new Set(pending);
    for (const key of dependencies.keys()) if (!later.has(key)) this.update(key);
  }

  /**
   * Re-read one dependency (after it was added, changed or removed). True when it now links two
   * tasks it did not link before, so it may close a cycle.
   */
  update(key: string): boolean {
    const old = this.ends.get(key);
    const record = this.dependencies.get(key);
    // An inactive dependency does not constrain the schedule.
    const live = record !== undefined && readField(record, ACTIVE_FIELD) !== false;
    const from = live ? endOf(record, DEPENDENCY_ENDS[0]) : undefined;
    const to = live ? endOf(record, DEPENDENCY_ENDS[1]) : undefined;
    if (old && old[0] === from && old[1] === to) return false;
    if (old) {
      unlink(this.bySource, old[0], key);
      unlink(this.byTarget, old[1], key);
      this.ends.delete(key);
    }
    if (from === undefined || to === undefined) return false;
    this.ends.set(key, [from, to]);
    link(this.bySource, from, key);
    link(this.byTarget, to, key);
    return true;
  }

  endsOf(key: string): { from: string; to: string } | undefined {
    const ends = this.ends.get(key);
    return ends && { from: ends[0], to: ends[1] };
  }

  /** Dependencies leading out of `task` and into it. */
  touching(task: string): string[] {
    return [...linked(this.bySource, task), ...linked(this.byTarget, task)];
  }

  targetsFrom(task: string): string[] {
    return linked(this.bySource, task).map((key) => this.ends.get(key)![1]);
  }
}

/** What the search needs of the task tree (TreeIndex, or a plain view of a dataset). */
export interface TaskTree {
  childKeys(task: string): Iterable<string>;
  parentKey(task: string): string | undefined;
}

/** What the search needs of the dependencies (DependencyIndex, or a plain view of a dataset). */
export interface TaskLinks {
  endsOf(key: string): { from: string; to: string } | undefined;
  targetsFrom(task: string): Iterable<string>;
}

/** True when dependency `key` closes a scheduling cycle: end(from) is reachable from start(to). */
export function closesCycle(key: string, links: TaskLinks, tree: TaskTree): boolean {
  const ends = links.endsOf(key);
  if (!ends) return false;
  const { from, to } = ends;
  const starts = new Set<string>();
  const finishes = new Set<string>();
  const startStack = [to];
  const endStack: string[] = [];
  // Starts and ends in turns, and `from` recognised as soon as it is reached: walking every start
  // below `to` first made a dependency from a task to its child (a loop through the parent's end,
  // two steps away) cost the child's whole subtree, and many of them the square of a chain's length.
  // Stryker disable next-line ConditionalExpression: the first start taken is `to`, found to be `from` there
  if (to === from) return true;
  while (startStack.length || endStack.length) {
    const start = startStack.pop();
    if (start !== undefined && !starts.has(start)) {
      starts.add(start);
      for (const child of tree.childKeys(start)) startStack.push(child);
      if (start === from) return true;
      endStack.push(start);
    }
    const end = endStack.pop();
    if (end === undefined || finishes.has(end)) continue;
    finishes.add(end);
    const parent = tree.parentKey(end);
    if (parent === from) return true;
    if (parent !== undefined && parent !== ROOT) endStack.push(parent);
    for (const target of links.targetsFrom(end)) startStack.push(target);
  }
  return false;
}

/**
 * Dependencies a transaction may have made part of a cycle: the ones it added or re-pointed, and
 * for every task it added or moved, those crossing the border of that task's subtree (a move can
 * only close a cycle through one of them).
 *
 * Linear in the subtrees however the moved tasks nest (one subtree per moved task costs the
 * square of a chain's length): a dependency crosses the border of some moved task's subtree
 * exactly when its two ends have different nearest moved ancestors (each counting as its own).
 */
export function cycleCandidates(links: DependencyIndex, tree: TreeIndex, dependencies: Iterable<string>, tasks: Iterable<string>): string[] {
  // Those that link nothing (removed, switched off) close no cycle: closesCycle passes over them.
  const out = new Set<string>(dependencies);
  const moved = new Set<string>();
  for (const task of tasks) if (tree.parentKey(task) !== undefined) moved.add(task);
  // Every task in a moved task's subtree, each visited once.
  const inside = new Set<string>();
  for (const task of moved) {
    if (inside.has(task)) continue;
    inside.add(task);
    const stack = [task];
    while (stack.length) {
      for (const child of tree.childKeys(stack.pop()!)) {
        if (inside.has(child)) continue;
        inside.add(child);
        stack.push(child);
      }
    }
  }
  // Nearest moved ancestor-or-self of a task in `inside` (null outside: it has none), remembered
  // along each walk so every task is walked once.
  const nearest = new Map<string, string | null>();
  const nearestMoved = (task: string): string | null => {
    // Stryker disable next-line ConditionalExpression: the walk below stops at once outside and returns null too
    if (!inside.has(task)) return null;
    const path = new Set<string>();
    let found: string | null = null;
    for (let k: string | undefined = task; k !== undefined && k !== ROOT; k = tree.parentKey(k)) {
      const known = nearest.get(k);
      // Stryker disable next-line ConditionalExpression,BlockStatement: without the remembered answer the walk finds the same one
      if (known !== undefined) {
        found = known;
        break;
      }
      if (moved.has(k)) {
        found = k;
        break;
      }
      // Outside every moved subtree, or back on this walk (a cycle not broken yet): none.
      if (!inside.has(k) || path.has(k)) break;
      path.add(k);
    }
    for (const k of path) nearest.set(k, found);
    return found;
  };
  for (const member of inside) {
    for (const key of links.touching(member)) {
      const ends = links.endsOf(key)!;
      if (nearestMoved(ends.from) !== nearestMoved(ends.to)) out.add(key);
    }
  }
  return [...out].sort();
}
