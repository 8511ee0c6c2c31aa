/**
 * What Bryntum's scheduling engine computes, as opposed to what users type (PROTOCOL.md §3.3,
 * §12.2). Revisions clients replay only user input and compute these themselves; an engine
 * correction (a revision without `$input`) should carry nothing else.
 */

/** Values the engine derives, per store (stores not listed have none). */
const COMPUTED_FIELDS: Readonly<Record<string, ReadonlySet<string>>> = {
  tasks: new Set([
    'startDate', 'endDate', 'duration', 'durationUnit', 'effort', 'effortUnit', 'percentDone',
    'constraintType', 'constraintDate', 'earlyStartDate', 'earlyEndDate', 'lateStartDate', 'lateEndDate',
    'totalSlack', 'slackUnit', 'critical', 'segments',
  ]),
  assignments: new Set(['units', 'effort']),
};

/** A record's position among its siblings: renumbered on every insert, move and removal nearby. */
const POSITION_FIELDS: ReadonlySet<string> = new Set(['parentIndex', 'orderedParentIndex']);

/** One user's view of the tree, not project data anyone else needs to replay. */
const VIEW_FIELDS: ReadonlySet<string> = new Set(['expanded']);

/**
 * Values Bryntum models take for fields a record does not hold, where a server must be able to
 * restate them (a seed's dependencies have no `active`, and `null` would switch them off).
 */
const MODEL_DEFAULTS: Readonly<Record<string, Readonly<Record<string, unknown>>>> = {
  dependencies: { active: true },
};

/** The value a client shows for a field: the stored one, else the model's default (undefined when unknown). */
export function shownValue(store: string, field: string, stored: unknown): unknown {
  return stored !== undefined ? stored : MODEL_DEFAULTS[store]?.[field];
}

const NONE: ReadonlySet<string> = new Set();

function isComputed(store: string, field: string): boolean {
  return (COMPUTED_FIELDS[store] ?? NONE).has(field);
}

/** Fields an engine correction may carry: computed values, positions, view state. */
export function mayCorrect(store: string, field: string): boolean {
  return isComputed(store, field) || POSITION_FIELDS.has(field) || VIEW_FIELDS.has(field);
}
