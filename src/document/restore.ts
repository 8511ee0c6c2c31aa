/**
 * Restoring a version as one forward change: the difference between the live document and the
 * version's state is written into the live document in one transaction (field by field, so
 * untouched records and fields stay as they are), repaired, and returned as the Bryntum change
 * set clients apply. Stored bytes are never swapped, so connected and offline clients and Yjs
 * peers simply receive one more change.
 */
import * as Y from 'yjs';
import { changesOfTransaction } from './doc-changes.js';
import { repair, scopeOf, syncTree } from './integrity.js';
import { TASKS, VERSIONS, allStoreNames, plainValue, projectMap, recordKey, registerStore, storeMap, type FieldMap, type RecordId } from './layout.js';
import type { ProjectDocument } from './project-document.js';
import type { TreeIndex } from './tree.js';
import { sameJson } from './json.js';

/** Bryntum's own version history is about the project, not part of it: a restore leaves it alone. */
const KEPT_STORES = new Set([VERSIONS, 'changelogs']);

export const RESTORE_ORIGIN = Symbol('weft.restore');

type Changes = Record<string, unknown>;

/** Make `live` hold the fields of `target`: changed ones set, missing ones deleted. */
function writeFields(live: Y.Map<unknown>, target: Y.Map<unknown>): void {
  for (const [field, value] of target.entries()) {
    const wanted = plainValue(value);
    if (!live.has(field) || !sameJson(plainValue(live.get(field)), wanted)) live.set(field, wanted);
  }
  for (const field of [...live.keys()]) if (!target.has(field)) live.delete(field);
}

function writeDifference(live: Y.Doc, target: Y.Doc): void {
  const names = new Set([...allStoreNames(live), ...allStoreNames(target)]);
  for (const name of names) {
    if (KEPT_STORES.has(name)) continue;
    const from = storeMap(live, name);
    const to = storeMap(target, name);
    if (to.size) registerStore(live, name);
    for (const key of [...from.keys()]) if (!to.has(key)) from.delete(key);
    for (const [key, record] of to) {
      const current = from.get(key);
      if (current) writeFields(current, record);
      else {
        const copy = new Y.Map<unknown>();
        for (const [field, value] of record.entries()) copy.set(field, plainValue(value));
        from.set(key, copy as FieldMap);
      }
    }
  }
  writeFields(projectMap(live), projectMap(target));
}

/** Clients attach an added task to its parent: send parents before their children. */
function parentsFirst(changes: Changes, tree: TreeIndex): void {
  const added = (changes[TASKS] as { added?: { id: RecordId }[] } | undefined)?.added;
  if (!added || added.length < 2) return;
  const depth = (key: string) => {
    let d = 0;
    // Stryker disable next-line EqualityOperator,ConditionalExpression: the bound is only reached through a cycle, and repair() above has broken every cycle
    for (let k: string | undefined = tree.parentKey(key); k !== undefined && d < 10_000; k = tree.parentKey(k)) d++;
    return d;
  };
  const depths = new Map(added.map((r) => [r, depth(recordKey(r.id))]));
  added.sort((a, b) => depths.get(a)! - depths.get(b)!);
}

/**
 * Write `state` (a Yjs V2 state, or a document holding it) into `project` as one transaction;
 * returns what changed for Bryntum clients.
 */
export function restoreState(project: ProjectDocument, state: Uint8Array | Y.Doc): Changes | null {
  const target = state instanceof Y.Doc ? state : new Y.Doc({ gc: true });
  try {
    if (!(state instanceof Y.Doc)) Y.applyUpdateV2(target, state);
    let changes: Changes | null = null;
    project.doc.transact((tr) => {
      writeDifference(project.doc, target);
      syncTree(tr, project.tree);
      repair(project, scopeOf(tr));
      changes = changesOfTransaction(tr, project.tree);
    }, RESTORE_ORIGIN);
    if (changes) parentsFirst(changes, project.tree);
    return changes;
  } finally {
    if (target !== state) target.destroy();
  }
}
