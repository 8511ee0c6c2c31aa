/**
 * Seed files: the JSON layout Bryntum's demo server loads
 * (`{ project, calendars: {rows}, tasks: {rows}, ... }`, tasks nested through `children` or flat
 * with `parentId`). They become the first state of a project's document.
 */
import * as Y from 'yjs';
import { readFile } from 'node:fs/promises';
import { PARENT_FIELD, ORDER_FIELD, STORE_NAME, TASKS, TRANSPORT_FIELDS, VERSIONS, newRecord, projectMap, recordKey, registerStore, storeMap, type RecordId } from './layout.js';
import { keysBetween } from './order.js';

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
  return parseSeed(parsed, path);
}

export function parseSeed(data: unknown, source = 'seed'): SeedData {
  if (!isObject(data)) throw new Error(`${source}: expected a JSON object`);
  const seed: SeedData = { project: isObject(data.project) ? { ...data.project } : {}, stores: new Map(), versionContents: new Map() };
  for (const [name, value] of Object.entries(data)) {
    if (name === 'project' || name === 'success') continue;
    const rows = isObject(value) && Array.isArray(value.rows) ? value.rows : Array.isArray(value) ? value : null;
    if (!rows || !STORE_NAME.test(name)) continue;
    const records = name === TASKS ? flattenTasks(rows) : rows.filter(isObject).map((r) => ({ ...r }));
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

function flattenTasks(rows: unknown[]): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  const walk = (list: unknown[], parentId: unknown) => {
    for (const row of list) {
      if (!isObject(row)) continue;
      const { children, ...fields } = row;
      const parent = parentId !== undefined ? parentId : (fields.parentId ?? null);
      out.push({ ...fields, [PARENT_FIELD]: parent });
      if (Array.isArray(children)) walk(children, fields.id);
    }
  };
  walk(rows, undefined);
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
      const fields: Record<string, unknown> = {};
      for (const [field, value] of Object.entries(row)) if (!TRANSPORT_FIELDS.has(field)) fields[field] = value;
      if (orderKeys) fields[ORDER_FIELD] = orderKeys.get(row)!;
      else if (seed.ordered && typeof row[ORDER_FIELD] === 'string') fields[ORDER_FIELD] = row[ORDER_FIELD];
      map.set(recordKey(row.id as RecordId), newRecord(fields));
    }
  }
}

function siblingKeys(rows: Record<string, unknown>[]): Map<Record<string, unknown>, string> {
  const byParent = new Map<string, Record<string, unknown>[]>();
  for (const row of rows) {
    const parent = row[PARENT_FIELD] === null || row[PARENT_FIELD] === undefined ? '' : recordKey(row[PARENT_FIELD] as RecordId);
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
 * the first part). Sibling order keys are computed over the whole seed, so parts can be written
 * one after another.
 */
export function seedParts(seed: SeedData, batch: number): SeedData[] {
  const orderKeys = seed.stores.has(TASKS) ? siblingKeys(seed.stores.get(TASKS)!) : new Map();
  const rows: [string, Record<string, unknown>][] = [];
  for (const [name, list] of seed.stores) for (const row of list) rows.push([name, name === TASKS ? { ...row, [ORDER_FIELD]: orderKeys.get(row) } : row]);
  const parts: SeedData[] = [];
  for (let i = 0; i === 0 || i < rows.length; i += batch) {
    const stores = new Map<string, Record<string, unknown>[]>(i === 0 ? [...seed.stores.keys()].map((n) => [n, []]) : []);
    for (const [name, row] of rows.slice(i, i + batch)) {
      if (!stores.has(name)) stores.set(name, []);
      stores.get(name)!.push(row);
    }
    parts.push({ project: i === 0 ? seed.project : {}, stores, versionContents: new Map(), ordered: true });
  }
  return parts;
}

/** Every id in the seed, for starting a project's id counter above them. */
export function seedIds(seed: SeedData): RecordId[] {
  const ids: RecordId[] = [];
  for (const rows of seed.stores.values()) for (const r of rows) if (typeof r.id === 'number' || typeof r.id === 'string') ids.push(r.id);
  return ids;
}
