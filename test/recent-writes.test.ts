/** RecentWrites: which writes count as concurrent, and how many are remembered. */
import { describe, expect, it } from 'vitest';
import { touchKey } from '../src/document/adapter.js';
import { finalFields, MAX_RECENT_WRITES, RecentWrites } from '../src/server/recent-writes.js';

describe('RecentWrites', () => {
  it('counts another writer\'s write of the same key within the window as concurrent, not one\'s own nor an older one', () => {
    const w = new RecentWrites(1000);
    expect(w.concurrent('ann', ['a', 'b'], 0)).toEqual([]);
    expect(w.concurrent('ben', ['a'], 1000)).toEqual(['a']);
    expect(w.concurrent('ben', ['a'], 1500)).toEqual([]);
    expect(w.concurrent('ann', ['b'], 1001)).toEqual([]);
    w.note('peer', ['c'], 2000);
    expect(w.concurrent('ann', ['c', 'a'], 2500)).toEqual(['c', 'a']);
  });

  it('forgets writes past the window as time goes on, keeping a key written again', () => {
    const w = new RecentWrites(1000);
    w.note('ann', ['a', 'b'], 0);
    w.note('ann', ['a'], 900);
    w.note('ann', ['c'], 1500);
    expect(w.size).toBe(2);
    expect(w.concurrent('ben', ['a', 'b'], 1600)).toEqual(['a']);
  });

  it('remembers at most MAX_RECENT_WRITES keys, the newest, however many come within the window', () => {
    const w = new RecentWrites(60_000);
    const keys = Array.from({ length: MAX_RECENT_WRITES + 10_000 }, (_, i) => `k${i}`);
    for (let i = 0; i < keys.length; i += 1000) w.note('ann', keys.slice(i, i + 1000), 0);
    expect(w.size).toBe(MAX_RECENT_WRITES);
    expect(w.concurrent('ben', ['k0', `k${keys.length - 1}`], 1)).toEqual([`k${keys.length - 1}`]);
  });
});

describe('finalFields', () => {
  it('gathers the fields of one record into one entry, in the order they came, apart from other records', () => {
    const keys = [touchKey('tasks', '7', 'name'), touchKey('tasks', '8', 'name'), touchKey('tasks', '7', 'duration'), touchKey('project', '', 'hoursPerDay')];
    expect([...finalFields(keys).values()]).toEqual([
      { store: 'tasks', record: '7', fields: ['name', 'duration'] },
      { store: 'tasks', record: '8', fields: ['name'] },
      { store: 'project', record: '', fields: ['hoursPerDay'] },
    ]);
  });
});
