/**
 * Integrity rules, run at the end of every transaction that changes a project (whoever made it:
 * a Bryntum client, a Yjs peer, a replayed offline batch), inside that same transaction. They
 * depend only on the document's state, so the outcome is the same whatever order edits arrived in:
 *
 * 1. A task whose parent does not exist (added under a parent removed meanwhile) moves to the
 *    top level, last among the top-level tasks. Nothing is lost.
 * 2. Tasks whose parent links form a cycle (two concurrent moves): the cycle member with the
 *    smallest record key moves to the top level, which breaks the cycle.
 * 3. A dependency whose `from`/`to` task (any of fromTask/fromEvent/from, toTask/toEvent/to) no
 *    longer exists is removed.
 * 4. An assignment whose task (event/eventId) or resource (resource/resourceId) no longer exists
 *    is removed.
 * 5. A dependency that closes a scheduling cycle (a task waiting for itself through dependencies
 *    and the task tree, see src/document/schedule-cycles.ts) is switched off (`active: false`), as
 *    Bryntum's engine resolves such a loop; it is never removed. The ones the transaction added,
 *    re-pointed or switched on are checked first, then the ones crossing the subtree of a task it
 *    moved, each in record key order. Bryntum clients cannot load a project with such a cycle.
 *    (README "Conflicts and integrity" numbers these rules 1-4 and 8.)
 *
 * The repairs are returned as a change set, so clients are told of them like of any change.
 */
import type * as Y from 'yjs';
import { ACTIVE_FIELD, ASSIGNMENT_REFS, BASE_FIELD, DEPENDENCIES, DEPENDENCY_ENDS, ORDER_FIELD, PARENT_FIELD, TASKS, firstField, idOf, isRecordId, isReservedKey, readField, recordKey, storeMap, type FieldMap, type RecordId, type StoreMap } from './layout.js';
import { isOrderKey, keyBetween } from './order.js';
import { ROOT, parentKeyOf, type TreeIndex } from './tree.js';
import { closesCycle, cycleCandidates, type DependencyIndex } from './schedule-cycles.js';

export interface ProjectState {
  doc: Y.Doc;
  tree: TreeIndex;
  /** The dependency index; `pending`: keys this transaction changed (see ProjectDocument.links). */
  links(pending: Iterable<string>): DependencyIndex;
}

/** What a transaction touched, read from Yjs's own record of it. */
export interface Scope {
  /** Tasks added, removed, or whose parent changed. */
  tasks: Set<string>;
  removedTasks: boolean;
  removedResources: boolean;
  dependencies: Set<string>;
  assignments: Set<string>;
}

/** Keys of records of `store` touched by the transaction, and whether any was removed. */
function touched(tr: Y.Transaction, map: StoreMap, field?: string): { keys: Set<string>; removed: boolean } {
  const keys = new Set<string>();
  let removed = false;
  for (const [type, subs] of tr.changed) {
    if ((type as unknown) === map) {
      for (const key of subs) {
        if (key === null) continue;
        keys.add(key);
        if (!map.has(key)) removed = true;
      }
    } else if (type._item?.parent === map && type._item.parentSub) {
      if (field === undefined || subs.has(field) || subs.has(BASE_FIELD)) keys.add(type._item.parentSub);
    }
  }
  return { keys, removed };
}

export function scopeOf(tr: Y.Transaction): Scope {
  const doc = tr.doc;
  const tasks = touched(tr, storeMap(doc, TASKS), PARENT_FIELD);
  return {
    tasks: tasks.keys,
    removedTasks: tasks.removed,
    removedResources: touched(tr, storeMap(doc, 'resources')).removed,
    dependencies: touched(tr, storeMap(doc, DEPENDENCIES)).keys,
    assignments: touched(tr, storeMap(doc, 'assignments')).keys,
  };
}

/** Bring the tree index in line with task writes it did not see (Yjs updates). */
export function syncTree(tr: Y.Transaction, tree: TreeIndex): void {
  const tasks = storeMap(tr.doc, TASKS);
  for (const [type, subs] of tr.changed) {
    if ((type as unknown) === tasks) {
      for (const key of subs) {
        if (key === null) continue;
        const record = tasks.get(key);
        if (record) tree.attach(key, parentKeyOf(record));
        else tree.detach(key);
      }
    } else if (type._item?.parent === tasks && type._item.parentSub) {
      const key = type._item.parentSub;
      const record = tasks.get(key);
      if (!record || (record as unknown) !== type) continue;
      if (subs.has(PARENT_FIELD) || subs.has(BASE_FIELD)) tree.attach(key, parentKeyOf(record));
      else if (subs.has(ORDER_FIELD)) tree.touch(tree.parentKey(key) ?? ROOT);
    }
  }
}

type Rec = Record<string, unknown>;

/** What `repair` found besides the change set it returns. */
export interface RepairNotes {
  /** Dependencies switched off because they closed a scheduling cycle (rule 5). */
  loops: number;
}

