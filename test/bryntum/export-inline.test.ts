/**
 * What the admin API exports (`GET /api/projects/<id>/export`) is a dataset Bryntum's own
 * `project.loadInlineData()` reads, and what it imports from it (`POST /api/projects` with `data`)
 * is served to real clients as that inline-loaded project holds it. Real Bryntum code throughout:
 * one classic client edits, a plain `ProjectModel` in a window of its own (no server connection)
 * loads the export, and more clients open the project and the imported copy.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../support/server.js';
import { ClassicClient, bryntumWindow, quiet, type BryntumClient } from './client.js';

type Rec = Record<string, any>;

let server: TestServer | null = null;
const clients: BryntumClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await server?.dispose();
  server = null;
});

const admin = `Basic ${Buffer.from('admin:admin').toString('base64')}`;

async function call(path: string, method = 'GET', body?: unknown): Promise<{ status: number; body: any }> {
  const response = await fetch(`http://127.0.0.1:${server!.port}${path}`, {
    method,
    headers: { authorization: admin, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

/** A classic client logged in and showing `project` (client.ts types ids as numbers; the protocol takes strings too). */
async function client(login: string, project: number | string): Promise<ClassicClient> {
  const c = new ClassicClient(await bryntumWindow(), `ws://127.0.0.1:${server!.port}`);
  clients.push(c);
  await c.connect(login);
  await c.load(project as number);
  return c;
}

/**
 * Tasks as `id|name|parentId|parentIndex|duration` in tree order (depth first, siblings in
 * order): unlike `BryntumClient.tasks()`, sibling order counts here.
 */
function tree(project: Rec): string[] {
  const out: string[] = [];
  project.taskStore.rootNode.traverse((task: Rec) => {
    if (!task.isRoot) out.push(`${task.id}|${task.name}|${task.parent?.isRoot ? null : task.parent?.id}|${task.parentIndex}|${task.duration}`);
  });
  return out;
}

/** As `BryntumClient.links()`. */
function links(project: Rec): string[] {
  return project.dependencyStore.allRecords.map((d: Rec) => `${d.fromEvent?.id}->${d.toEvent?.id}${d.active === false ? ' (off)' : ''}`).sort();
}

/** As `BryntumClient.schedule()`: `id start..end percentDone`, by id. */
function schedule(project: Rec, window: Rec): string[] {
  const day = (d: unknown) => (d instanceof window.Date ? (d as Date).toISOString().slice(0, 10) : String(d));
  const out: string[] = [];
  project.taskStore.rootNode.traverse((task: Rec) => {
    if (!task.isRoot) out.push(`${task.id} ${day(task.startDate)}..${day(task.endDate)} ${Math.round(task.percentDone ?? 0)}%`);
  });
  return out.sort();
}

const counts = (project: Rec) => ({
  tasks: project.taskStore.count,
  dependencies: project.dependencyStore.count,
  resources: project.resourceStore.count,
  assignments: project.assignmentStore.count,
});

/**
 * Demo project 1 after a real classic client renamed task 11, added a child to task 2 and linked
 * task 21 to it, once everything went quiet; then exported over the admin API.
 */
async function editedAndExported(): Promise<{ editor: ClassicClient; exported: Rec; added: number }> {
  server = await startServer({ groups: { admin: ['*'], user: [1, 2] } });
  const editor = await client('alex', 1);
  await editor.edit((p) => {
    p.taskStore.getById(11).name = 'Install nginx';
    const task = p.taskStore.getById(2).appendChild({ name: 'Pick fonts', duration: 2 });
    p.dependencyStore.add({ fromTask: 21, toTask: task });
  });
  await quiet([editor]);
  const added = editor.project!.taskStore.allRecords.find((t: Rec) => t.name === 'Pick fonts').id;
  expect(typeof added).toBe('number');
  const exported = await call('/api/projects/1/export');
  expect(exported.status).toBe(200);
  return { editor, exported: exported.body, added };
}

