/**
 * The crash part's model of what each writer did. Every record a writer makes carries `born`
 * (the token of the change that made it), and every change also renames the writer's ledger task
 * to that change's token. A change is acknowledged once its token came back to any client. After
 * a restart the ledger's name says how many of the writer's changes are stored (a writer's changes
 * are stored in the order it sent them), and the writer's records must be exactly what its changes
 * up to there make.
 */
import type { View, Rec } from '../src/simulate/view.js';

export type Store = 'tasks' | 'dependencies' | 'assignments';

/** A record as the model sees it: references by `born` (or `id:<id>` for records of the seed). */
export interface ModelRecord {
  store: Store;
  born: string;
  fields: Record<string, unknown>;
}

export type State = Map<string, ModelRecord>;

export type Op =
  | { kind: 'add'; born: string; parent: string | null; percentDone: number }
  | { kind: 'update'; born: string; percentDone: number }
  | { kind: 'move'; born: string; parent: string | null }
  | { kind: 'remove'; born: string }
  | { kind: 'link'; born: string; from: string; to: string }
  | { kind: 'assign'; born: string; event: string; resource: string };

export interface Change {
  token: string;
  op: Op | null;
}

export const ledgerBorn = (writer: string): string => `ledger.${writer}`;
export const tokenOf = (writer: string, cycle: number, k: number): string => `ck.${writer}.${cycle}.${k}`;
/** Tokens in a frame's text: writer, cycle, change number. */
export const TOKEN = /ck\.([a-z]\d+)\.(\d+)\.(\d+)/g;
export const ownedBy = (writer: string, born: string): boolean => born === ledgerBorn(writer) || born.startsWith(`ck.${writer}.`);

export function cloneState(state: State): State {
  return new Map([...state].map(([k, r]) => [k, { store: r.store, born: r.born, fields: { ...r.fields } }]));
}

/** The task `born` and every task below it. */
export function subtree(state: State, born: string): string[] {
  const out = [born];
  for (let i = 0; i < out.length; i++) {
    for (const r of state.values()) if (r.store === 'tasks' && r.fields.parent === out[i]) out.push(r.born);
  }
  return out;
}

/** Dependencies and assignments pointing at any of `tasks`. */
export function pointingAt(state: State, tasks: Set<string>): string[] {
  const out: string[] = [];
  for (const r of state.values()) {
    if (r.store === 'dependencies' && (tasks.has(r.fields.from as string) || tasks.has(r.fields.to as string))) out.push(r.born);
    if (r.store === 'assignments' && tasks.has(r.fields.event as string)) out.push(r.born);
  }
  return out;
}

/** Apply one change of `writer` to its records (the ledger takes the token as its name). */
export function apply(state: State, writer: string, change: Change): void {
  const ledger = ledgerBorn(writer);
  const existing = state.get(ledger);
  if (existing) existing.fields.name = change.token;
  else state.set(ledger, { store: 'tasks', born: ledger, fields: { name: change.token, percentDone: 0, parent: null } });
  const op = change.op;
  if (!op) return;
  switch (op.kind) {
    case 'add':
      state.set(op.born, { store: 'tasks', born: op.born, fields: { name: op.born, percentDone: op.percentDone, parent: op.parent } });
      return;
    case 'update': {
      const r = state.get(op.born);
      if (r) Object.assign(r.fields, { name: change.token, percentDone: op.percentDone });
      return;
    }
    case 'move': {
      const r = state.get(op.born);
      if (r) r.fields.parent = op.parent;
      return;
    }
    case 'remove': {
      const tasks = new Set(subtree(state, op.born));
      for (const b of [...tasks, ...pointingAt(state, tasks)]) state.delete(b);
      return;
    }
    case 'link':
      state.set(op.born, { store: 'dependencies', born: op.born, fields: { from: op.from, to: op.to } });
      return;
    case 'assign':
      state.set(op.born, { store: 'assignments', born: op.born, fields: { event: op.event, resource: op.resource } });
      return;
  }
}

/** What the writer's records are after its first `count` changes of this cycle. */
export function replay(baseline: State, writer: string, changes: Change[], count: number): State {
  const state = cloneState(baseline);
  for (const change of changes.slice(0, count)) apply(state, writer, change);
  return state;
}

/** The stored records that carry `born`, as the model sees them, with the id each has. */
export function modelOf(view: View): { state: State; ids: Map<string, string> } {
  const state: State = new Map();
  const ids = new Map<string, string>();
  const bornOfTask = new Map<string, string>();
  for (const [key, r] of view.tasks) bornOfTask.set(key, typeof r.born === 'string' ? r.born : `id:${key}`);
  const ref = (value: unknown) => (value === null || value === undefined ? null : (bornOfTask.get(String(value)) ?? `id:${String(value)}`));
  const add = (store: Store, key: string, r: Rec, fields: Record<string, unknown>) => {
    if (typeof r.born !== 'string') return;
    state.set(r.born, { store, born: r.born, fields });
    ids.set(r.born, key);
  };
  for (const [key, r] of view.tasks) add('tasks', key, r, { name: r.name, percentDone: r.percentDone, parent: ref(r.parentId) });
  for (const [key, r] of view.store('dependencies')) add('dependencies', key, r, { from: ref(r.fromTask ?? r.fromEvent ?? r.from), to: ref(r.toTask ?? r.toEvent ?? r.to) });
  for (const [key, r] of view.store('assignments')) add('assignments', key, r, { event: ref(r.event ?? r.eventId), resource: String(r.resource ?? r.resourceId) });
  return { state, ids };
}

/** The writer's own records of `state`. */
export function ownRecords(state: State, writer: string): State {
  return new Map([...state].filter(([born]) => ownedBy(writer, born)));
}

/** Differences between the expected and the stored records of one writer, one line each. */
export function compareRecords(expected: State, stored: State): string[] {
  const out: string[] = [];
  for (const [born, e] of expected) {
    const s = stored.get(born);
    if (!s) {
      out.push(`${e.store} ${born}: missing (expected ${JSON.stringify(e.fields)})`);
      continue;
    }
    for (const [field, value] of Object.entries(e.fields)) {
      if (JSON.stringify(s.fields[field]) !== JSON.stringify(value)) out.push(`${e.store} ${born}: ${field} is ${JSON.stringify(s.fields[field])}, expected ${JSON.stringify(value)}`);
    }
  }
  for (const [born, s] of stored) if (!expected.has(born)) out.push(`${s.store} ${born}: stored but no stored change made it (${JSON.stringify(s.fields)})`);
  return out;
}
