/**
 * How a project lives in its Y.Doc (documented for Yjs clients in the README):
 *
 *   doc.getMap(<store>)      one top-level map per store ('tasks', 'resources', 'dependencies',
 *                            'assignments', 'calendars', 'versions', 'changelogs', and any other
 *                            store a client sent), keyed by String(record id);
 *     record: Y.Map           `$base`: the fields the record was created with, as one JSON object
 *                            (`id` with its JSON type; tasks also `parentId`, null at the root, and
 *                            `$order`, a fractional key giving the position among siblings);
 *                            every field written after that is a key of its own, which wins over
 *                            `$base`. So an edit writes one key and concurrent edits of different
 *                            fields merge, while a record nobody edited costs one Yjs item instead
 *                            of one per field (a 100k-task project would otherwise need gigabytes).
 *   doc.getMap('project')    project fields (startDate, calendar, ...).
 *   doc.getMap('$stores')    names of stores beyond the known ones, so they are found again.
 *
 * Version `content` is not in the document; it lives in LevelDB beside it.
 */
import * as Y from 'yjs';

export const KNOWN_STORES = ['tasks', 'resources', 'dependencies', 'assignments', 'calendars', 'versions', 'changelogs'] as const;
export type KnownStore = (typeof KNOWN_STORES)[number];
export const TASKS = 'tasks';
export const DEPENDENCIES = 'dependencies';
export const VERSIONS = 'versions';
export const PROJECT_MAP = 'project';
export const EXTRA_STORES_MAP = '$stores';
export const ORDER_FIELD = '$order';
export const BASE_FIELD = '$base';
export const PARENT_FIELD = 'parentId';
/** A dependency with `active: false` does not constrain the schedule. */
export const ACTIVE_FIELD = 'active';

/**
 * Fields a client may send that are never stored as data: they describe a record's place or
 * identity on the wire, or are the server's own (`$order` is derived from the positions clients send).
 */
export const TRANSPORT_FIELDS = new Set(['$PhantomId', '$PhantomParentId', 'parentIndex', 'orderedParentIndex', 'children', '$order', '$base']);
/** Fields kept in the document but not served in datasets (the tree nesting conveys them). */
export const HIDDEN_TASK_FIELDS = new Set([ORDER_FIELD, PARENT_FIELD]);

export type RecordId = string | number;
export type FieldMap = Y.Map<unknown>;
export type StoreMap = Y.Map<FieldMap>;

/** Store names are used as top-level map names: keep them plain so they cannot collide with internal maps. */
export const STORE_NAME = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;

export function isKnownStore(name: string): name is KnownStore {
  return (KNOWN_STORES as readonly string[]).includes(name);
}

export function storeMap(doc: Y.Doc, name: string): StoreMap {
  return doc.getMap(name) as StoreMap;
}

export function projectMap(doc: Y.Doc): Y.Map<unknown> {
  return doc.getMap(PROJECT_MAP);
}

export function extraStoreNames(doc: Y.Doc): string[] {
  return [...doc.getMap(EXTRA_STORES_MAP).keys()].filter((n) => STORE_NAME.test(n) && !isKnownStore(n) && n !== PROJECT_MAP).sort();
}

export function registerStore(doc: Y.Doc, name: string): void {
  if (isKnownStore(name)) return;
  const extras = doc.getMap(EXTRA_STORES_MAP);
  if (!extras.has(name)) extras.set(name, true);
}

export function allStoreNames(doc: Y.Doc): string[] {
  return [...KNOWN_STORES, ...extraStoreNames(doc)];
}

/**
 * A record's key in its store: its id as text. References in a change are client values passed
 * through here before they are checked; an object whose `toString` is not a function (JSON can
 * say `{"toString": 1}`) has no text, and takes the same key as other plain objects.
 */
export const recordKey = (id: RecordId): string => {
  // Stryker disable next-line ConditionalExpression: String() of a text is that text; this skips the try on the common case
  if (typeof id === 'string') return id;
  try {
    return String(id);
  } catch {
    return Object.prototype.toString.call(id);
  }
};

