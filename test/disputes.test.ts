import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Disputes } from '../src/server/disputes.js';
import { classicLogin, revisionsLogin, type Msg, type TestClient } from './support/client.js';
import { recordingLog, startServer, type LoggedLine, type TestServer } from './support/server.js';

describe('Disputes', () => {
  it('calls a field two writers gave different values within the window disputed', () => {
    const disputes = new Disputes(3000);
    expect(disputes.note('a', [['tasks/1/duration', 2]], 1000)).toBeNull();
    expect(disputes.note('b', [['tasks/1/duration', 5]], 1500)).toBe('a');
  });

  it('does not call writers agreeing on a value, one writer changing its mind, or different fields disputed', () => {
    const disputes = new Disputes(3000);
    expect(disputes.note('a', [['tasks/1/duration', 2]], 1000)).toBeNull();
    expect(disputes.note('b', [['tasks/1/duration', 2]], 1001)).toBeNull();
    expect(disputes.note('b', [['tasks/1/duration', 3]], 1002)).toBeNull();
    expect(disputes.note('a', [['tasks/2/duration', 9]], 1003)).toBeNull();
  });

  it('forgets writes older than the window, and everything when cleared', () => {
    const disputes = new Disputes(3000);
    disputes.note('a', [['tasks/1/duration', 2]], 1000);
    expect(disputes.note('b', [['tasks/1/duration', 5]], 4001)).toBeNull();
    disputes.clear();
    expect(disputes.note('a', [['tasks/1/duration', 7]], 4002)).toBeNull();
  });
});

/** The dataset pushed to a revisions client, or null when none comes within `ms`. */
async function pushedDataset(c: TestClient, ms: number): Promise<Msg | null> {
  const seen = await c.drain(ms);
  return seen.find((m) => m.command === 'dataset') ?? null;
}

function findTask(tasks: Msg[], id: number): Msg | undefined {
  for (const t of tasks) {
    if (t.id === id) return t;
    const inner = t.children && findTask(t.children, id);
    if (inner) return inner;
  }
}

/** An engine's correction: computed values only, no `$input`, as real revisions clients send them. */
function correction(c: TestClient & { clientId: string }, local: string, id: number, duration: number): void {
  c.send({ command: 'project_change', data: { project: 1, client: c.clientId, revisions: [{ revision: local, clientId: c.clientId, changes: { tasks: { updated: [{ id, duration }] } } }] } });
}

describe('clients whose engines disagree on a field', () => {
  let s: TestServer;
  const logged: LoggedLine[] = [];
  beforeAll(async () => {
    s = await startServer({}, undefined, recordingLog(logged).log);
  });
  afterAll(async () => s.dispose());

  async function subscribed(withClassic = false) {
    const [a, b, watcher] = [await revisionsLogin(s.port), await revisionsLogin(s.port, 'alex'), await revisionsLogin(s.port, 'ben')];
    const classic = withClassic ? await classicLogin(s.port, 'carl') : null;
    for (const c of [a, b, watcher]) c.send({ command: 'dataset', data: { project: 1 } });
    classic?.send({ command: 'dataset', project: 1 });
    const ds = await watcher.nextOf('dataset');
    await a.nextOf('dataset');
    await b.nextOf('dataset');
    await classic?.nextOf('dataset');
    return { a, b, watcher, classic, tasks: ds.data.dataset.tasksData as Msg[] };
  }

  it('all get a fresh dataset holding the stored value once the project is quiet', async () => {
    const { a, b, watcher, tasks } = await subscribed();
    const leaf = tasks[0].children[0].children[0];
    correction(a, 'local-1', leaf.id, 2);
    correction(b, 'local-1', leaf.id, 5);
    for (const c of [a, b, watcher]) {
      const pushed = await c.nextOf('dataset', 3000);
      expect(Object.keys(pushed.data)).toEqual(['project', 'dataset']);
      expect(findTask(pushed.data.dataset.tasksData, leaf.id)?.duration).toBe(5);
    }
    expect(logged.filter(({ msg }) => msg.includes('fell out of step'))).toEqual([
      { msg: "project 1: clients' engines fell out of step; sent 0 classic and 3 revisions clients a fresh dataset", fields: { project: 1 } },
    ]);

    // A change sent while the dataset was on its way was dropped by the load: its sender gets another.
    correction(a, 'local-2', leaf.id, 6);
    expect(findTask((await a.nextOf('dataset', 3000)).data.dataset.tasksData, leaf.id)?.duration).toBe(6);
    expect(await pushedDataset(b, 300)).toBeNull();
    for (const c of [a, b, watcher]) await c.close();
  });

  it('wait until the project is quiet for the dataset', async () => {
    const { a, b, watcher, tasks } = await subscribed();
    const leaf = tasks[0].children[3].children[0];
    correction(a, 'local-1', leaf.id, 2);
    correction(b, 'local-1', leaf.id, 5);
    // Changes every 200 ms for 1.6 s (past the 500 ms a quiet project waits): no dataset meanwhile.
    const started = Date.now();
    for (let i = 0; i < 8; i++) {
      await new Promise((r) => setTimeout(r, 200));
      correction(watcher, `local-${i + 1}`, tasks[0].children[3].children[1].id, i + 1);
    }
    const seen = await a.drain(100);
    expect(seen.filter((m) => m.command === 'dataset')).toEqual([]);
    await a.nextOf('dataset', 3000);
    expect(Date.now() - started).toBeGreaterThan(1600);
    for (const c of [a, b, watcher]) await c.close();
  });

  it('get no dataset while a classic client has the project open too', async () => {
    const { a, b, watcher, classic, tasks } = await subscribed(true);
    const leaf = tasks[0].children[1].children[2];
    correction(a, 'local-1', leaf.id, 2);
    correction(b, 'local-1', leaf.id, 5);
    for (const c of [a, b, watcher, classic!]) expect(await pushedDataset(c, 1200)).toBeNull();
    for (const c of [a, b, watcher, classic!]) await c.close();
  });

  it('get no dataset when they agree, or write different fields', async () => {
    const { a, b, watcher, tasks } = await subscribed();
    const [first, second] = tasks[0].children[1].children.slice(0, 2);
    correction(a, 'local-1', first.id, 4);
    correction(b, 'local-1', first.id, 4);
    correction(b, 'local-2', second.id, 8);
    for (const c of [a, b, watcher]) expect(await pushedDataset(c, 1500)).toBeNull();
    for (const c of [a, b, watcher]) await c.close();
  });

  it('classic clients alone get the final value instead of a dataset', async () => {
    const [a, b] = [await classicLogin(s.port), await classicLogin(s.port, 'alex')];
    for (const c of [a, b]) c.send({ command: 'dataset', project: 1 });
    const tasks = (await a.nextOf('dataset')).dataset.tasksData as Msg[];
    await b.nextOf('dataset');
    const leaf = tasks[0].children[2].children[0];
    a.send({ command: 'projectChange', project: 1, changes: { tasks: { updated: [{ id: leaf.id, duration: 3 }] } } });
    b.send({ command: 'projectChange', project: 1, changes: { tasks: { updated: [{ id: leaf.id, duration: 4 }] } } });
    for (const c of [a, b]) expect(await pushedDataset(c, 1500)).toBeNull();
    for (const c of [a, b]) await c.close();
  });
});
