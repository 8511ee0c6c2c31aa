/**
 * What revisions receivers replay (`$input`, src/document/replayed-input.ts), at its edges: an
 * edit already in `$input` keeps the value the user typed, a leaf task's duration and progress
 * are added only where missing and changed, a unit already given is kept, `$input` without an
 * `updated` list or set to null, and the fields never replayed (a dependency's `active` flag, the
 * parent) next to ones that are (another store's `active`).
 */
import { describe, expect, it } from 'vitest';
import { seededProject } from './support/document.js';

type Rec = Record<string, any>;
const inputOf = (outgoing: Record<string, unknown>, store: string) => (outgoing[store] as Rec).$input;

describe('what revisions receivers replay ($input), at its edges', () => {
  it('keeps the value a $input entry already has for a field the revision also writes', async () => {
    const t = await seededProject();
    const { outgoing } = t.apply({ tasks: { updated: [{ id: 14, name: 'final' }], $input: { updated: [{ id: 14, name: 'typed' }] } } });
    expect(inputOf(outgoing, 'tasks').updated).toEqual([{ id: 14, name: 'typed' }]);
  });

  it('adds nothing to a leaf task\'s entry that has its duration, nor a unit or progress the task already had', async () => {
    const t = await seededProject();
    t.apply({ tasks: { updated: [{ id: 14, durationUnit: 'day' }] } });
    const { duration, percentDone } = t.record('tasks', 14)!;
    const { outgoing } = t.apply({
      tasks: {
        updated: [{ id: 14, parentIndex: 0, duration: (duration as number) + 3, durationUnit: 'day', percentDone }],
        $input: { updated: [{ id: 14, parentIndex: 0, duration: (duration as number) + 3 }] },
      },
    });
    expect(inputOf(outgoing, 'tasks').updated).toEqual([{ id: 14, parentIndex: 0, duration: (duration as number) + 3 }]);
  });

  it('keeps the unit a leaf task\'s entry already has when it adds the duration', async () => {
    const t = await seededProject();
    const duration = t.record('tasks', 14)!.duration as number;
    const { outgoing } = t.apply({
      tasks: {
        updated: [{ id: 14, parentIndex: 0, duration: duration + 3, durationUnit: 'day' }],
        $input: { updated: [{ id: 14, parentIndex: 0, durationUnit: 'hour' }] },
      },
    });
    expect(inputOf(outgoing, 'tasks').updated).toEqual([{ id: 14, parentIndex: 0, durationUnit: 'hour', duration: duration + 3 }]);
  });

  it('gives a $input without an updated list one for the user edit it lacks', async () => {
    const t = await seededProject();
    const { outgoing } = t.apply({ tasks: { updated: [{ id: 14, note: 'n' }], $input: {} } });
    expect(inputOf(outgoing, 'tasks')).toEqual({ updated: [{ id: 14, note: 'n' }] });
  });

  it('adds an entry for another record beside the entries $input already has', async () => {
    const t = await seededProject();
    const { outgoing } = t.apply({
      tasks: { updated: [{ id: 14, note: 'a' }, { id: 13, note: 'b' }], $input: { updated: [{ id: 14, note: 'a' }] } },
    });
    expect(inputOf(outgoing, 'tasks').updated).toEqual([{ id: 14, note: 'a' }, { id: 13, note: 'b' }]);
  });

  it('adds no entry for a record whose update changes no user field', async () => {
    const t = await seededProject();
    const { outgoing } = t.apply({ tasks: { updated: [{ id: 14, startDate: '2019-01-20T00:00:00', parentIndex: 0 }], $input: { updated: [] } } });
    expect(inputOf(outgoing, 'tasks').updated).toEqual([]);
  });

  it('gathers the user edits of two rows for the same record into one entry', async () => {
    const t = await seededProject();
    const { outgoing } = t.apply({ tasks: { updated: [{ id: 14, note: 'a' }, { id: 14, name: 'b' }], $input: { updated: [] } } });
    expect(inputOf(outgoing, 'tasks').updated).toEqual([{ id: 14, note: 'a', name: 'b' }]);
  });

  it('never replays a dependency\'s active flag, but replays its other user fields', async () => {
    const t = await seededProject();
    const { outgoing } = t.apply({ dependencies: { updated: [{ id: 1, active: false, lag: 3 }], $input: { updated: [{ id: 1 }] } } });
    expect(inputOf(outgoing, 'dependencies').updated).toEqual([{ id: 1, lag: 3 }]);
  });

  it('replays an active flag of a store other than dependencies', async () => {
    const t = await seededProject();
    const { outgoing } = t.apply({ resources: { updated: [{ id: 1, active: false }], $input: { updated: [] } } });
    expect(inputOf(outgoing, 'resources').updated).toEqual([{ id: 1, active: false }]);
  });

  it('never replays a task\'s new parent', async () => {
    const t = await seededProject();
    const { outgoing } = t.apply({ tasks: { updated: [{ id: 14, parentId: 2 }], $input: { updated: [{ id: 14 }] } } });
    expect(t.record('tasks', 14)?.parentId).toBe(2);
    expect(inputOf(outgoing, 'tasks').updated).toEqual([{ id: 14 }]);
  });

  it('completes only the $input.added entries that exist, adding none for a record added without one', async () => {
    const t = await seededProject();
    const P = (name: string) => `_generatedTaskModel_${name}`;
    const { outgoing } = t.apply({
      tasks: {
        added: [{ $PhantomId: P('a'), name: 'A', parentId: 1 }, { $PhantomId: P('b'), name: 'B', parentId: 1 }],
        $input: { added: [{ $PhantomId: P('a'), parentId: 1 }] },
      },
    });
    const tasks = outgoing.tasks as Rec;
    expect(tasks.$input.added).toEqual([{ $PhantomId: P('a'), id: tasks.added[0].id, parentId: 1, name: 'A' }]);
    expect(t.record('tasks', tasks.added[1].id)?.name).toBe('B');
  });

  it('leaves a change whose $input is null alone', async () => {
    const t = await seededProject();
    const { outgoing } = t.apply({ tasks: { updated: [{ id: 14, name: 'x' }], $input: null } });
    expect(outgoing.tasks).toEqual({ updated: [{ id: 14, name: 'x' }], $input: null });
    expect(t.record('tasks', 14)?.name).toBe('x');
  });
});