/**
 * Whether a value can name a record: only an id (a number or a text). A reference holding
 * anything else (`[402]`, `true`, `{}`) names none, although `recordKey` gives it a key ("402").
 */
export const isRecordId = (value: unknown): value is RecordId => typeof value === 'number' || typeof value === 'string';

/**
 * Record keys the server keeps for itself: the task tree's root key and the separator of
 * `touchKey` both use U+0000, so no record may be stored under a key holding it.
 */
export const isReservedKey = (key: string): boolean => key.includes('\u0000');

type Fields = Record<string, unknown>;

const baseOf = (record: FieldMap): Fields | undefined => {
  const base = record.get(BASE_FIELD);
  return typeof base === 'object' && base !== null && !Array.isArray(base) ? (base as Fields) : undefined;
};

/**
 * What is wrong with a record's id under `key` in its store, or null: an id is a number or a
 * non-empty text, and the key is that id as text. A record without one, or two keys claiming the
 * same id, would reach every dataset.
 */
export function recordIdProblem(key: string, id: unknown): string | null {
  const valid = Number.isFinite(id) || (typeof id === 'string' && id !== '');
  if (!valid) return "a record's id must be a number or a non-empty text";
  return recordKey(id as RecordId) === key ? null : "a record's key must be its id as text";
}

/** A field's value: its own key when it was written after the record was created, else `$base`. */
export function readField(record: FieldMap, field: string): unknown {
  const own = record.get(field);
  if (own !== undefined || record.has(field)) return own;
  return baseOf(record)?.[field];
}

/** The fields a dependency names its two tasks by (a reference may go by several names). */
export const DEPENDENCY_ENDS = [
  ['fromTask', 'fromEvent', 'from'],
  ['toTask', 'toEvent', 'to'],
] as const;

/** The fields an assignment names its task and its resource by, with the store each points into. */
export const ASSIGNMENT_REFS: readonly (readonly [readonly string[], string])[] = [
  [['event', 'eventId'], TASKS],
  [['resource', 'resourceId'], 'resources'],
];

/** Fields that name a record of a known store (a parent task, a dependency's tasks, ...), by field. */
export const REFERENCE_STORES: ReadonlyMap<string, string> = new Map([
  [PARENT_FIELD, TASKS],
  ...DEPENDENCY_ENDS.flat().map((field) => [field, TASKS] as const),
  ...ASSIGNMENT_REFS.flatMap(([names, store]) => names.map((field) => [field, store] as const)),
  ['calendar', 'calendars'],
]);

/** The value of the first of `names` the record has (a reference may go by several names), or undefined. */
export function firstField(record: FieldMap, names: readonly string[]): unknown {
  for (const name of names) {
    const value = readField(record, name);
    if (value !== undefined) return value;
  }
  return undefined;
}

/** A field's value as plain JSON (a Yjs type a peer nested there, as its JSON). */
export const plainValue = (value: unknown): unknown => (value instanceof Y.AbstractType ? value.toJSON() : value);

/** Every field of a record as plain values, own keys over `$base`; `hidden` fields left out. */
export function recordFields(record: FieldMap, hidden?: Set<string>): Fields {
  const out: Fields = {};
  const base = baseOf(record);
  // Stryker disable next-line ConditionalExpression: for-in over undefined runs no turn; the check only tells TypeScript
  if (base) for (const field in base) if (!hidden?.has(field)) out[field] = base[field];
  for (const [field, value] of record.entries()) {
    if (field === BASE_FIELD || hidden?.has(field)) continue;
    out[field] = plainValue(value);
  }
  return out;
}

/** A new record holding `fields` as its base (one Yjs item, however many fields). */
export function newRecord(fields: Fields): FieldMap {
  const record = new Y.Map<unknown>();
  record.set(BASE_FIELD, fields);
  return record;
}

/** The record's id: `id` field, else its map key. */
export function idOf(record: FieldMap, key: string): RecordId {
  const id = readField(record, 'id');
  return typeof id === 'number' || typeof id === 'string' ? id : key;
}
