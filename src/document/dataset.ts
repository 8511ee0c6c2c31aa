/**
 * The dataset a client loads, projected from the document. Each store is serialized to JSON text
 * on its own and kept until the store changes, so a dataset request after a one-task edit only
 * re-serializes the tasks. Large stores are serialized in paced stretches, so other projects'
 * traffic is not held up.
 */
import * as Y from 'yjs';
import { HIDDEN_TASK_FIELDS, KNOWN_STORES, TASKS, VERSIONS, idOf, isReservedKey, projectMap, recordFields, storeMap, type FieldMap } from './layout.js';
import { isServerVersionId } from '../history/version-records.js';
import { ROOT, type TreeIndex } from './tree.js';
import { Pacer } from './pacer.js';

export const DATASET_KEYS: Record<string, string> = {
  tasks: 'tasksData',
  resources: 'resourcesData',
  dependencies: 'dependenciesData',
  assignments: 'assignmentsData',
  calendars: 'calendarsData',
  versions: 'versionsData',
  changelogs: 'changelogsData',
};

/** The plain store names Bryntum 7.x also reads (PROTOCOL.md §3.2); versions and change logs have none. */
const PLAIN_KEYS: Record<string, string> = { ...DATASET_KEYS, tasks: 'tasks', resources: 'resources', dependencies: 'dependencies', assignments: 'assignments', calendars: 'calendars' };

/** Which names the store arrays of a dataset get. */
export type DatasetKeys = 'legacy' | 'plain';

export interface DatasetTexts {
  /** JSON text of each known store's array, by store name. */
  stores: Map<string, string>;
  /** JSON text of the project fields. */
  project: string;
}

/** Paces serialization when asked to (see Pacer); otherwise runs straight through. */
class Slicer {
  private readonly pacer: Pacer | null;
  constructor(yielding: boolean) {
    this.pacer = yielding ? new Pacer() : null;
  }
  async tick(): Promise<void> {
    await this.pacer?.tick();
  }
}

export function recordJson(record: FieldMap, hidden?: Set<string>): Record<string, unknown> {
  return recordFields(record, hidden);
}

async function flatStoreJson(doc: Y.Doc, store: string, slicer: Slicer): Promise<string> {
  const parts: string[] = [];
  for (const [key, record] of storeMap(doc, store)) {
    // Ids `weft-<n>` name the server's versions (added to datasets beside these): a record of
    // the document under such an id would pass for one.
    if (store === VERSIONS && (isServerVersionId(key) || isServerVersionId(idOf(record, key)))) continue;
    const json = recordJson(record);
    if (store === VERSIONS) delete json.content;
    parts.push(JSON.stringify(json));
    await slicer.tick();
  }
  return `[${parts.join(',')}]`;
}

/**
 * Tasks as a nested tree in sibling order; tasks whose parent is missing are served at the top.
 * Written depth-first into one list of pieces and joined once, so a task's text is copied once
 * however deep it sits (nesting by concatenation copied it again at every level above it).
 */
async function taskTreeJson(doc: Y.Doc, tree: TreeIndex, slicer: Slicer): Promise<string> {
  const tasks = storeMap(doc, TASKS);
  const top = [ROOT, ...tree.missingParents().sort()];
  const pieces: string[] = ['['];
  // Each task once, whatever the stored parent links: a cycle stored before the integrity rules
  // repaired it must not make the walk endless.
  const written = new Set<string>();
  function* topKeys(): Generator<string> {
    for (const parent of top) yield* tree.childrenOf(parent);
    // Only members of such a cycle (and their subtrees) are left once the walk gets here: served
    // at the top rather than hidden, until a change repairs them.
    for (const key of tasks.keys()) if (!written.has(key) && !isReservedKey(key)) yield key;
  }
  // One entry per open array: the keys still to write in it, what closes it, whether it has an entry yet.
  const open: { keys: Iterator<string>; close: string; any: boolean }[] = [{ keys: topKeys(), close: ']', any: false }];
  while (open.length > 0) {
    const level = open[open.length - 1];
    const next = level.keys.next();
    if (next.done) {
      pieces.push(level.close);
      open.pop();
      continue;
    }
    const record = written.has(next.value) ? undefined : tasks.get(next.value);
    if (!record) continue;
    written.add(next.value);
    if (level.any) pieces.push(',');
    level.any = true;
    const text = JSON.stringify(recordJson(record, HIDDEN_TASK_FIELDS));
    await slicer.tick();
    const children = tree.childrenOf(next.value);
    if (children.length === 0) {
      pieces.push(text);
      continue;
    }
    pieces.push(`${text.length > 2 ? text.slice(0, -1) + ',' : '{'}"children":[`);
    open.push({ keys: children.values(), close: ']}', any: false });
  }
  return pieces.join('');
}

