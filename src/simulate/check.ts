/**
 * Validity of one replica and convergence of two. Views are compared normalized: transport fields
 * (phantom ids, indices, nesting) and the Yjs order key are left out; a task's parent is compared
 * by key and its place by the order of its parent's children.
 */
import { isRecordId } from '../document/layout.js';
import { closesCycle, type TaskLinks, type TaskTree } from '../document/schedule-cycles.js';
import { ASSIGNMENT_REFS, DEPENDENCY_ENDS, ROOT, STORES, TRANSPORT_FIELDS, isPhantom, keyOf, parentKeyOfValue, refOf, type Rec, type View } from './view.js';

export interface Divergence {
  /** The replica that differs from the server. */
  replica: string;
  store: string;
  /** Record key (the parent's key for `order`, `(top level)` for the root). */
  record: string;
  kind: 'missing' | 'extra' | 'field' | 'order';
  field?: string;
  /** Value held by the replica / by the server (absent = not there). */
  replicaValue?: unknown;
  serverValue?: unknown;
}

export interface Problem {
  replica: string;
  problem: string;
}

const IGNORED = new Set([...TRANSPORT_FIELDS, '$order']);

/** JSON with object keys sorted, so equal values print equal. */
export function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, (v as Rec)[k]])) : v,
  );
}

function comparable(store: string, record: Rec): Rec {
  const out: Rec = {};
  for (const [field, value] of Object.entries(record)) if (!IGNORED.has(field) && value !== undefined) out[field] = value;
  if (store === 'tasks') {
    const parentKey = parentKeyOfValue(record.parentId);
    out.parentId = parentKey === ROOT ? null : parentKey;
  }
  return out;
}

const parentLabel = (key: string) => (key === ROOT ? '(top level)' : key);

/** Every difference between a replica's view and the server's. */
export function diffViews(replica: string, mine: View, server: View): Divergence[] {
  const out: Divergence[] = [];
  for (const store of STORES) {
    const a = mine.store(store);
    const b = server.store(store);
    for (const [key, record] of b) if (!a.has(key)) out.push({ replica, store, record: key, kind: 'missing', serverValue: comparable(store, record) });
    for (const [key, record] of a) {
      const other = b.get(key);
      if (!other) {
        out.push({ replica, store, record: key, kind: 'extra', replicaValue: comparable(store, record) });
        continue;
      }
      const x = comparable(store, record);
      const y = comparable(store, other);
      for (const field of new Set([...Object.keys(x), ...Object.keys(y)])) {
        if (canonical(x[field]) === canonical(y[field])) continue;
        const d: Divergence = { replica, store, record: key, kind: 'field', field };
        if (field in x) d.replicaValue = x[field];
        if (field in y) d.serverValue = y[field];
        out.push(d);
      }
    }
  }
  for (const parent of new Set([...mine.children.keys(), ...server.children.keys()])) {
    const x = mine.childrenOf(parent);
    const y = server.childrenOf(parent);
    if (canonical(x) !== canonical(y)) out.push({ replica, store: 'tasks', record: parentLabel(parent), kind: 'order', replicaValue: x, serverValue: y });
  }
  const x = comparable('project', mine.project);
  const y = comparable('project', server.project);
  for (const field of new Set([...Object.keys(x), ...Object.keys(y)])) {
    if (canonical(x[field]) === canonical(y[field])) continue;
    out.push({ replica, store: 'project', record: '', kind: 'field', field, replicaValue: x[field], serverValue: y[field] });
  }
  return out;
}

/**
 * The project rules: the task tree has no cycle and every parent exists, no dependency or
 * assignment points at a missing record, no dependency closes a scheduling loop, ids are unique
 * (and phantom ids all resolved). Ids that are not in `initialIds` (made during the run) must
 * also be unique across stores.
 */
