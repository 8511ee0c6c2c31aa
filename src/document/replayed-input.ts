/**
 * Revisions clients replay only a revision's `$input` (PROTOCOL.md §3.3, §12). Bryntum's revision
 * engine sometimes leaves a user's edit out of it while the same revision's `added` / `updated`
 * carry it: a task moved among its siblings and then renamed in one transaction (Gantt 7.3)
 * arrives with `updated: [{id, parentIndex, name}]` and `$input.updated: [{id, parentIndex}]`.
 * The document takes the name, every other revisions client keeps the old one, and nothing ever
 * reconciles them.
 *
 * So what a revision writes to a field that the scheduling engine never computes (a name, a note,
 * a custom field) goes into its `$input` too. Fields the engine derives (dates, effort, summary
 * values, sibling positions) stay out: receivers compute those themselves, and replaying them as
 * input would pin them (a start date given as input becomes a constraint). A leaf task's duration
 * and progress are the exception when the revision has an `$input` entry for that task that lacks
 * them (a duration typed, then the task moved, arrives like the rename above): for a leaf the
 * engine derives neither from anything the entry could hold, so replaying them ends where the
 * sender's engine did.
 */
import { mayCorrect } from '../protocol/engine-fields.js';
import { isNestedChangeSet, sameJson } from './json.js';
import { DEPENDENCIES, PARENT_FIELD, TASKS, TRANSPORT_FIELDS } from './layout.js';

type Rec = Record<string, unknown>;

export interface InputEntry {
  added?: Rec[];
  updated?: Rec[];
  $input?: { added?: Rec[]; updated?: Rec[]; [k: string]: unknown };
}

/**
 * Fields never added to `$input`: what the engine computes, positions, view state, identity, the
 * parent, and a dependency's `active` flag, which engines toggle while resolving cycles each on
 * their own.
 */
const notReplayed = (store: string, field: string): boolean =>
  mayCorrect(store, field) || TRANSPORT_FIELDS.has(field) || field === 'id' || field === PARENT_FIELD || (store === DEPENDENCIES && field === 'active');

/** Derived fields of tasks that a leaf task's partial `$input` entry may still take (a unit goes with its value). */
const LEAF_INPUTS: Record<string, string[]> = { duration: ['duration', 'durationUnit'], percentDone: ['percentDone'] };

/** What the document holds now, before the revision is written. */
export interface StoredRecords {
  /** A field's stored value, or undefined when the record does not exist. */
  field(id: unknown, field: string): { value: unknown } | undefined;
  /** The record is a task without children. */
  isLeafTask(id: unknown): boolean;
}

/** The records of a list by id (revisions may carry thousands). */
// Stryker disable next-line ArrayDeclaration: a row that is no record is keyed undefined, which no lookup asks for
const byId = (list: Rec[] | undefined): Map<unknown, Rec> => new Map((list ?? []).map((r) => [r.id, r]));

/**
 * Adds to `entry.$input` what `entry` writes to user fields but `$input` lacks; an update only
 * counts where it changes what is `stored`. Entries without `$input` (classic changes, engine
 * corrections) are left alone. Ids must already be resolved.
 */
export function completeInput(store: string, entry: InputEntry, stored: StoredRecords): void {
  const input = entry.$input;
  if (typeof input !== 'object' || input === null) return;
  const userFields = (rec: Rec) => Object.keys(rec).filter((f) => !notReplayed(store, f) && !isNestedChangeSet(rec[f]));

  const replayedAdds = byId(input.added);
  for (const rec of entry.added ?? []) {
    // A record added without any `$input.added` counterpart was not typed by the user as such
    // (a re-sent phantom, a rebase): only complete counterparts that exist.
    const replayed = rec.id === undefined ? undefined : replayedAdds.get(rec.id);
    if (!replayed) continue;
    // Every user field as the record holds it (one already there is equal or outdated).
    for (const field of userFields(rec)) replayed[field] = rec[field];
  }

  const replayedUpdates = byId(input.updated);
  for (const rec of entry.updated ?? []) {
    if (rec.id === undefined) continue;
    const replayed = replayedUpdates.get(rec.id);
    const missing: Rec = {};
    const changed = (field: string) => {
      const now = stored.field(rec.id, field);
      return now !== undefined && !sameJson(now.value, rec[field]);
    };
    for (const field of userFields(rec)) {
      if (replayed && field in replayed) continue;
      if (changed(field)) missing[field] = rec[field];
    }
    if (replayed && store === TASKS && stored.isLeafTask(rec.id)) {
      for (const [field, group] of Object.entries(LEAF_INPUTS)) {
        if (!(field in rec) || field in replayed || !changed(field)) continue;
        for (const f of group) if (f in rec && !(f in replayed)) missing[f] = rec[f];
      }
    }
    if (Object.keys(missing).length === 0) continue;
    if (replayed) Object.assign(replayed, missing);
    else {
      const added = { id: rec.id, ...missing };
      (input.updated ??= []).push(added);
      replayedUpdates.set(rec.id, added);
    }
  }
}
