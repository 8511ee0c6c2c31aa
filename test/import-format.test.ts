import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { parseSeed } from '../src/document/seed.js';
import { toSeedLayout } from '../src/projects/import-format.js';
import { seedPath } from './support/document.js';

const dataset = {
  tasksData: [{ id: 1, name: 'A', children: [{ id: 2, name: 'B' }] }],
  resourcesData: [{ id: 10, name: 'R' }],
  dependenciesData: [],
  assignmentsData: [{ id: 20, event: 2, resource: 10 }],
  project: { calendar: 'general', hoursPerDay: 8 },
};

describe('project import formats', () => {
  it('take a dataset as a classic or revisions dataset reply holds it, or as loadInlineData takes it', () => {
    for (const input of [dataset, { command: 'dataset', project: 1, dataset }, { command: 'dataset', data: { project: 1, dataset } }, { tasks: dataset.tasksData, resources: dataset.resourcesData, assignments: dataset.assignmentsData, project: dataset.project }]) {
      const { data } = toSeedLayout(input);
      const seed = parseSeed(data);
      expect(seed.stores.get('tasks')!.map((t) => [t.id, t.parentId])).toEqual([[1, null], [2, 1]]);
      expect(seed.stores.get('resources')).toEqual([{ id: 10, name: 'R' }]);
      expect(seed.stores.get('assignments')).toEqual([{ id: 20, event: 2, resource: 10 }]);
      expect(seed.project).toEqual({ calendar: 'general', hoursPerDay: 8 });
    }
  });

  it('take a demo-server project file or a CrudManager load response as it is', async () => {
    const file = JSON.parse(await readFile(seedPath('saas'), 'utf8'));
    const { kind, data } = toSeedLayout(file);
    expect(kind).toBe('rows');
    const a = parseSeed(data);
    const b = parseSeed(file);
    expect([...a.stores.keys()]).toEqual([...b.stores.keys()]);
    expect(a.stores.get('tasks')).toEqual(b.stores.get('tasks'));
    expect(a.project).toEqual(b.project);
  });

  it('refuse what holds no stores, with a message that says what was expected', () => {
    expect(() => toSeedLayout([1, 2])).toThrow(/expected a JSON object/);
    expect(() => toSeedLayout({ hello: 'world' })).toThrow(/no stores found/);
    // Keys a client might send to reach internals are plain stores or ignored, never prototypes.
    const { data } = toSeedLayout(JSON.parse('{"__proto__": {"rows": []}, "tasks": {"rows": []}}'));
    expect(Object.getPrototypeOf(data)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).rows).toBeUndefined();
  });
});
