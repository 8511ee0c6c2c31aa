/**
 * Seed files: the JSON layout Bryntum's demo server loads
 * (`{ project, calendars: {rows}, tasks: {rows}, ... }`, tasks nested through `children` or flat
 * with `parentId`). They become the first state of a project's document.
 */
import * as Y from 'yjs';
import { readFile } from 'node:fs/promises';
import { PARENT_FIELD, ORDER_FIELD, STORE_NAME, TASKS, TRANSPORT_FIELDS, VERSIONS, isReservedKey, newRecord, projectMap, recordKey, registerStore, storeMap, type RecordId } from './layout.js';
import { keysBetween } from './order.js';
import { runPaced, runToEnd } from './pacer.js';
import { isServerVersionId } from '../history/version-records.js';

export interface SeedData {
  project: Record<string, unknown>;
  /** Rows per store; tasks flat, each with `parentId` (null at the root), in sibling order. */
  stores: Map<string, Record<string, unknown>[]>;
  /** Version content by version record key. */
  versionContents: Map<string, unknown>;
  /** Task rows already carry their sibling order key (parts of a larger seed). */
  ordered?: boolean;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export async function readSeedFile(path: string): Promise<SeedData> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'));
  } catch (e) {
    throw new Error(`cannot read seed file ${path}: ${(e as Error).message}`);
  }
  return parseSeedPaced(parsed, path);
}

export function parseSeed(data: unknown, source = 'seed'): SeedData {
  return runToEnd(buildSeed(data, source));
}

/** The same, pausing now and then: a 100k-task seed takes a few hundred ms to take apart. */
export function parseSeedPaced(data: unknown, source = 'seed'): Promise<SeedData> {
  return runPaced(buildSeed(data, source));
}

/** Rows handled between the points where building a seed may hand the event loop back. */
const STEP = 1000;

function* buildSeed(data: unknown, source: string): Generator<void, SeedData> {
  if (!isObject(data)) throw new Error(`${source}: expected a JSON object`);
  const seed: SeedData = { project: isObject(data.project) ? { ...data.project } : {}, stores: new Map(), versionContents: new Map() };
  for (const [name, value] of Object.entries(data)) {
    if (name === 'project' || name === 'success') continue;
    const rows = isObject(value) && Array.isArray(value.rows) ? value.rows : Array.isArray(value) ? value : null;
    if (!rows || !STORE_NAME.test(name)) continue;
    const records = name === TASKS ? yield* flattenTasks(rows) : yield* copyRecords(rows);
    if (name === VERSIONS) {
      for (const r of records) {
        if ('content' in r) seed.versionContents.set(recordKey(r.id as RecordId), r.content);
        delete r.content;
      }
    }
    seed.stores.set(name, records);
  }
  return seed;
}

function* copyRecords(rows: unknown[]): Generator<void, Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  for (const row of rows) {
    if (!isObject(row)) continue;
    out.push({ ...row });
    if (out.length % STEP === 0) yield;
  }
  return out;
}

/** Tasks depth first in sibling order, each with its parent's id (an explicit stack: seeds nest deep). */
function* flattenTasks(rows: unknown[]): Generator<void, Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  const stack: { list: unknown[]; next: number; parentId: unknown }[] = [{ list: rows, next: 0, parentId: undefined }];
  while (stack.length > 0) {
    const level = stack[stack.length - 1];
    if (level.next === level.list.length) {
      stack.pop();
      continue;
    }
    const row = level.list[level.next++];
    if (!isObject(row)) continue;
    const { children, ...fields } = row;
    const parent = level.parentId !== undefined ? level.parentId : (fields.parentId ?? null);
    out.push({ ...fields, [PARENT_FIELD]: parent });
    if (Array.isArray(children)) stack.push({ list: children, next: 0, parentId: fields.id });
    if (out.length % STEP === 0) yield;
  }
  return out;
}

/** Write the seed into the document (which must hold no records of these stores). */
export function writeSeed(doc: Y.Doc, seed: SeedData): void {
  const project = projectMap(doc);
  for (const [field, value] of Object.entries(seed.project)) project.set(field, value);
  for (const [name, rows] of seed.stores) {
    registerStore(doc, name);
    const map = storeMap(doc, name);
    const orderKeys = name === TASKS && !seed.ordered ? siblingKeys(rows) : null;
    for (const row of rows) {
      if (row.id === undefined || row.id === null) continue;
      // The server's own keys and version ids are no record's (src/document/reserved-ids.ts).
      if (isReservedKey(recordKey(row.id as RecordId)) || (name === VERSIONS && isServerVersionId(row.id))) continue;
      const fields: Record<string, unknown> = {};
      for (const [field, value] of Object.entries(row)) if (!TRANSPORT_FIELDS.has(field)) fields[field] = value;
      // Order keys are the server's, for tasks only: worked out here, or by seedParts for an ordered seed.
      const order = orderKeys ? orderKeys.get(row) : row[ORDER_FIELD];
      if (name === TASKS && typeof order === 'string') fields[ORDER_FIELD] = order;
      map.set(recordKey(row.id as RecordId), newRecord(fields));
    }
  }
}

function siblingKeys(rows: Record<string, unknown>[]): Map<Record<string, unknown>, string> {
  const byParent = new Map<string, Record<string, unknown>[]>();
  for (const row of rows) {
    // Only siblings need keys in order, and a group holding more rows keeps each one's order: the
    // top-level rows (parent null) may share "null" with the children of a task of that id.
    const parent = recordKey(row[PARENT_FIELD] as RecordId);
    let list = byParent.get(parent);
    if (!list) byParent.set(parent, (list = []));
    list.push(row);
  }
  const keys = new Map<Record<string, unknown>, string>();
  for (const list of byParent.values()) {
    const k = keysBetween(null, null, list.length);
    list.forEach((row, i) => keys.set(row, k[i]));
  }
  return keys;
}

/**
 * The seed cut into parts of at most `batch` records (the project fields and store names go with
 * the first part), made one at a time as they are asked for. Sibling order keys are computed over
 * the whole seed first, so parts can be written one after another.
 */
export function* seedParts(seed: SeedData, batch: number): Generator<SeedData, void, undefined> {
  const orderKeys = seed.stores.has(TASKS) ? siblingKeys(seed.stores.get(TASKS)!) : new Map<Record<string, unknown>, string>();
  const start = (first: boolean): SeedData => ({
    project: first ? seed.project : {},
    stores: new Map(first ? [...seed.stores.keys()].map((n) => [n, []]) : []),
    versionContents: new Map(),
    ordered: true,
  });
  let part = start(true);
  let size = 0;
  for (const [name, list] of seed.stores) {
    for (const row of list) {
      if (size === batch) {
        yield part;
        part = start(false);
        size = 0;
      }
      let rows = part.stores.get(name);
      if (!rows) part.stores.set(name, (rows = []));
      rows.push(name === TASKS ? { ...row, [ORDER_FIELD]: orderKeys.get(row) } : row);
      size++;
    }
  }
  yield part;
}

/** Every id in the seed, for starting a project's id counter above them. */
export function seedIds(seed: SeedData): RecordId[] {
  const ids: RecordId[] = [];
  for (const rows of seed.stores.values()) for (const r of rows) if (typeof r.id === 'number' || typeof r.id === 'string') ids.push(r.id);
  return ids;
}
