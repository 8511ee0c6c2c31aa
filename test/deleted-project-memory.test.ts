/**
 * A deleted project's room, with its document, is let go at once: nothing the project scheduled
 * (its automatic-version timer) keeps it in memory until it fires. Work that waited in its queue
 * is refused as the project's error.
 */
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ProjectClosed } from '../src/server/project-closed.js';
import { ProjectRoom } from '../src/server/room.js';
import { classicLogin } from './support/client.js';
import { startServer, type TestServer } from './support/server.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Tells when what `opening` resolves to is collected; holds no reference to it. */
async function watchCollection(opening: Promise<unknown>): Promise<{ done: boolean }> {
  const state = { done: false };
  const registry = new FinalizationRegistry(() => (state.done = true));
  registry.register((await opening) as object, 'room');
  keep.push(registry);
  return state;
}
const keep: FinalizationRegistry<string>[] = [];

let s: TestServer;
beforeAll(async () => {
  s = await startServer({ groups: { admin: ['*'] } });
});
afterAll(async () => s?.dispose());

describe('a deleted project', () => {
  it('leaves nothing holding its room once deleted, although a change had started the timer of its next automatic version', async () => {
    await s.server.manage.projects.create({ id: 77, name: 'Short-lived' });
    const client = await classicLogin(s.port);
    client.send({ command: 'dataset', project: 77 });
    expect((await client.nextOf('dataset', 5000)).error).toBeUndefined();
    client.send({ command: 'projectChange', project: 77, changes: { tasks: { added: [{ $PhantomId: 'p1', name: 'a change' }] } } });
    const reply = await client.nextOf('projectChange', 5000);
    expect(reply.error).toBeUndefined();
    const collected = await watchCollection(s.server.projects.open(77));
    await s.server.manage.projects.delete('77');
    await client.close();
    for (let i = 0; i < 40 && !collected.done; i++) {
      gc();
      await new Promise((r) => setTimeout(r, 25));
    }
    expect(collected.done).toBe(true);
  });

  it('refuses a reset that waited behind its deletion as the project\'s error, not as a server fault', async () => {
    await s.server.manage.projects.create({ id: 78, name: 'Also short-lived' });
    const room = (await s.server.projects.open(78)) as ProjectRoom;
    // As a deletion does: the room ends through its queue, where the reset now waits behind it.
    const ending = room.end('Project 78 was deleted');
    const reset = room.reset('admin', true);
    await ending;
    await expect(reset).rejects.toBeInstanceOf(ProjectClosed);
    await expect(reset).rejects.toThrow(/deleted/);
    // Which project: the server answers it as that project's error, whichever command met it.
    await expect(reset).rejects.toMatchObject({ project: 78 });
  });
});

describe('a reset of every project', () => {
  it('passes over a project deleted before its turn, and resets the others', async () => {
    const own = await startServer();
    try {
      const ids = own.server.projects.catalog.list().map((p) => p.id);
      expect(ids.length).toBeGreaterThan(1);
      const open = own.server.projects.open.bind(own.server.projects);
      // As when the project is deleted after the list was read: it no longer opens.
      vi.spyOn(own.server.projects, 'open').mockImplementation(((id: never, ...rest: never[]) => (id === ids[0] ? Promise.resolve(undefined) : open(id, ...rest))) as never);
      const reset = vi.spyOn(ProjectRoom.prototype, 'reset');
      await expect(own.server.resetAll('Server')).resolves.toBeUndefined();
      expect(reset).toHaveBeenCalledTimes(ids.length - 1);
    } finally {
      vi.restoreAllMocks();
      await own.dispose();
    }
  });
});

describe('an unloaded project', () => {
  it('refuses a reset that waited behind its unload as the project\'s error, to be opened again', async () => {
    await s.server.manage.projects.create({ id: 79, name: 'Unloaded' });
    const room = (await s.server.projects.open(79)) as ProjectRoom;
    const closing = room.close();
    const reset = room.reset('admin', true);
    await closing;
    await expect(reset).rejects.toBeInstanceOf(ProjectClosed);
    await expect(reset).rejects.toThrow('Project was unloaded: open it again');
    await expect(reset).rejects.toMatchObject({ project: 79 });
  });
});
