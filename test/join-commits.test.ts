/**
 * `joinCommits`: the commits of changes applied together are stored as one batch. What it joins
 * is what a load and a catch-up read back, so nothing of any commit may be lost or invented.
 */
import { describe, expect, it } from 'vitest';
import { joinCommits } from '../src/server/room.js';
import type { ProjectMeta } from '../src/persistence/storage.js';

const meta = (nextId: number): ProjectMeta => ({ nextId, nextRevision: 1, phantomEpoch: 0, firstLoggedRevision: 1, createdAt: '2026-01-01T00:00:00.000Z' });
const bytes = (n: number) => new Uint8Array([n]);
const phantom = (id: number) => ({ user: 'u', store: 'tasks', phantom: `_generated${id}`, id, connection: 'c1', at: 0 });

describe('joinCommits', () => {
  it('keeps every update, phantom and revision in order, with the last counters, when some commits carry none of them', () => {
    const joined = joinCommits([
      { update: bytes(1), meta: meta(2), phantoms: [phantom(1)], revisions: [{ n: 1, text: 'r1' }] },
      { update: null },
      { update: [bytes(2), bytes(3)], meta: meta(4), revisions: [{ n: 2, text: 'r2' }, { n: 3, text: 'r3' }] },
      { update: bytes(4), phantoms: [phantom(5)] },
    ]);
    expect(joined.update).toEqual([bytes(1), bytes(2), bytes(3), bytes(4)]);
    expect(joined.meta).toEqual(meta(4));
    expect(joined.phantoms).toEqual([phantom(1), phantom(5)]);
    expect(joined.revisions).toEqual([
      { n: 1, text: 'r1' },
      { n: 2, text: 'r2' },
      { n: 3, text: 'r3' },
    ]);
  });

  it('joins commits without updates, revisions or phantoms into a commit with none', () => {
    const joined = joinCommits([{ update: null, meta: meta(1) }, { update: null }]);
    expect(joined).toEqual({ update: null, meta: meta(1), phantoms: [], versionContents: [], removedVersions: [], revisions: [] });
  });

  it('keeps the last word on each version: a put after a removal stores the content, a removal after a put removes it', () => {
    const joined = joinCommits([
      { update: null, versionContents: [['v1', { a: 1 }], ['v2', { b: 1 }]] },
      { update: null, removedVersions: ['v1', 'v3'] },
      { update: null, versionContents: [['v3', null]] },
    ]);
    expect(joined.versionContents).toEqual([
      ['v2', { b: 1 }],
      ['v3', null],
    ]);
    expect(joined.removedVersions).toEqual(['v1']);
  });
});
