/**
 * An edit as a Bryntum client sends it (PROTOCOL.md §3.3, §12.1): new records carry a phantom id
 * `_generated<Model>_<uuid>` and no `id`, a child of a phantom parent carries `$PhantomParentId`,
 * added and moved tasks carry `parentId` and their index among the siblings, deleting a task sends
 * its subtree and the dependencies and assignments the engine dropped with it.
 */
import { randomUUID } from 'node:crypto';
import type { Op } from './ops.js';
import { ASSIGNMENT_REFS, DEPENDENCY_ENDS, ROOT, isPhantom, keyOf, refOf, type ChangeSet, type Id, type Rec, type View } from './view.js';

export const newPhantom = (model: string): string => `_generated${model}_${randomUUID()}`;

/** The change set for `op` against `view`, or null when the op no longer fits the view. */
export function bryntumChange(view: View, op: Op): ChangeSet | null {
  const tasks = view.tasks;
  const idOf = (key: string | null): Id | null => (key === null ? null : ((tasks.get(key)?.id as Id | undefined) ?? null));
  const has = (key: string | null) => key === null || tasks.has(key);
  switch (op.kind) {
    case 'add': {
      if (!has(op.parent)) return null;
      const parentId = idOf(op.parent);
      const index = Math.min(op.index, view.childrenOf(op.parent ?? ROOT).length);
      const rec: Rec = {
        $PhantomId: newPhantom('TaskModel'),
        name: op.name,
        duration: op.duration,
        percentDone: op.percentDone,
        parentId,
        parentIndex: index,
        orderedParentIndex: index,
      };
      if (isPhantom(parentId)) rec.$PhantomParentId = parentId;
      return { tasks: { added: [rec] } };
    }
    case 'rename':
    case 'percentDone':
    case 'duration': {
      if (!tasks.has(op.task)) return null;
      const field = op.kind === 'rename' ? 'name' : op.kind;
      return { tasks: { updated: [{ id: idOf(op.task), [field]: op.kind === 'rename' ? op.name : op.value }] } };
    }
    case 'move': {
      if (!tasks.has(op.task) || !has(op.parent)) return null;
      if (op.parent !== null && view.isSelfOrAncestor(op.task, op.parent)) return null;
      const siblings = view.childrenOf(op.parent ?? ROOT).filter((k) => k !== op.task);
      const index = Math.min(op.index, siblings.length);
      return { tasks: { updated: [{ id: idOf(op.task), parentId: idOf(op.parent), parentIndex: index, orderedParentIndex: index }] } };
    }
    case 'reorder': {
      if (!tasks.has(op.task)) return null;
      const index = Math.min(op.index, view.childrenOf(view.parentKey(op.task)).length - 1);
      return { tasks: { updated: [{ id: idOf(op.task), parentIndex: index, orderedParentIndex: index }] } };
    }
    case 'link': {
      if (!tasks.has(op.from) || !tasks.has(op.to)) return null;
      return { dependencies: { added: [{ $PhantomId: newPhantom('DependencyModel'), fromTask: idOf(op.from), toTask: idOf(op.to), type: 2, lag: 0 }] } };
    }
    case 'assign': {
      const resource = view.store('resources').get(op.resource);
      if (!tasks.has(op.task) || !resource) return null;
      return { assignments: { added: [{ $PhantomId: newPhantom('AssignmentModel'), event: idOf(op.task), resource: resource.id, units: 100 }] } };
    }
    case 'remove': {
      if (!tasks.has(op.task)) return null;
      const keys = new Set([op.task, ...view.descendants(op.task)]);
      const change: ChangeSet = { tasks: { removed: [...keys].map((k) => ({ id: idOf(k) })) } };
      const pointing = (store: string, refs: readonly (readonly string[])[]) =>
        [...view.store(store).values()].filter((r) => refs.some((names) => keys.has(keyOf(refOf(r, names)?.value)))).map((r) => ({ id: r.id }));
      const deps = pointing('dependencies', DEPENDENCY_ENDS);
      const assignments = pointing('assignments', [ASSIGNMENT_REFS[0][0]]);
      if (deps.length) change.dependencies = { removed: deps };
      if (assignments.length) change.assignments = { removed: assignments };
      return change;
    }
    case 'removeResource': {
      const resource = view.store('resources').get(op.resource);
      if (!resource) return null;
      const change: ChangeSet = { resources: { removed: [{ id: resource.id }] } };
      const assignments = [...view.store('assignments').values()].filter((a) => keyOf(refOf(a, ASSIGNMENT_REFS[1][0])?.value) === op.resource).map((a) => ({ id: a.id }));
      if (assignments.length) change.assignments = { removed: assignments };
      return change;
    }
  }
}

/** Every store entry with `$input` equal to what the user did (revisions clients, §3.3). */
export function withUserInput(changes: ChangeSet): ChangeSet {
  const out: ChangeSet = {};
  for (const [store, entry] of Object.entries(changes)) {
    const { added, updated, removed } = entry as { added?: Rec[]; updated?: Rec[]; removed?: Rec[] };
    const input: Rec = {};
    if (added) input.added = structuredClone(added);
    if (updated) input.updated = structuredClone(updated);
    if (removed) input.removed = structuredClone(removed);
    out[store] = { ...entry, $input: input };
  }
  return out;
}
