/**
 * Classic clients place tasks by index in their own list of siblings and get no echo of a change
 * that added nothing. When another writer changed the task tree moments before, the sender counted
 * its indices on another list than the document's, and the indices of that writer's change reach
 * the sender's list after its own edit: the sender's sibling order drifts from the document's.
 * This keeps track of recent placements so such a sender can be told the final places.
 */
import { HIDDEN_TASK_FIELDS, PARENT_FIELD, TASKS, TRANSPORT_FIELDS, idOf, isRecordId, readField, recordFields, recordKey, storeMap, type RecordId } from './layout.js';
import { touchKey } from './adapter.js';
import type { ProjectDocument } from './project-document.js';
import { ROOT } from './tree.js';
import type { Changes } from '../protocol/schemas.js';

type Rec = Record<string, unknown>;

function tasksEntry(changes: Changes | null): { added?: Rec[]; updated?: Rec[]; removed?: Rec[] } | undefined {
  const entry = changes?.[TASKS];
  return typeof entry === 'object' && entry !== null ? (entry as never) : undefined;
}

/** Keys of the tasks a change puts somewhere (added, moved, reordered), and whether it removed any. */
function placedTasks(changes: Changes | null): { placed: string[]; removed: boolean } {
  const tasks = tasksEntry(changes);
  const placed: string[] = [];
  // Stryker disable next-line ArrayDeclaration: a row that is not a record has no id and is passed over
  for (const rec of tasks?.added ?? []) if (isRecordId(rec.id)) placed.push(recordKey(rec.id));
  // Stryker disable next-line ArrayDeclaration: as above
  for (const rec of tasks?.updated ?? []) {
    if (!isRecordId(rec.id)) continue;
    if ('parentId' in rec || typeof rec.parentIndex === 'number' || typeof rec.orderedParentIndex === 'number') placed.push(recordKey(rec.id));
  }
  return { placed, removed: (tasks?.removed?.length ?? 0) > 0 };
}

/**
 * Fields a change set writes, as touch keys with the values written: those of `updated` rows, and
 * with `restated` those of `added` rows too (a record the server sends again whole, as it holds it now).
 */
export function* fieldValues(changes: Changes | null, restated = false): Generator<[string, unknown]> {
  for (const [store, entry] of Object.entries(changes ?? {})) {
    if (typeof entry !== 'object' || entry === null) continue;
    if (store === 'project') {
      for (const [field, value] of Object.entries(entry)) if (field !== '$input' && field !== 'id') yield [touchKey(store, '', field), value];
      continue;
    }
    const { added, updated } = entry as { added?: Rec[]; updated?: Rec[] };
    for (const rec of [...(restated ? (added ?? []) : []), ...(updated ?? [])]) {
      if (!isRecordId(rec.id)) continue;
      for (const [field, value] of Object.entries(rec)) {
        // Places are tracked by RecentPlacements; ids and phantom ids are not fields anyone writes.
        if (field === 'id' || TRANSPORT_FIELDS.has(field)) continue;
        yield [touchKey(store, recordKey(rec.id), field), value];
      }
    }
  }
}

/** The touch keys of `fieldValues` (for telling classic senders of concurrent writes). */
export function fieldWrites(changes: Changes | null, restated = false): string[] {
  return Array.from(fieldValues(changes, restated), ([key]) => key);
}

const REFERENCES: [string, string[]][] = [
  ['dependencies', ['fromTask', 'fromEvent', 'from', 'toTask', 'toEvent', 'to']],
  ['assignments', ['event', 'eventId']],
];

/**
 * A classic sender that moved a task under a parent someone removed meanwhile gets that removal
 * after its move, and its client drops the task with the parent's subtree, while the document
 * keeps it at the top level (integrity rule 1). The tasks it moved so, their subtrees and the
 * dependencies and assignments pointing at them, as full records to add again (receivers that
 * have them take them as updates).
 */
export function lostByMoves(outgoing: Changes, repairs: Changes | null, document: ProjectDocument): Changes | null {
  const repaired = new Set((tasksEntry(repairs)?.updated ?? []).filter((r) => isRecordId(r.id) && r.parentId === null).map((r) => recordKey(r.id as RecordId)));
  // Stryker disable next-line ConditionalExpression: with nothing repaired no task below is kept and null is returned all the same; this skips the work on every change
  if (repaired.size === 0) return null;
  // Stryker disable next-line ArrayDeclaration: a row that is not a record has no id and the filter drops it
  const moved = (tasksEntry(outgoing)?.updated ?? []).filter((r) => isRecordId(r.id) && 'parentId' in r).map((r) => recordKey(r.id as RecordId));
  const tasks = storeMap(document.doc, TASKS);
  const tree = document.tree;
  // Parents before children, siblings in order: breadth first from each repaired task, read by
  // index (no shift) and checked against a set, so a large subtree costs its size, not its square.
  const keys: string[] = [];
  const lost = new Set<string>();
  for (const key of moved) {
    if (!repaired.has(key) || lost.has(key)) continue;
    for (let i = keys.push(key) - 1; i < keys.length; i++) {
      lost.add(keys[i]);
      for (const child of tree.childrenOf(keys[i])) keys.push(child);
    }
  }
  if (keys.length === 0) return null;
  const out: Record<string, { added: Rec[] }> = {
    [TASKS]: {
      added: keys.map((k) => {
        const record = tasks.get(k)!;
        const parent = tree.parentKey(k) ?? ROOT;
        const index = tree.childrenOf(parent).indexOf(k);
        return { ...recordFields(record, HIDDEN_TASK_FIELDS), id: idOf(record, k), parentId: readField(record, PARENT_FIELD) ?? null, parentIndex: index, orderedParentIndex: index };
      }),
    },
  };
  for (const [store, names] of REFERENCES) {
    const added: Rec[] = [];
    for (const [k, record] of storeMap(document.doc, store)) {
      if (names.some((n) => isRecordId(readField(record, n)) && lost.has(recordKey(readField(record, n) as RecordId)))) added.push({ ...recordFields(record), id: idOf(record, k) });
    }
    if (added.length) out[store] = { added };
  }
  return out;
}

