/**
 * Reserved ids (src/document/reserved-ids.ts): a change naming a record, a parent, a phantom or a
 * phantom parent by a key the server keeps for itself is refused as a whole, and only the
 * versions store has an id space of the server's own.
 */
import { describe, expect, it } from 'vitest';
import { projectOf } from './support/document.js';

const data = { tasks: [{ id: 1, name: 'One' }] };

describe('reserved ids', () => {
  it('refuses a new record whose phantom id is a reserved key, and writes nothing', () => {
    const t = projectOf(data);
    expect(() => t.apply({ tasks: { added: [{ $PhantomId: 'p\u0000', name: 'x' }] } })).toThrow(/\$PhantomId .* is reserved/);
    expect(t.count('tasks')).toBe(1);
  });

  it('refuses a new record whose phantom parent is a reserved key, and writes nothing', () => {
    const t = projectOf(data);
    expect(() => t.apply({ tasks: { added: [{ $PhantomId: 'p1', $PhantomParentId: 'q\u0000', name: 'x' }] } })).toThrow(/\$PhantomParentId .* is reserved/);
    expect(t.count('tasks')).toBe(1);
  });

  it('refuses a reserved key in any list of a change, those of its $input included', () => {
    const changes = [
      { tasks: { updated: [{ id: 'x\u0000', name: 'x' }] } },
      { tasks: { removed: [{ id: 'x\u0000' }] } },
      { tasks: { updated: [{ id: 1, parentId: 'x\u0000' }] } },
      { tasks: { updated: [{ id: 1, name: 'y' }], $input: { added: [{ id: 'x\u0000' }] } } },
      { tasks: { updated: [{ id: 1, name: 'y' }], $input: { updated: [{ id: 'x\u0000' }] } } },
      { tasks: { updated: [{ id: 1, name: 'y' }], $input: { removed: [{ id: 'x\u0000' }] } } },
    ];
    for (const change of changes) {
      const t = projectOf(data);
      expect(() => t.apply(change), JSON.stringify(change)).toThrow(/is reserved/);
      expect(t.record('tasks', 1)?.name).toBe('One');
    }
  });

  it('refuses a store named like an internal map', () => {
    const t = projectOf(data);
    expect(() => t.apply({ $stores: { added: [{ id: 'x', name: 'x' }] } })).toThrow(/"\$stores" is not a valid store name/);
  });

  it('lets a task keep its own id that looks like a server version id', () => {
    const t = projectOf(data);
    const { outgoing } = t.apply({ tasks: { added: [{ id: 'weft-3', name: 'x' }] } });
    expect((outgoing.tasks as { added: { id: unknown }[] }).added[0].id).toBe('weft-3');
    expect(t.record('tasks', 'weft-3')?.name).toBe('x');
  });

  it('gives a version added with an id from the server\'s id space another id', () => {
    const t = projectOf(data);
    const { outgoing } = t.apply({ versions: { added: [{ id: 'weft-3', name: 'V' }] } });
    const id = (outgoing.versions as { added: { id: unknown }[] }).added[0].id;
    expect(id).not.toBe('weft-3');
    expect(t.record('versions', 'weft-3')).toBeUndefined();
  });
});
