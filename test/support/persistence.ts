/** Helpers of the persistence tests: loading projects and sending changes as a classic client. */
import type { ProjectMeta } from '../../src/persistence/storage.js';
import { classicLogin, TestClient, type Msg } from './client.js';
import { expect } from 'vitest';

export type Task = Record<string, any>;

export const meta = (): ProjectMeta => ({ nextId: 1, nextRevision: 1, phantomEpoch: 0, firstLoggedRevision: 1, createdAt: new Date(0).toISOString() });

/** Every task of a nested `tasksData`, with the id of its parent (null at the root) and its index there. */
export function taskIndex(tasksData: Task[]): Map<unknown, { task: Task; parentId: unknown; index: number }> {
  const out = new Map<unknown, { task: Task; parentId: unknown; index: number }>();
  const walk = (list: Task[], parentId: unknown) =>
    list.forEach((task, index) => {
      out.set(task.id, { task, parentId, index });
      if (Array.isArray(task.children)) walk(task.children, task.id);
    });
  walk(tasksData, null);
  return out;
}

/** Log in (classic), load a project and return the client with its `dataset` reply. */
export async function loadClassic(port: number, project: number | string = 1, login = 'admin'): Promise<{ client: TestClient; ds: Msg }> {
  const client = await classicLogin(port, login);
  client.send({ command: 'dataset', project });
  const ds = await client.nextOf('dataset', 5000);
  expect(ds.error).toBeUndefined();
  return { client, ds };
}

/** Load a project, take its dataset and disconnect. */
export async function datasetOf(port: number, project: number | string = 1): Promise<Msg> {
  const { client, ds } = await loadClassic(port, project);
  await client.close();
  return ds;
}

/**
 * A classic change whose sender gets no echo (nothing added): wait until an observer subscribed
 * to the same project has it, which happens only after it was stored.
 */
export async function changeSeenBy(sender: TestClient, observer: TestClient, project: number | string, changes: Msg): Promise<Msg> {
  sender.send({ command: 'projectChange', project, changes });
  const got = await observer.nextOf('projectChange', 5000);
  return got.changes;
}

/**
 * A classic change that adds records: the sender's own echo carries the ids. Corrections the
 * sender was sent for earlier changes are skipped.
 */
export async function added(sender: TestClient, project: number | string, changes: Msg): Promise<Msg> {
  const phantoms = (c: Msg) => Object.values(c).flatMap((entry: any) => (entry?.added ?? []).map((r: Msg) => r.$PhantomId));
  const sent = phantoms(changes);
  sender.send({ command: 'projectChange', project, changes });
  const deadline = Date.now() + 5000;
  for (;;) {
    const echo = await sender.nextOf('projectChange', Math.max(1, deadline - Date.now()));
    if (phantoms(echo.changes).some((p) => sent.includes(p))) return echo.changes;
  }
}

export const newTask = (phantom: string, name: string, parentId: unknown, parentIndex = 0) => ({
  tasks: { added: [{ $PhantomId: phantom, name, parentId, parentIndex, duration: 2, durationUnit: 'day' }] },
});