export class DatasetCache {
  private readonly texts = new Map<string, string>();
  private projectText: string | null = null;

  constructor(private readonly doc: Y.Doc, private readonly owner: { tree: TreeIndex }) {
    doc.on('afterTransaction', (tr: Y.Transaction) => {
      for (const type of tr.changedParentTypes.keys()) this.invalidate(type);
      for (const type of tr.changed.keys()) this.invalidate(type);
    });
  }

  private invalidate(type: Y.AbstractType<any>): void {
    // Walk up to the top-level map the change happened in.
    let t: Y.AbstractType<any> = type;
    while (t._item && t._item.parent) t = t._item.parent as Y.AbstractType<any>;
    for (const [name, top] of this.doc.share) {
      if (top === t) {
        if (name === 'project') this.projectText = null;
        else this.texts.delete(name);
        return;
      }
    }
    // A root an update wrote before anything asked for it (a store the stored state never had) is
    // swapped for a map when first read: its name is not known here any more, so all is read again.
    this.clear();
  }

  clear(): void {
    this.texts.clear();
    this.projectText = null;
  }

  prime(texts: DatasetTexts): void {
    for (const [store, text] of texts.stores) this.texts.set(store, text);
    this.projectText = texts.project;
  }

  /**
   * Every known store's JSON text. `yielding` slices large stores across event-loop turns; the
   * caller must keep the document unchanged until the promise settles.
   */
  async texts_(yielding: boolean): Promise<DatasetTexts> {
    const slicer = new Slicer(yielding);
    for (const store of KNOWN_STORES) {
      if (this.texts.has(store)) continue;
      const text = store === TASKS ? await taskTreeJson(this.doc, this.owner.tree, slicer) : await flatStoreJson(this.doc, store, slicer);
      this.texts.set(store, text);
    }
    this.projectText ??= JSON.stringify(projectMap(this.doc).toJSON());
    return { stores: new Map(this.texts), project: this.projectText };
  }
}

/**
 * The 7 store keys (classic `dataset` reply) as pieces of JSON text, in order: the store texts
 * are large, so they are passed on as they are rather than copied into one string.
 */
export function storesPieces(texts: DatasetTexts, keys: DatasetKeys = 'legacy'): string[] {
  const names = keys === 'legacy' ? DATASET_KEYS : PLAIN_KEYS;
  const pieces: string[] = [];
  KNOWN_STORES.forEach((s, i) => pieces.push(`${i === 0 ? '{' : ','}"${names[s]}":`, texts.stores.get(s)!));
  pieces.push('}');
  return pieces;
}

/** The 8-key dataset (revisions generation, and every reset broadcast) as pieces of JSON text. */
export function datasetPieces(texts: DatasetTexts, keys: DatasetKeys = 'legacy'): string[] {
  const pieces = storesPieces(texts, keys);
  pieces[pieces.length - 1] = `,"project":${texts.project}}`;
  return pieces;
}

/** The 8-key dataset (revisions generation, and every reset broadcast), as JSON text. */
export function datasetJson(texts: DatasetTexts, keys: DatasetKeys = 'legacy'): string {
  return datasetPieces(texts, keys).join('');
}

/** The dataset as plain objects (CLI, history, tests). */
export async function datasetObject(cache: DatasetCache, yielding = false): Promise<Record<string, unknown>> {
  return JSON.parse(datasetJson(await cache.texts_(yielding)));
}
