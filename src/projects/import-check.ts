/**
 * What an import may hold, checked before anything is stored: the same rules a client's change
 * is held to (src/document/input-check.ts: field names, nesting depth, store names), valid record
 * ids (numbers, or strings without U+0000, at most 1024 characters), no id twice in one store,
 * a task tree (every parent exists, no task its own ancestor), and at most `maxRecordsPerProject`
 * records. An import comes from an admin, but often from a file
 * someone else made.
 */
import { checkInput } from '../document/input-check.js';
import { PARENT_FIELD, TASKS, isReservedKey } from '../document/layout.js';
import type { SeedData } from '../document/seed.js';
import { RecordIdSchema } from '../protocol/schemas.js';
import type { Config } from '../config/schema.js';

export class ImportCheckError extends Error {}

export function checkImport(seed: SeedData, limits: Pick<Config['limits'], 'maxValueDepth' | 'maxRecordsPerProject'>): void {
  let records = 0;
  const flat: Record<string, unknown> = Object.create(null);
  for (const [store, rows] of seed.stores) {
    records += rows.length;
    const ids = new Set<unknown>();
    rows.forEach((row, i) => {
      const id = RecordIdSchema.safeParse(row.id);
      if (!id.success || (typeof id.data === 'string' && isReservedKey(id.data))) {
        throw new ImportCheckError(`${store}[${i}]: a record id must be a number or a string of 1 to 1024 characters without U+0000, got ${JSON.stringify(row.id)?.slice(0, 80)}`);
      }
      if (ids.has(id.data)) throw new ImportCheckError(`${store}: id ${JSON.stringify(id.data).slice(0, 80)} appears twice`);
      ids.add(id.data);
    });
    flat[store] = { added: rows };
  }
  checkTree(seed.stores.get(TASKS) ?? []);
  if (records > limits.maxRecordsPerProject) throw new ImportCheckError(`${records} records: a project may hold at most ${limits.maxRecordsPerProject} (limits.maxRecordsPerProject)`);
  try {
    checkInput({ ...flat, project: seed.project }, { maxDepth: limits.maxValueDepth, maxRecords: Number.POSITIVE_INFINITY });
  } catch (e) {
    throw new ImportCheckError((e as Error).message);
  }
}

/** Every parent is a task of the import, and no chain of parents comes back to where it started (linear). */
function checkTree(tasks: Record<string, unknown>[]): void {
  const parentOf = new Map<unknown, unknown>();
  for (const task of tasks) parentOf.set(task.id, task[PARENT_FIELD] ?? null);
  for (const [id, parent] of parentOf) {
    if (parent !== null && !parentOf.has(parent)) throw new ImportCheckError(`tasks: ${JSON.stringify(id)?.slice(0, 80)} has parent ${JSON.stringify(parent)?.slice(0, 80)}, which is not a task of the import`);
  }
  // 1: on the chain being walked; 2: known to reach the root.
  const state = new Map<unknown, 1 | 2>();
  for (const start of parentOf.keys()) {
    const chain: unknown[] = [];
    let id: unknown = start;
    while (id !== null && state.get(id) !== 2) {
      if (state.get(id) === 1) throw new ImportCheckError(`tasks: ${JSON.stringify(id)?.slice(0, 80)} is its own ancestor`);
      state.set(id, 1);
      chain.push(id);
      id = parentOf.get(id);
    }
    for (const done of chain) state.set(done, 2);
  }
}
