/**
 * Divergences the simulation found, each pinned as a small deterministic case. On the tiny seed:
 * 1 > (2 > 3, 4), (5 > 6, 7); dependency 3 -> 4; 3 assigned to Ann.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import WebSocket from 'ws';
import { WebsocketProvider } from 'y-websocket';
import { TASKS } from '../src/document/layout.js';
import { keyBetween } from '../src/document/order.js';
import { followedBy } from '../src/protocol/changes.js';
import { diffViews, validate } from '../src/simulate/check.js';
import { View, applyChangeSet } from '../src/simulate/view.js';
import { TestClient, classicLogin, revisionsLogin, type Msg } from './support/client.js';
import { projectOf } from './support/document.js';
import { TINY_SEED, startSimServer, type SimServer } from './support/simulation.js';

type Rec = Record<string, any>;

describe('in the document', () => {
  it('places after the removals: indices a client sends are positions in its final view', () => {
    const t = projectOf(TINY_SEED, 'number');
    // The sender removed 3, then moved 6 under 2 behind 4: its view shows 2 > (4, 6).
    t.apply({ tasks: { removed: [{ id: 3 }], updated: [{ id: 6, parentId: 2, parentIndex: 1, orderedParentIndex: 1 }] } });
    expect(t.children(2)).toEqual([4, 6]);
  });

  it('tells the sender of children removed with a subtree that its change did not list', () => {
    const t = projectOf(TINY_SEED, 'number');
    const applied = t.apply({ tasks: { removed: [{ id: 2 }, { id: 3 }] } });
    expect(applied.corrections).toEqual({ tasks: { removed: [{ id: 4 }] } });
    expect(t.apply({ tasks: { removed: [{ id: 5 }, { id: 6 }, { id: 7 }] } }).corrections).toBe(null);
  });

  it('folds a repair into the change before it for classic clients: updates join the rows they change, removals follow', () => {
    const change = { tasks: { added: [{ $PhantomId: 'p', id: 9, parentId: 3 }], updated: [{ id: 6, name: 'x' }] }, dependencies: { added: [{ id: 20, fromTask: 6, toTask: 7 }] } };
    const repair = { tasks: { updated: [{ id: 9, parentId: null, parentIndex: 2 }, { id: 7, name: 'final' }] }, dependencies: { removed: [{ id: 20 }] }, project: { percentDone: 5 } };
    expect(followedBy(change, repair)).toEqual({
      tasks: { added: [{ $PhantomId: 'p', id: 9, parentId: null, parentIndex: 2 }], updated: [{ id: 6, name: 'x' }, { id: 7, name: 'final' }] },
      dependencies: { added: [{ id: 20, fromTask: 6, toTask: 7 }], removed: [{ id: 20 }] },
      project: { percentDone: 5 },
    });
    expect(change.tasks.added[0].parentId).toBe(3);
  });

  it("the simulation's validity check reports a dependency that closes a scheduling loop, and only that", () => {
    const t = projectOf(TINY_SEED, 'number');
    expect(validate('server', View.fromDoc(t.project.doc))).toEqual([]);
    // Written around the server's rules, as a broken replica might hold it: 4 -> 3 beside 3 -> 4 (id 1).
    const dep = new Y.Map<unknown>();
    dep.set('id', 90);
    dep.set('fromTask', 4);
    dep.set('toTask', 3);
    t.project.doc.getMap('dependencies').set('90', dep);
    // Either dependency closes the loop: both are reported, and nothing else is.
    expect(validate('server', View.fromDoc(t.project.doc)).map((p) => p.problem)).toEqual(['dependency 1: closes a scheduling loop', 'dependency 90: closes a scheduling loop']);
  });

  it("the simulation's validity check reports a dependency end that is not an id as naming no task, not as a task to schedule", () => {
    const t = projectOf(TINY_SEED, 'number');
    // Read as text, [4] -> 3 would close a loop with 3 -> 4 (id 1).
    const dep = new Y.Map<unknown>();
    dep.set('id', 91);
    dep.set('fromTask', [4]);
    dep.set('toTask', 3);
    t.project.doc.getMap('dependencies').set('91', dep);
    expect(validate('server', View.fromDoc(t.project.doc)).map((p) => p.problem)).toEqual(['dependency 91: fromTask [4] is not an id']);
  });

  it("lists a peer's moves shallow first, so replaying them never passes through a cycle", () => {
    const t = projectOf(TINY_SEED, 'number');
    const peer = new Y.Doc();
    Y.applyUpdate(peer, Y.encodeStateAsUpdate(t.project.doc));
    // Meanwhile on the server: 2 goes under 6 (1 > 5 > 6 > 2 > 3).
    t.apply({ tasks: { updated: [{ id: 2, parentId: 6 }] } });
    const before = View.fromDoc(t.project.doc);
    // The peer, not knowing, moves 5 under 3: a cycle 2 > 6 > 5 > 3 > 2, broken by moving 2 to the top.
    const updates: Uint8Array[] = [];
    peer.on('update', (u: Uint8Array) => updates.push(u));
    const five = (peer.getMap(TASKS) as Y.Map<Y.Map<unknown>>).get('5')!;
    peer.transact(() => {
      five.set('parentId', 3);
      five.set('$order', keyBetween(null, null));
    });
    const changes = t.project.applyUpdate(Y.mergeUpdates(updates), 'peer') as Rec;
    expect(changes.tasks.updated.map((r: Rec) => r.id)).toEqual([2, 5]);
    applyChangeSet(before, changes);
    expect(diffViews('replayed', before, View.fromDoc(t.project.doc))).toEqual([]);
  });
});

describe('on the wire', () => {
  let s: SimServer;
  const clients: TestClient[] = [];
  beforeAll(async () => {
    s = await startSimServer(10);
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await s?.dispose();
  });

  async function classic(project: number): Promise<TestClient> {
    const c = await classicLogin(s.server.port);
    clients.push(c);
    c.send({ command: 'dataset', project });
    await c.nextOf('dataset');
    return c;
  }

  async function revisions(project: number): Promise<TestClient & { clientId: string }> {
    const c = await revisionsLogin(s.server.port);
    clients.push(c);
    c.send({ command: 'dataset', data: { project } });
    await c.nextOf('dataset');
    return c;
  }

  let local = 0;
  async function revise(c: TestClient & { clientId: string }, project: number, changes: Rec): Promise<Msg[]> {
    const withInput: Rec = {};
    for (const [store, entry] of Object.entries(changes)) withInput[store] = { ...entry, $input: structuredClone(entry) };
    c.send({ command: 'project_change', data: { project, revisions: [{ revision: `local-${++local}`, clientId: c.clientId, changes: withInput }] } });
    return (await c.nextOf('project_change')).data.revisions;
  }

  /** Every projectChange a classic client gets within `ms`. */
  async function changesOf(c: TestClient, ms = 300): Promise<Rec[]> {
    return (await c.drain(ms)).filter((m) => m.command === 'projectChange').map((m) => m.changes);
  }

  async function serverView(project: number): Promise<View> {
    const c = await classicLogin(s.server.port);
    c.send({ command: 'dataset', project });
    const reply = await c.nextOf('dataset');
    await c.close();
    return View.fromDataset(reply.dataset, reply.projectMeta);
  }

  it('echoes a classic change that named a record by a phantom id from an earlier message', async () => {
    const project = s.freshProject();
    const a = await classic(project);
    a.send({ command: 'projectChange', project, changes: { tasks: { added: [{ $PhantomId: '_generatedTaskModel_e1', name: 'new', parentId: 1 }] } } });
    const id = (await a.nextOf('projectChange')).changes.tasks.added[0].id;
    // Back from offline, its dataset shows the record under its real id only; the change it kept names the phantom.
    a.send({ command: 'projectChange', project, changes: { tasks: { updated: [{ id: '_generatedTaskModel_e1', name: 'renamed offline' }] } } });
    expect((await a.nextOf('projectChange')).changes.tasks.updated).toEqual([{ id, name: 'renamed offline' }]);
  });

  it('gives a classic sender the final sibling order when another writer placed tasks moments before', async () => {
    const project = s.freshProject();
    const r = await revisions(project);
    const c = await classic(project);
    await revise(r, project, { tasks: { updated: [{ id: 7, parentIndex: 0, orderedParentIndex: 0 }] } });
    // c has not seen that (5 > 6, 7 to it) and adds a task between 6 and 7.
    c.send({ command: 'projectChange', project, changes: { tasks: { added: [{ $PhantomId: '_generatedTaskModel_o1', name: 'between', parentId: 5, parentIndex: 1, orderedParentIndex: 1 }] } } });
    const received = await changesOf(c);
    const id = received[1].tasks.added[0].id;
    expect(received[2].tasks.updated).toEqual(
      expect.arrayContaining([
        { id: 7, parentId: 5, parentIndex: 0, orderedParentIndex: 0 },
        { id, parentId: 5, parentIndex: 1, orderedParentIndex: 1 },
      ]),
    );
    expect((await serverView(project)).childrenOf('5')).toEqual(['7', String(id), '6']);
  });

  it('sends a dependency that closed a loop already switched off, in the same message that adds it', async () => {
    const project = s.freshProject();
    const a = await classic(project);
    const b = await classic(project);
    a.send({ command: 'projectChange', project, changes: { dependencies: { added: [{ $PhantomId: '_generatedDependencyModel_c1', fromTask: 6, toTask: 7 }] } } });
    await a.nextOf('projectChange');
    await b.nextOf('projectChange');
    b.send({ command: 'projectChange', project, changes: { dependencies: { added: [{ $PhantomId: '_generatedDependencyModel_c2', fromTask: 7, toTask: 6 }] } } });
    const [toSender] = await changesOf(b);
    const [toOther, ...more] = await changesOf(a);
    const id = toSender.dependencies.added[0].id;
    expect(toSender.dependencies).toEqual({ added: [expect.objectContaining({ $PhantomId: '_generatedDependencyModel_c2', id, fromTask: 7, toTask: 6, active: false })] });
    expect(toOther).toEqual(toSender);
    expect(more).toEqual([]);
    expect((await serverView(project)).store('dependencies').get(String(id))).toMatchObject({ active: false });
  });

  it('sends a classic sender back what it moved under a task removed meanwhile, with its links', async () => {
    const project = s.freshProject();
    const r = await revisions(project);
    const c = await classic(project);
    const [linked] = await revise(r, project, { dependencies: { added: [{ $PhantomId: '_generatedDependencyModel_l1', fromTask: 6, toTask: 7 }] } });
    await revise(r, project, { tasks: { removed: [{ id: 2 }, { id: 3 }, { id: 4 }] } });
    // c moved 6 under 3 before it heard of the removal: when it does, its client drops 6 with 3's subtree.
    c.send({ command: 'projectChange', project, changes: { tasks: { updated: [{ id: 6, parentId: 3, parentIndex: 0, orderedParentIndex: 0 }] } } });
    const fixes = (await changesOf(c)).find((changes) => changes.tasks?.added)!;
    expect(fixes.tasks.added).toEqual([expect.objectContaining({ id: 6, name: 'Frontend', parentId: null })]);
    expect(fixes.dependencies.added).toEqual([expect.objectContaining({ id: linked.changes.dependencies.added[0].id, fromTask: 6, toTask: 7 })]);
    expect((await serverView(project)).tasks.get('6')!.parentId).toBe(null);
  });

  it('sends the final value again when a classic sender rewrites a field it was just told the final of', async () => {
    const project = s.freshProject();
    const r = await revisions(project);
    const c = await classic(project);
    await revise(r, project, { tasks: { updated: [{ id: 7, name: 'from r' }] } });
    c.send({ command: 'projectChange', project, changes: { tasks: { updated: [{ id: 7, name: 'c1' }] } } });
    // Sent before the final of c1 arrives: when it does, c shows c1 again unless told of c2.
    c.send({ command: 'projectChange', project, changes: { tasks: { updated: [{ id: 7, name: 'c2' }] } } });
    const names = (await changesOf(c)).flatMap((ch) => ch.tasks?.updated ?? []).filter((u: Rec) => u.id === 7).map((u: Rec) => u.name);
    expect(names.at(-1)).toBe('c2');
  });

  it('tells only the classic sender the final values; the others get the writes in order and nothing more', async () => {
    const project = s.freshProject();
    const a = await classic(project);
    const b = await classic(project);
    const watcher = await classic(project);
    a.send({ command: 'projectChange', project, changes: { tasks: { updated: [{ id: 7, name: 'from a' }] } } });
    await b.nextOf('projectChange');
    b.send({ command: 'projectChange', project, changes: { tasks: { updated: [{ id: 7, name: 'from b' }] } } });
    expect(await changesOf(b)).toEqual([{ tasks: { updated: [{ id: 7, name: 'from b' }] } }]);
    expect(await changesOf(watcher)).toEqual([{ tasks: { updated: [{ id: 7, name: 'from a' }] } }, { tasks: { updated: [{ id: 7, name: 'from b' }] } }]);
    expect(await changesOf(a)).toEqual([{ tasks: { updated: [{ id: 7, name: 'from b' }] } }]);
  });

  it('tells a classic sender the final value of a project field another writer set moments before, without an id', async () => {
    const project = s.freshProject();
    const r = await revisions(project);
    const c = await classic(project);
    await revise(r, project, { project: { hoursPerDay: 7 } });
    // c writes before r's change reaches it, so it holds 7 once that arrives unless told the final.
    c.send({ command: 'projectChange', project, changes: { project: { hoursPerDay: 6 } } });
    expect(await changesOf(c)).toEqual([{ project: { hoursPerDay: 7 } }, { project: { hoursPerDay: 6 } }]);
  });

  it("tells a classic sender the final value of a field a Yjs peer wrote moments before", async () => {
    const project = s.freshProject();
    const r = await revisions(project);
    const c = await classic(project);
    const doc = new Y.Doc();
    const provider = new WebsocketProvider(`${s.url}/yjs`, String(project), doc, { WebSocketPolyfill: WebSocket as never, params: { login: 'admin', password: 'admin' }, disableBc: true });
    try {
      await new Promise<void>((resolve) => provider.once('sync', () => resolve()));
      (doc.getMap(TASKS) as Y.Map<Y.Map<unknown>>).get('7')!.set('name', 'from yjs');
      await r.nextOf('project_change');
      // c writes before the peer's change reaches it, which then overwrites its value.
      c.send({ command: 'projectChange', project, changes: { tasks: { updated: [{ id: 7, name: 'from classic' }] } } });
      expect((await changesOf(c)).flatMap((ch) => ch.tasks?.updated ?? [])).toEqual([{ id: 7, name: 'from yjs' }, { name: 'from classic', id: 7 }]);
    } finally {
      provider.destroy();
      provider.awareness.destroy();
      doc.destroy();
    }
  });
});