/** Placements remembered at most; past it the oldest are forgotten even within the window. */
const MAX_PLACED = 50_000;

export class RecentPlacements {
  /** Last placement of each task: who, when; oldest first (a placement moves its key to the end). */
  private readonly placed = new Map<string, { writer: string; at: number }>();
  /** Last change of the task tree by each writer. */
  private readonly treeWriters = new Map<string, number>();

  constructor(private readonly windowMs: number) {}

  /**
   * Note what the changes of one commit (the change, its corrections and repairs) did to the task
   * tree. Returns whether they changed it while another writer had changed it within the window.
   */
  note(writer: string, changes: (Changes | null)[]): { concurrent: boolean } {
    const now = Date.now();
    let changed = false;
    for (const c of changes) {
      const { placed, removed } = placedTasks(c);
      changed ||= removed || placed.length > 0;
      for (const key of placed) {
        this.placed.delete(key);
        this.placed.set(key, { writer, at: now });
      }
    }
    if (!changed) return { concurrent: false };
    let concurrent = false;
    for (const [other, at] of this.treeWriters) {
      if (now - at > this.windowMs) this.treeWriters.delete(other);
      else if (other !== writer) concurrent = true;
    }
    this.treeWriters.set(writer, now);
    // Each entry is dropped once: pruning stops at the first placement still within the window.
    for (const [key, p] of this.placed) {
      if (now - p.at <= this.windowMs && this.placed.size <= MAX_PLACED) break;
      this.placed.delete(key);
    }
    return { concurrent };
  }

  /**
   * Final place of every task placed within the window, whoever placed it: besides misplaced
   * siblings, a sender that refused a remote move (it formed a cycle with its own pending move)
   * gets it again. Parents come before their children, so no update forms a passing cycle.
   */
  finals(document: ProjectDocument): Changes | null {
    const now = Date.now();
    const tasks = storeMap(document.doc, TASKS);
    const tree = document.tree;
    // Depths are remembered along each walk up, so a deep tree costs its depth once, not per placed task.
    const depths = new Map<string, number>();
    const depth = (key: string) => {
      // Stryker disable next-line ArrayDeclaration: a key no task has adds one to every depth alike, and only their order is read
      const path: string[] = [];
      let k = tree.parentKey(key);
      let base = 0;
      for (; k !== undefined && k !== ROOT && path.length < 10_000; k = tree.parentKey(k)) {
        const known = depths.get(k);
        // Stryker disable next-line ConditionalExpression,BlockStatement: without the remembered depth the walk goes on to the root, to the same depth
        if (known !== undefined) {
          base = known + 1;
          break;
        }
        path.push(k);
      }
      // path[i] has path.length - 1 - i ancestors below the known one (or the root).
      path.forEach((p, i) => depths.set(p, base + path.length - 1 - i));
      return base + path.length;
    };
    // Sibling positions by parent, each parent's children read once (not once per placed child).
    const positions = new Map<string, Map<string, number>>();
    const indexOf = (parent: string, key: string) => {
      let at = positions.get(parent);
      // Stryker disable next-line ConditionalExpression: read again, a parent's positions are the same
      if (!at) positions.set(parent, (at = new Map(tree.childrenOf(parent).map((k, i) => [k, i]))));
      // Stryker disable next-line UnaryOperator: a placed task is always among its parent's children
      return at.get(key) ?? -1;
    };
    const rows: { depth: number; parent: string; index: number; rec: Rec }[] = [];
    for (const [key, placed] of this.placed) {
      const record = tasks.get(key);
      const parent = tree.parentKey(key);
      if (now - placed.at > this.windowMs || !record || parent === undefined) continue;
      const index = indexOf(parent, key);
      const parentId = parent === ROOT ? null : (readField(record, PARENT_FIELD) ?? null);
      rows.push({ depth: depth(key), parent, index, rec: { id: idOf(record, key), parentId, parentIndex: index, orderedParentIndex: index } });
    }
    rows.sort((a, b) => a.depth - b.depth || (a.parent < b.parent ? -1 : a.parent > b.parent ? 1 : a.index - b.index));
    return rows.length ? { [TASKS]: { updated: rows.map((r) => r.rec) } } : null;
  }

  /** Count `writer` as having changed the tree now. */
  markWriter(writer: string): void {
    this.treeWriters.set(writer, Date.now());
  }

  clear(): void {
    this.placed.clear();
    this.treeWriters.clear();
  }
}
