/**
 * What `weft projects import` takes, made into the seed layout (src/document/seed.ts):
 * - a Bryntum dataset as a `dataset` reply holds it (`tasksData`, ..., `project`), or the whole
 *   reply message of either generation, or what `project.loadInlineData()` takes (`tasks`, ...);
 * - a demo-server project file or a CrudManager load response (`{ project, tasks: { rows } }`).
 */
import { STORE_NAME } from '../document/layout.js';

const RESERVED = new Set(['__proto__', 'constructor', 'prototype']);
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export type ImportKind = 'dataset' | 'rows';

export class ImportFormatError extends Error {}

/** The seed-layout object for `input`, and which layout it came in. */
export function toSeedLayout(input: unknown): { kind: ImportKind; data: Record<string, unknown> } {
  let value = input;
  // A whole reply: classic `{ command, dataset }`, revisions `{ command, data: { dataset } }`.
  if (isObject(value) && isObject(value.data) && isObject(value.data.dataset)) value = value.data.dataset;
  else if (isObject(value) && isObject(value.dataset)) value = value.dataset;
  if (!isObject(value)) throw new ImportFormatError('expected a JSON object: a Bryntum dataset, a project file or a CrudManager load response');
  const out: Record<string, unknown> = Object.create(null);
  let dataset = false;
  let stores = 0;
  for (const [key, entry] of Object.entries(value)) {
    if (key === 'project' || key === 'projectMeta') {
      if (isObject(entry)) out.project = { ...(isObject(out.project) ? out.project : {}), ...entry };
      continue;
    }
    if (key === 'success' || key === 'command' || key === 'revision' || key === 'requestId' || key === 'type') continue;
    const store = key.endsWith('Data') && key.length > 4 ? key.slice(0, -4) : key;
    if (!STORE_NAME.test(store) || RESERVED.has(store)) continue;
    if (Array.isArray(entry)) {
      dataset = true;
      out[store] = { rows: entry };
      stores++;
    } else if (isObject(entry) && Array.isArray(entry.rows)) {
      out[store] = { rows: entry.rows };
      stores++;
    }
  }
  if (stores === 0) throw new ImportFormatError('no stores found: expected tasks (or tasksData) and other stores as arrays or { rows }');
  return { kind: dataset ? 'dataset' : 'rows', data: { ...out } };
}
