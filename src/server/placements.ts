/**
 * Classic clients place tasks by index in their own list of siblings and get no echo of a change
 * that added nothing. When another writer changed the task tree moments before, the sender counted
 * its indices on another list than the document's, and the indices of that writer's change reach
 * the sender's list after its own edit: the sender's sibling order drifts from the document's.
 * This keeps track of recent placements so such a sender can be told the final places.
 */
import { PARENT_FIELD, TASKS, idOf, readField, recordKey, storeMap, type RecordId } from '../document/layout.js';
import { touchKey } from '../document/adapter.js';
import type { ProjectDocument } from '../document/project-document.js';
import { ROOT } from '../document/tree.js';
import type { Changes } from '../protocol/schemas.js';

type Rec = Record<string, unknown>;
const isRecordId = (v: unknown): v is RecordId => typeof v === 'number' || typeof v === 'string';

function tasksEntry(changes: Changes | null): { added?: Rec[]; updated?: Rec[]; removed?: Rec[] } | undefined {
  const entry = changes?.[TASKS];
  return typeof entry === 'object' && entry !== null ? (entry as never) : undefined;
}

/** Keys of the tasks a change puts somewhere (added, moved, reordered), and whether it removed any. */
function placedTasks(changes: Changes | null): { placed: string[]; removed: boolean } {
  const tasks = tasksEntry(changes);
  const placed: string[] = [];
  for (const rec of tasks?.added ?? []) if (isRecordId(rec.id)) placed.push(recordKey(rec.id));
  for (const rec of tasks?.updated ?? []) {
    if (!isRecordId(rec.id)) continue;
    if ('parentId' in rec || typeof rec.parentIndex === 'number' || typeof rec.orderedParentIndex === 'number') placed.push(recordKey(rec.id));
  }
  return { placed, removed: (tasks?.removed?.length ?? 0) > 0 };
}

/** Parents of the tasks a change is about to remove (read before it is applied). */
export function parentsOfRemoved(changes: Changes, document: ProjectDocument, phantoms: (p: string) => RecordId | undefined): Set<string> {
  const parents = new Set<string>();
  for (const rec of tasksEntry(changes)?.removed ?? []) {
    if (!isRecordId(rec.id)) continue;
    const id = typeof rec.id === 'string' ? (phantoms(rec.id) ?? rec.id) : rec.id;
    const parent = document.tree.parentKey(recordKey(id));
    if (parent !== undefined) parents.add(parent);
  }
  return parents;
}

/** Fields an update from a Yjs peer wrote, as touch keys (for telling classic senders of concurrent writes). */
export function fieldWrites(changes: Changes | null): string[] {
  const keys: string[] = [];
  for (const [store, entry] of Object.entries(changes ?? {})) {
    if (typeof entry !== 'object' || entry === null) continue;
    if (store === 'project') {
      for (const field of Object.keys(entry)) if (field !== '$input') keys.push(touchKey(store, '', field));
      continue;
    }
    for (const rec of (entry as { updated?: Rec[] }).updated ?? []) {
      if (!isRecordId(rec.id)) continue;
      for (const field of Object.keys(rec)) {
        if (field === 'id' || field === 'parentIndex' || field === 'orderedParentIndex') continue;
        keys.push(touchKey(store, recordKey(rec.id), field));
      }
    }
  }
  return keys;
}

export class RecentPlacements {
  /** Last placement of each task: who, when. */
  private readonly placed = new Map<string, { writer: string; at: number }>();
  /** Last change of the task tree by each writer. */
  private readonly treeWriters = new Map<string, number>();

  constructor(private readonly windowMs: number) {}

  /**
   * Note what the changes of one commit (the change and its repairs) did to the task tree.
   * Returns the parents whose children they changed, and whether another writer changed the
   * tree within the window.
   */
  note(writer: string, changes: (Changes | null)[], document: ProjectDocument, removedFrom: Iterable<string>): { parents: Set<string>; concurrent: boolean } {
    const now = Date.now();
    const parents = new Set(removedFrom);
    let changed = parents.size > 0;
    for (const c of changes) {
      const { placed, removed } = placedTasks(c);
      changed ||= removed || placed.length > 0;
      for (const key of placed) {
        const parent = document.tree.parentKey(key);
        if (parent === undefined) continue;
        parents.add(parent);
        this.placed.set(key, { writer, at: now });
      }
    }
    if (!changed) return { parents, concurrent: false };
    let concurrent = false;
    for (const [other, at] of this.treeWriters) {
      if (now - at > this.windowMs) this.treeWriters.delete(other);
      else if (other !== writer) concurrent = true;
    }
    this.treeWriters.set(writer, now);
    if (this.placed.size > 10_000) for (const [key, p] of this.placed) if (now - p.at > this.windowMs) this.placed.delete(key);
    return { parents, concurrent };
  }

  /** Final place of every task placed within the window under `parents`, as task updates. */
  finals(parents: Iterable<string>, document: ProjectDocument): Changes | null {
    const now = Date.now();
    const tasks = storeMap(document.doc, TASKS);
    const updated: Rec[] = [];
    for (const parent of parents) {
      document.tree.childrenOf(parent).forEach((key, index) => {
        const placed = this.placed.get(key);
        const record = tasks.get(key);
        if (!placed || now - placed.at > this.windowMs || !record) return;
        const parentId = parent === ROOT ? null : (readField(record, PARENT_FIELD) ?? null);
        updated.push({ id: idOf(record, key), parentId, parentIndex: index, orderedParentIndex: index });
      });
    }
    return updated.length ? { [TASKS]: { updated } } : null;
  }

  clear(): void {
    this.placed.clear();
    this.treeWriters.clear();
  }
}