export function validate(replica: string, view: View, initialIds?: Set<string>): Problem[] {
  const problems: Problem[] = view.problems.map((problem) => ({ replica, problem }));
  const add = (problem: string) => problems.push({ replica, problem });
  const tasks = view.tasks;
  for (const [key, task] of tasks) {
    const parentKey = parentKeyOfValue(task.parentId);
    if (parentKey !== ROOT && !tasks.has(parentKey)) add(`task ${key}: parent ${parentKey} does not exist`);
    const seen = new Set<string>();
    for (let k = key; k !== ROOT && tasks.has(k); k = parentKeyOfValue(tasks.get(k)!.parentId)) {
      if (seen.has(k)) {
        add(`task ${key}: its parents form a cycle (${[...seen].join(' > ')})`);
        break;
      }
      seen.add(k);
    }
  }
  for (const [key, dep] of view.store('dependencies')) {
    for (const names of DEPENDENCY_ENDS) {
      const ref = refOf(dep, names);
      if (ref && pointsNowhere(ref.value, tasks)) add(`dependency ${key}: ${ref.name} ${nowhere(ref.value)}`);
    }
  }
  const { tree, links, keys } = scheduleOf(view);
  for (const key of keys) if (closesCycle(key, links, tree)) add(`dependency ${key}: closes a scheduling loop`);
  for (const [key, assignment] of view.store('assignments')) {
    for (const [names, store] of ASSIGNMENT_REFS) {
      const ref = refOf(assignment, names);
      if (ref && pointsNowhere(ref.value, view.store(store))) add(`assignment ${key}: ${ref.name} ${nowhere(ref.value)}`);
    }
  }
  const madeIn = new Map<string, string[]>();
  for (const store of STORES) {
    for (const [key, record] of view.store(store)) {
      if (keyOf(record.id) !== key) add(`${store} ${key}: record id is ${JSON.stringify(record.id)}`);
      if (isPhantom(record.id)) add(`${store} ${key}: still has its phantom id`);
      if (initialIds && !initialIds.has(key)) madeIn.set(key, [...(madeIn.get(key) ?? []), store]);
    }
  }
  for (const [key, stores] of madeIn) if (stores.length > 1) add(`id ${key} is used in ${stores.join(' and ')}`);
  return problems;
}

/** A reference (not empty) that names no record of `target`: one that is not an id names none. */
function pointsNowhere(value: unknown, target: Map<string, unknown>): boolean {
  return value !== null && value !== '' && (!isRecordId(value) || !target.has(keyOf(value)));
}

const nowhere = (value: unknown): string => (isRecordId(value) ? `${keyOf(value)} does not exist` : `${JSON.stringify(value)} is not an id`);

/** The live dependencies of a view and its task tree, for the scheduling-loop search. */
function scheduleOf(view: View): { tree: TaskTree; links: TaskLinks; keys: string[] } {
  const ends = new Map<string, { from: string; to: string }>();
  const targets = new Map<string, string[]>();
  for (const [key, dep] of view.store('dependencies')) {
    const [from, to] = DEPENDENCY_ENDS.map((names) => refOf(dep, names)?.value);
    // Only ids name tasks: an end like `[402]` is reported above as naming none.
    if (dep.active === false || !isRecordId(from) || !isRecordId(to)) continue;
    ends.set(key, { from: keyOf(from), to: keyOf(to) });
    const list = targets.get(keyOf(from));
    if (list) list.push(keyOf(to));
    else targets.set(keyOf(from), [keyOf(to)]);
  }
  return {
    tree: { childKeys: (task) => view.childrenOf(task), parentKey: (task) => view.parentKey(task) },
    links: { endsOf: (key) => ends.get(key), targetsFrom: (task) => targets.get(task) ?? [] },
    keys: [...ends.keys()].sort(),
  };
}

/** Keys of every record of the compared stores (to tell ids made during a run from older ones). */
export function allKeys(view: View): Set<string> {
  const keys = new Set<string>();
  for (const store of STORES) for (const key of view.store(store).keys()) keys.add(key);
  return keys;
}
