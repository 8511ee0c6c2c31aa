/**
 * Real Bryntum clients against a real Weft server on the demo projects (run with
 * `BRYNTUM_BUNDLE=/path/to/gantt.umd.js npm run test:bryntum`; not part of `npm test`, which
 * cannot ship Bryntum's commercial library). Each client has its own window, as in browsers.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { classicLogin } from '../support/client.js';
import { startServer, type TestServer } from '../support/server.js';
import { ClassicClient, RevisionsClient, bryntumWindow, quiet, type BryntumClient } from './client.js';

type Rec = Record<string, any>;

let server: TestServer | null = null;
const clients: BryntumClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await server?.dispose();
  server = null;
});

async function client(login: string, project = 1, Kind: typeof ClassicClient | typeof RevisionsClient = ClassicClient): Promise<BryntumClient> {
  const c = new Kind(await bryntumWindow(), `ws://127.0.0.1:${server!.port}`);
  clients.push(c);
  await c.connect(login);
  await c.load(project);
  return c;
}

describe('real Bryntum clients (classic protocol)', () => {
  it('see each other’s renames, new tasks, moves to another parent and new links, as a fresh client loads them', async () => {
    server = await startServer();
    const ann = await client('admin');
    const ben = await client('alex');
    await ann.edit((p) => {
      p.taskStore.getById(11).name = 'Install nginx';
      p.taskStore.getById(2).appendChild({ name: 'Pick fonts', duration: 2 });
    });
    await ben.edit((p) => {
      p.taskStore.getById(1).appendChild(p.taskStore.getById(23));
      p.dependencyStore.add({ fromTask: 14, toTask: 22 });
    });
    await quiet([ann, ben]);
    const fresh = await client('ben');
    expect(fresh.tasks()).toContain(`${fresh.project!.taskStore.allRecords.find((t: Rec) => t.name === 'Pick fonts').id}|Pick fonts|2|2`);
    expect(fresh.tasks().find((t) => t.startsWith('23|'))).toMatch(/\|1\|/);
    expect(fresh.links()).toContain('14->22');
    for (const c of [ann, ben]) {
      expect(c.tasks()).toEqual(fresh.tasks());
      expect(c.links()).toEqual(fresh.links());
      expect(c.errors).toEqual([]);
    }
  });

  it('end alike, in a project everyone can load, when two users link two tasks both ways at once', async () => {
    server = await startServer();
    const ann = await client('admin');
    const ben = await client('alex');
    // Both act before hearing of the other: each link alone is fine, together 42 and 43 wait for each other.
    await Promise.all([ann.edit((p) => p.dependencyStore.add({ fromTask: 42, toTask: 43 })), ben.edit((p) => p.dependencyStore.add({ fromTask: 43, toTask: 42 }))]);
    await quiet([ann, ben]);
    const fresh = await client('ben');
    expect(fresh.errors).toEqual([]);
    expect(fresh.tasks().length).toBe(ann.tasks().length);
    const links = fresh.links();
    // The server switches the link that closes the loop off. A client whose engine met the loop
    // before that and had its dialog cancelled removes the other user's link itself, and may then
    // send its own link as active again (with no loop left, the server keeps it): depending on
    // timing, one link is active and the other off, or one is left. Never both active.
    const between = links.filter((l) => /^4[23]->4[23]( \(off\))?$/.test(l));
    expect(between.length).toBeGreaterThanOrEqual(1);
    expect(between.filter((l) => !l.endsWith('(off)')).length).toBeLessThanOrEqual(1);
    // A client whose engine met the loop before the server broke it answers its dialog (Cancel
    // here), and auto-sync sends what that undid: everyone, and a fresh load, end up alike.
    for (const c of [ann, ben]) {
      expect(c.links()).toEqual(links);
      expect(c.tasks()).toEqual(fresh.tasks());
    }
  });

  it('can load a project after another writer (here a script on the classic protocol) made a loop', async () => {
    server = await startServer();
    const script = await classicLogin(server.port);
    script.send({ command: 'dataset', project: 1 });
    await script.nextOf('dataset');
    // 4036 sits in 402, which waits for 401: moving it into 401 makes 401 wait for itself.
    script.send({ command: 'projectChange', project: 1, changes: { tasks: { updated: [{ id: 4036, parentId: 401, parentIndex: 0 }] } } });
    await script.drain(300);
    await script.close();
    const fresh = await client('ben');
    expect(fresh.errors).toEqual([]);
    expect(fresh.tasks().find((t) => t.startsWith('4036|'))).toMatch(/\|401\|/);
    expect(fresh.links()).toContain('4035->4036 (off)');
  });

  it('come back after a server restart: log in, reload, see what was stored and get new ids', async () => {
    server = await startServer();
    const ann = await client('admin');
    await ann.edit((p) => p.taskStore.getById(1000).appendChild({ name: 'Before restart', duration: 1 }));
    await quiet([ann]);
    const before = ann.project!.taskStore.allRecords.find((t: Rec) => t.name === 'Before restart').id;
    expect(typeof before).toBe('number');

    server = await server.restart();
    ann.close();
    ann.url = `ws://127.0.0.1:${server.port}`;
    await ann.connect('admin');
    await ann.load(1);
    expect(ann.project!.taskStore.getById(before)?.name).toBe('Before restart');
    await ann.edit((p) => p.taskStore.getById(1000).appendChild({ name: 'After restart', duration: 1 }));
    await quiet([ann]);
    const after = ann.project!.taskStore.allRecords.find((t: Rec) => t.name === 'After restart').id;
    expect(after).toBeGreaterThan(before);
    expect(ann.errors).toEqual([]);
  });
});

describe('real Bryntum clients (revisions protocol)', () => {
  it('see each other’s renames, new tasks and new links, and so does a classic client beside them', async () => {
    // Classic datasets carry the project fields where the engine reads them: without the project's
    // calendar, the classic client's engine dated the new task otherwise and the two kinds kept
    // correcting each other.
    server = await startServer();
    const ann = await client('admin', 1, RevisionsClient);
    const ben = await client('alex', 1, RevisionsClient);
    const cid = await client('ben', 1, ClassicClient);
    await ann.edit((p) => {
      p.taskStore.getById(11).name = 'Install nginx';
    });
    await quiet([ann, ben, cid]);
    await ben.edit((p) => {
      const task = p.taskStore.getById(2).appendChild({ name: 'Pick fonts', duration: 2 });
      p.dependencyStore.add({ fromTask: 21, toTask: task });
    });
    await quiet([ann, ben, cid]);
    await cid.edit((p) => {
      p.taskStore.getById(12).duration = 4;
    });
    await quiet([ann, ben, cid]);
    const fresh = await client('admin', 1, RevisionsClient);
    expect(fresh.tasks()).toContain('11|Install nginx|1|3');
    expect(fresh.tasks()).toContain('12|Configure firewall|1|4');
    expect(fresh.tasks().some((t) => /\|Pick fonts\|2\|2$/.test(t))).toBe(true);
    for (const c of [ann, ben, cid]) {
      expect(c.tasks()).toEqual(fresh.tasks());
      expect(c.links()).toEqual(fresh.links());
      expect(c.errors).toEqual([]);
    }
  });

  it('keep both links two users drew both ways at once, one of them switched off, everyone alike', async () => {
    server = await startServer();
    const ann = await client('admin', 1, RevisionsClient);
    const ben = await client('alex', 1, RevisionsClient);
    await Promise.all([ann.edit((p) => p.dependencyStore.add({ fromTask: 42, toTask: 43 })), ben.edit((p) => p.dependencyStore.add({ fromTask: 43, toTask: 42 }))]);
    await quiet([ann, ben]);
    const fresh = await client('ben', 1, RevisionsClient);
    const both = fresh.links().filter((l) => /^4[23]->4[23]/.test(l));
    expect(both).toHaveLength(2);
    expect(both.filter((l) => l.endsWith('(off)'))).toHaveLength(1);
    for (const c of [ann, ben]) {
      expect(c.links()).toEqual(fresh.links());
      expect(c.tasks()).toEqual(fresh.tasks());
      expect(c.errors).toEqual([]);
    }
  });

  it('see a rename and a new duration that the sender’s revision engine left out of what others replay', async () => {
    server = await startServer();
    const ann = await client('admin', 1, RevisionsClient);
    const ben = await client('alex', 1, RevisionsClient);
    // Moved to the end of its siblings, then edited, in one transaction: Bryntum 7.3 sends the
    // edit in `updated` but only the new position in `$input.updated`.
    await ann.edit((p) => {
      const task = p.taskStore.getById(11);
      task.parent.appendChild(task);
      task.name = 'Install nginx';
    });
    await ann.edit((p) => {
      const task = p.taskStore.getById(12);
      task.parent.appendChild(task);
      task.duration = 5;
    });
    await quiet([ann, ben]);
    const fresh = await client('ben', 1, RevisionsClient);
    expect(fresh.tasks()).toContain('11|Install nginx|1|3');
    expect(fresh.tasks()).toContain('12|Configure firewall|1|5');
    for (const c of [ann, ben]) {
      expect(c.tasks()).toEqual(fresh.tasks());
      expect(c.errors).toEqual([]);
    }
  });
});
