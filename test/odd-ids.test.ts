/** Ids and references that are objects without text (JSON can say `{"toString": 1}`) fail nothing half-way. */
import { describe, expect, it } from 'vitest';
import { readSeedFile } from '../src/document/seed.js';
import { recordKey } from '../src/document/layout.js';
import { projectFrom, seedPath } from './support/document.js';

const odd = () => JSON.parse('{"toString": 1, "valueOf": 2}') as never;

describe('an id or reference that is an object whose toString is not a function', () => {
  it('has a key like any other plain object', () => {
    expect(recordKey(odd())).toBe('[object Object]');
    expect(recordKey(7)).toBe('7');
    expect(recordKey('a b')).toBe('a b');
  });

  it('is taken or refused by a change like any dangling reference, without an exception that would rebuild the project', async () => {
    const t = projectFrom(await readSeedFile(seedPath('saas')));
    const changes: Record<string, unknown>[] = [
      { tasks: { updated: [{ id: odd(), name: 'x' }] } },
      { tasks: { removed: [{ id: odd() }] } },
      { tasks: { added: [{ $PhantomId: 'p1', name: 'child of nothing', parentId: odd() }] } },
      { dependencies: { added: [{ $PhantomId: 'p2', fromTask: odd(), toTask: 1 }] } },
      { assignments: { added: [{ $PhantomId: 'p3', event: odd(), resource: odd() }] } },
      { tasks: { updated: [{ id: 1, parentId: odd() }] } },
    ];
    for (const change of changes) {
      try {
        t.apply(change);
      } catch (e) {
        // A refusal is fine (the document is as it was); anything else leaves it half-written.
        expect((e as Error).constructor.name, JSON.stringify(change)).toBe('RefusedChange');
      }
    }
    expect(t.children(null).length).toBeGreaterThan(0);
  });
});