export function repair(project: ProjectState, scope: Scope, notes?: RepairNotes): Record<string, { updated?: Rec[]; removed?: Rec[] }> | null {
  const { doc, tree } = project;
  const tasks = storeMap(doc, TASKS);
  const out: Record<string, { updated?: Rec[]; removed?: Rec[] }> = {};
  const moved = new Set<string>();

  // The order key of the last top-level task, found once: each task moved goes after it and
  // becomes the last (sorting the top level again for every one made many moves quadratic).
  let last: string | null | undefined;
  const moveToTop = (key: string) => {
    const record = tasks.get(key)!;
    // Stryker disable next-line ConditionalExpression: read again, the last well-formed key is the one kept (the task moved before)
    if (last === undefined) {
      // Keys a peer wrote in another format cannot be bounds; the last well-formed one can. The
      // task moving is not among them: it is still under its missing parent or a cycle member.
      const keys = tree.childrenOf(ROOT).map((k) => tree.orderOf(k)).filter(isOrderKey);
      last = keys.length ? keys[keys.length - 1] : null;
    }
    last = keyBetween(last, null);
    record.set(PARENT_FIELD, null);
    record.set(ORDER_FIELD, last);
    tree.attach(key, ROOT);
    moved.add(key);
  };

  // A task under a reserved key (a Yjs peer's write) goes: the tree keeps that key for its root.
  // Clients never saw it (the tree index leaves it out), so there is nobody to tell.
  for (const key of scope.tasks) if (isReservedKey(key) && tasks.has(key)) tasks.delete(key);

  // Orphans first: a detached task cannot be part of a cycle.
  const candidates = [...scope.tasks];
  if (scope.removedTasks) {
    // Children of a task removed without its subtree (a Yjs peer may do that).
    for (const key of scope.tasks) if (!tasks.has(key)) candidates.push(...tree.childrenOf(key));
  }
  for (const key of candidates.sort()) {
    const record = tasks.get(key);
    if (!record) continue;
    const parent = parentKeyOf(record);
    if (parent !== ROOT && !tasks.has(parent)) moveToTop(key);
  }
  // Keys whose parent links are known to end at the top (or at a missing task): a walk that
  // reaches one stops there, so a deep chain costs one walk in all, not one per task.
  const settled = new Set<string>();
  for (const key of [...scope.tasks].sort()) {
    const cycle = cycleThrough(tasks, key, settled);
    if (cycle) moveToTop(cycle.sort()[0]);
  }
  if (moved.size) {
    const top = new Map(tree.childrenOf(ROOT).map((key, i) => [key, i]));
    out.tasks = {
      updated: [...moved].sort().map((key) => {
        const index = top.get(key) ?? -1;
        return { id: idOf(tasks.get(key)!, key), parentId: null, parentIndex: index, orderedParentIndex: index };
      }),
    };
  }

  const dependencies = storeMap(doc, DEPENDENCIES);
  const depKeys = scope.removedTasks ? [...dependencies.keys()] : [...scope.dependencies];
  const deadDeps = depKeys.filter((key) => {
    const record = dependencies.get(key);
    return record !== undefined && DEPENDENCY_ENDS.some((names) => pointsNowhere(record, names, tasks));
  });
  removeAll(dependencies, deadDeps, 'dependencies', out);
  const cyclic: Rec[] = [];
  if (scope.dependencies.size || scope.tasks.size) {
    const links = project.links(scope.dependencies);
    for (const key of deadDeps) links.update(key);
    const relinked = [...scope.dependencies].filter((key) => links.update(key));
    for (const key of cycleCandidates(links, tree, relinked, scope.tasks)) {
      if (!closesCycle(key, links, tree)) continue;
      // A dependency is something a user drew: switched off, as Bryntum's engine resolves a loop,
      // it stays in the project for anyone to switch on again once the loop is gone.
      const record = dependencies.get(key)!;
      record.set(ACTIVE_FIELD, false);
      cyclic.push({ id: idOf(record, key), [ACTIVE_FIELD]: false });
      links.update(key);
    }
  }
  if (cyclic.length) (out.dependencies ??= {}).updated = cyclic;
  if (notes) notes.loops = cyclic.length;

  const assignments = storeMap(doc, 'assignments');
  const resources = storeMap(doc, 'resources');
  const assignmentKeys = scope.removedTasks || scope.removedResources ? [...assignments.keys()] : [...scope.assignments];
  const deadAssignments = assignmentKeys.filter((key) => {
    const record = assignments.get(key);
    return record !== undefined && ASSIGNMENT_REFS.some(([names, store]) => pointsNowhere(record, names, store === TASKS ? tasks : resources));
  });
  removeAll(assignments, deadAssignments, 'assignments', out);

  return Object.keys(out).length ? out : null;
}

/**
 * The record names a target (in the first of `names` it has) that is not in `target`. A value
 * that is not an id names nothing: kept, `[402]` would be task 402 to whoever reads it as text,
 * and no task to the scheduling-loop check (rule 5), which would let a loop through.
 */
function pointsNowhere(record: FieldMap, names: readonly string[], target: StoreMap): boolean {
  const value = firstField(record, names);
  if (value === undefined || value === null || value === '') return false;
  return !isRecordId(value) || !target.has(recordKey(value));
}

function removeAll(map: StoreMap, keys: string[], store: string, out: Record<string, { removed?: Rec[] }>): void {
  if (!keys.length) return;
  const removed = keys.sort().map((key) => ({ id: idOf(map.get(key)!, key) }));
  for (const key of keys) map.delete(key);
  out[store] = { removed };
}

/**
 * The keys of the cycle reached from `key` by following parent links, if there is one. Every key
 * walked is added to `settled`: once the caller has broken the cycle found, they all end at the top.
 */
function cycleThrough(tasks: StoreMap, key: string, settled: Set<string>): string[] | null {
  const path: string[] = [];
  const index = new Map<string, number>();
  let cycle: string[] | null = null;
  for (let k: string = key; !settled.has(k); ) {
    if (index.has(k)) {
      cycle = path.slice(index.get(k));
      break;
    }
    const record = tasks.get(k);
    if (!record) break;
    index.set(k, path.length);
    path.push(k);
    const parent = parentKeyOf(record);
    if (parent === ROOT) break;
    k = parent;
  }
  for (const k of path) settled.add(k);
  return cycle;
}
