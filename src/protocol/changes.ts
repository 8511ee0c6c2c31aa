/**
 * Helpers on change sets as they travel between generations.
 */
import type { Changes } from './schemas.js';

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Revisions clients replay only changes that carry `$input` (PROTOCOL.md §12). A change that did
 * not come from one (a classic client, a Yjs peer, a repair) gets an `$input` equal to what changed.
 */
export function withInput(changes: Changes): Changes {
  const out: Changes = {};
  for (const [key, entry] of Object.entries(changes)) {
    if (!isObject(entry) || '$input' in entry) {
      out[key] = entry;
      continue;
    }
    if (key === 'project') {
      const { id: _clientProjectId, ...fields } = entry;
      out[key] = { ...entry, $input: fields };
      continue;
    }
    const input: Record<string, unknown> = {};
    for (const kind of ['added', 'updated', 'removed']) if (Array.isArray(entry[kind])) input[kind] = entry[kind];
    out[key] = { ...entry, $input: input };
  }
  return out;
}

/**
 * A revisions client's engine correction (PROTOCOL.md §12.2): values its engine recomputed after
 * a revision left them stale, sent with its own `_generatedProjectModel_…` as the project id and
 * no `$input` anywhere. Such a revision only restates what the client holds.
 */
export function isEngineCorrection(changes: Changes): boolean {
  const project = changes.project;
  if (!isObject(project) || typeof project.id !== 'string' || !project.id.startsWith('_generatedProjectModel_')) return false;
  return Object.values(changes).every((entry) => !isObject(entry) || !('$input' in entry));
}

type Row = Record<string, unknown>;

/**
 * Several change sets sent as one (the fixes of one revision): rows are listed one after the
 * other, store by store; project fields are merged. Null for none.
 */
export function together(...sets: (Changes | null)[]): Changes | null {
  let out: Changes | null = null;
  for (const set of sets) {
    if (!set) continue;
    if (!out) {
      out = set;
      continue;
    }
    const merged: Changes = structuredClone(out);
    for (const [store, entry] of Object.entries(set)) {
      if (!isObject(entry)) continue;
      const target = (Object.hasOwn(merged, store) ? merged[store] : (merged[store] = {})) as Row;
      if (store === 'project') Object.assign(target, entry);
      else for (const kind of ['added', 'updated', 'removed']) if (Array.isArray(entry[kind])) target[kind] = [...(Array.isArray(target[kind]) ? (target[kind] as unknown[]) : []), ...(entry[kind] as unknown[])];
    }
    out = merged;
  }
  return out;
}

/**
 * One change set with the effect of `a` then `b`, for clients that apply a change set as a whole
 * (classic): a change and the repairs the server made to it arrive together, so a client never
 * holds the state in between (a dependency the server refused would otherwise show it a cycle).
 * Rows of `b` that update a record `a` adds or updates are folded into that row; removals follow.
 */
export function followedBy(a: Changes, b: Changes): Changes {
  const out: Changes = { ...a };
  for (const [key, entry] of Object.entries(b)) {
    const before = out[key];
    if (!isObject(before)) {
      out[key] = entry;
      continue;
    }
    if (!isObject(entry)) continue;
    if (key === 'project') {
      out[key] = { ...before, ...entry };
      continue;
    }
    const added = rows(before.added).map((r) => ({ ...r }));
    const updated = rows(before.updated).map((r) => ({ ...r }));
    const byId = new Map<unknown, Row>();
    for (const r of [...added, ...updated]) if (r.id !== undefined) byId.set(r.id, r);
    const merged: Row = { ...before };
    for (const r of rows(entry.updated)) {
      const target = byId.get(r.id);
      if (target) Object.assign(target, r);
      else updated.push({ ...r });
    }
    const adds = [...added, ...rows(entry.added)];
    const removed = [...rows(before.removed), ...rows(entry.removed)];
    if (adds.length) merged.added = adds;
    if (updated.length) merged.updated = updated;
    if (removed.length) merged.removed = removed;
    out[key] = merged;
  }
  return out;
}

function rows(value: unknown): Row[] {
  return Array.isArray(value) ? (value.filter(isObject) as Row[]) : [];
}

/**
 * `changes` without the fields `drop` names, in `updated` rows and project fields (a copy where
 * anything is left out). A row left with its id only goes; a row that came so stays.
 */
export function withoutFields(changes: Changes, drop: (store: string, id: unknown, field: string) => boolean): Changes {
  let out: Changes | null = null;
  for (const [store, entry] of Object.entries(changes)) {
    if (!isObject(entry)) continue;
    if (store === 'project') {
      const fields = Object.keys(entry).filter((f) => f !== '$input' && f !== 'id' && drop(store, null, f));
      if (fields.length) (out ??= { ...changes })[store] = Object.fromEntries(Object.entries(entry).filter(([f]) => !fields.includes(f)));
      continue;
    }
    const updated = rows(entry.updated);
    if (!updated.some((rec) => Object.keys(rec).some((f) => f !== 'id' && drop(store, rec.id, f)))) continue;
    const kept = updated.flatMap((rec) => {
      const left = Object.fromEntries(Object.entries(rec).filter(([f]) => f === 'id' || !drop(store, rec.id, f)));
      return Object.keys(left).length > 1 || Object.keys(rec).length <= 1 ? [left] : [];
    });
    (out ??= { ...changes })[store] = { ...entry, updated: kept };
  }
  return out ?? changes;
}
