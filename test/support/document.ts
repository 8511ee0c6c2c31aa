/**
 * A project document without sockets or storage: a ProjectDocument seeded from a demo seed file,
 * a CounterIds id source and a Map of known phantoms, as a project room wires them.
 */
import { fileURLToPath } from 'node:url';
import * as Y from 'yjs';
import type { AppliedChange, ChangeContext } from '../../src/document/adapter.js';
import { recordJson } from '../../src/document/dataset.js';
import { CounterIds, counterAbove, type IdStyle } from '../../src/document/ids.js';
import { idOf, recordKey, storeMap, TASKS, type RecordId } from '../../src/document/layout.js';
import { ProjectDocument } from '../../src/document/project-document.js';
import { PhantomMap } from '../../src/document/phantoms.js';
import { parseSeed, readSeedFile, seedIds, type SeedData } from '../../src/document/seed.js';
import { ROOT } from '../../src/document/tree.js';

export type SeedName = 'saas' | 'website' | 'backend';

export function seedPath(name: SeedName): string {
  return fileURLToPath(new URL(`../../storage/seed/${name}.json`, import.meta.url));
}

export interface TestProject {
  project: ProjectDocument;
  ids: CounterIds;
  phantoms: PhantomMap;
  /** Apply a change as a room does, as one sender: new phantoms are remembered for its later changes. */
  apply(changes: Record<string, unknown>, resentPhantoms?: ChangeContext['resentPhantoms']): AppliedChange;
  /** Ids of a task's children in sibling order (null = the root), as the tree index gives them. */
  children(parent: RecordId | null): RecordId[];
  /** A stored record with every field the document holds, or undefined. */
  record(store: string, id: RecordId): Record<string, unknown> | undefined;
  count(store: string): number;
}

export function projectFrom(seed: SeedData, style: IdStyle = 'prefixed'): TestProject {
  const project = new ProjectDocument();
  project.replaceWith(seed);
  const ids = new CounterIds(counterAbove(seedIds(seed)), style);
  const phantoms = new PhantomMap(Infinity);
  const tasks = () => storeMap(project.doc, TASKS);
  return {
    project,
    ids,
    phantoms,
    apply(changes, resentPhantoms = 'to-updated') {
      const applied = project.applyChange(changes, { ids, phantoms: phantoms.of('user', 'connection'), resentPhantoms });
      for (const p of applied.newPhantoms.entries()) phantoms.set({ ...p, user: 'user', connection: 'connection', at: Date.now() });
      return applied;
    },
    children(parent) {
      const keys = project.tree.childrenOf(parent === null ? ROOT : recordKey(parent));
      return keys.map((k) => idOf(tasks().get(k)!, k));
    },
    record(store, id) {
      const record = storeMap(project.doc, store).get(recordKey(id));
      return record ? recordJson(record) : undefined;
    },
    count(store) {
      return storeMap(project.doc, store).size;
    },
  };
}

export async function seededProject(name: SeedName = 'saas', style: IdStyle = 'prefixed'): Promise<TestProject> {
  return projectFrom(await readSeedFile(seedPath(name)), style);
}

export function projectOf(data: Record<string, unknown>, style: IdStyle = 'prefixed'): TestProject {
  return projectFrom(parseSeed(data, 'test seed'), style);
}

export interface ServedTask {
  id: RecordId;
  children?: ServedTask[];
  [field: string]: unknown;
}

/** The id tree of served tasks: `[id, [children...]]` for parents, the bare id for leaves. */
export function idTree(tasks: ServedTask[]): unknown[] {
  return tasks.map((t) => (t.children ? [t.id, idTree(t.children)] : t.id));
}

export function* walkTasks(tasks: ServedTask[]): Generator<ServedTask> {
  for (const t of tasks) {
    yield t;
    if (t.children) yield* walkTasks(t.children);
  }
}

/** A Yjs replica of the server's document, as a peer that went its own way for a while. */
export function replicaOf(project: ProjectDocument): Y.Doc {
  const doc = new Y.Doc();
  Y.applyUpdateV2(doc, project.encodeState());
  return doc;
}

/** What the replica has that the server lacks, applied on the server; returns what clients are told. */
export function pushReplica(replica: Y.Doc, project: ProjectDocument): Record<string, any> | null {
  return project.applyUpdate(Y.encodeStateAsUpdate(replica, Y.encodeStateVector(project.doc)), 'peer') as Record<string, any> | null;
}