/**
 * The export loaded into a plain `new ProjectModel()` of a fresh window that never connects:
 * `loadInlineData`, then `commitAsync`, as a page embedding a saved project would.
 */
async function loadInline(exported: Rec): Promise<{ project: Rec; window: Rec; problems: string[] }> {
  const window = await bryntumWindow();
  const problems: string[] = [];
  window.console.error = (...args: unknown[]) => void problems.push(`console.error: ${args.map(String).join(' ')}`);
  window.addEventListener('error', (e: Rec) => void problems.push(`error event: ${e.message}`));
  const rejected = (reason: unknown) => void problems.push(`unhandled rejection: ${(reason as Error)?.message ?? String(reason)}`);
  process.on('unhandledRejection', rejected);
  try {
    const project = new window.bryntum.gantt.ProjectModel();
    for (const event of ['cycle', 'schedulingConflict']) {
      project.on(event, (e: Rec) => {
        problems.push(`engine ${event}`);
        e.continueWithResolutionResult?.('Cancel');
      });
    }
    // Parsed in the window, so the engine gets objects of its own realm (as client.ts does).
    await project.loadInlineData(window.JSON.parse(JSON.stringify(exported)));
    await project.commitAsync();
    // Give anything the library left rejected a turn to show.
    await new Promise((resolve) => setTimeout(resolve, 50));
    return { project, window, problems };
  } finally {
    process.off('unhandledRejection', rejected);
  }
}

describe('a project Weft exports', () => {
  it('loads with Bryntum’s loadInlineData into the tasks, order, links, resources and assignments connected clients show, without errors', async () => {
    const { editor, exported, added } = await editedAndExported();
    const { project, window, problems } = await loadInline(exported);
    expect(problems).toEqual([]);

    // The export holds the client's edits, and the engine reads them as such.
    const inline = tree(project);
    expect(inline).toContain(`11|Install nginx|1|0|3`);
    expect(inline.find((t) => t.startsWith(`${added}|`))).toMatch(/^\d+\|Pick fonts\|2\|\d+\|2$/);
    expect(links(project)).toContain(`21->${added}`);
    // Loading it is a fixed point: nothing for a client to write back.
    expect(project.changes).toBeNull();

    // A client connected now shows the same, down to sibling order and the engine's dates.
    const fresh = await client('ben', 1);
    for (const c of [editor, fresh]) {
      expect(tree(c.project!)).toEqual(inline);
      expect(links(c.project!)).toEqual(links(project));
      expect(counts(c.project!)).toEqual(counts(project));
      expect(c.errors).toEqual([]);
      expect(c.conflicts).toBe(0);
    }
    expect(schedule(project, window)).toEqual(fresh.schedule());
    expect(counts(project)).toEqual({
      tasks: inline.length,
      dependencies: exported.dependenciesData.length,
      resources: exported.resourcesData.length,
      assignments: exported.assignmentsData.length,
    });
  });

  it('imported as a new project, is what a real client opening that project shows, as loadInlineData read it', async () => {
    const { exported } = await editedAndExported();
    const { project, window, problems } = await loadInline(exported);
    expect(problems).toEqual([]);

    const imported = await call('/api/projects', 'POST', { id: 'copy', name: 'Copy', data: exported });
    expect(imported).toMatchObject({ status: 200, body: { project: { id: 'copy', name: 'Copy' } } });
    expect(imported.body.records.tasks).toBe(project.taskStore.count);

    // admin's group has every project ('*'), the copy too.
    const viewer = await client('admin', 'copy');
    await quiet([viewer]);
    expect(tree(viewer.project!)).toEqual(tree(project));
    expect(links(viewer.project!)).toEqual(links(project));
    expect(counts(viewer.project!)).toEqual(counts(project));
    expect(viewer.schedule()).toEqual(schedule(project, window));
    expect(viewer.errors).toEqual([]);
    expect(viewer.conflicts).toBe(0);
    // Opening it wrote nothing back: the copy still exports as the original did.
    expect((await call('/api/projects/copy/export')).body).toEqual(exported);
  });
});
