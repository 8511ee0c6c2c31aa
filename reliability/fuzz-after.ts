/**
 * The server after the fuzz: every project loads for a fresh client and is valid (tree, references,
 * ids; src/simulate/check.ts), and real clients of both generations and a Yjs peer still get their
 * changes confirmed.
 */
import { validate } from '../src/simulate/check.js';
import { View } from '../src/simulate/view.js';
import { Socket, Tally, logInAndLoad, type Account } from './fuzz-workers.js';
import { SYNC_PROBE, isProbeAnswer } from './fuzz-yjs.js';

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v) && !Buffer.isBuffer(v);

/** Problems of each project as a fresh classic client loads it; empty when all are valid. */
export async function checkProjects(url: string, account: Account, projects: (number | string)[], tally: Tally): Promise<string[]> {
  const problems: string[] = [];
  for (const project of projects) {
    const socket = await Socket.open(url, 'classic', tally, 'final check');
    try {
      const { dataset } = await logInAndLoad(socket, 'classic', account, project);
      let view: View;
      try {
        view = View.fromDataset(dataset);
      } catch (e) {
        // The view keys records by String(id): an id that is an object without a usable toString.
        problems.push(`project ${JSON.stringify(project)}: a record's id is not a number or a text (${(e as Error).message})`);
        continue;
      }
      for (const p of validate(`project ${JSON.stringify(project)}`, view)) problems.push(`${p.replica}: ${p.problem}`);
    } catch (e) {
      problems.push(`project ${JSON.stringify(project)} does not load: ${(e as Error).message}`);
    } finally {
      socket.close();
    }
  }
  return problems;
}

/**
 * Every project back to its seed (a classic `reset` each): what the fuzz's accepted writes piled up
 * goes. Failures are returned, not thrown (a reset refused is not a fault of the server's).
 */
export async function resetProjects(url: string, account: Account, projects: (number | string)[], tally: Tally): Promise<string[]> {
  const problems: string[] = [];
  for (const project of projects) {
    let socket: Socket | null = null;
    try {
      socket = await Socket.open(url, 'classic', tally, 'reset');
      await logInAndLoad(socket, 'classic', account, project);
      socket.send(JSON.stringify({ command: 'reset', project }));
      const reply = await socket.wait<Record<string, unknown>>((m) => isObject(m) && (m.command === 'reset' || (m.command === 'error' && m.project === project)), 'reset reply');
      if ('error' in reply || reply.command === 'error') problems.push(`reset of ${JSON.stringify(project)} refused: ${String(reply.error ?? reply.message)}`);
    } catch (e) {
      problems.push(`reset of ${JSON.stringify(project)}: ${(e as Error).message}`);
    } finally {
      socket?.close();
    }
  }
  return problems;
}

/** A classic client adds a task and receives it with its real id. */
async function classicWorks(url: string, account: Account, project: number | string, tally: Tally): Promise<void> {
  const socket = await Socket.open(url, 'classic', tally, 'classic after');
  try {
    await logInAndLoad(socket, 'classic', account, project);
    const phantom = `_generatedTask_after_${Date.now()}`;
    socket.send(JSON.stringify({ command: 'projectChange', project, changes: { tasks: { added: [{ $PhantomId: phantom, name: 'after the fuzz' }] } } }));
    const echo = await socket.wait<Record<string, unknown>>((m) => isObject(m) && (m.command === 'error' || 'error' in m || (m.command === 'projectChange' && JSON.stringify(m.changes).includes(phantom))), 'confirmation of a new task');
    const added = ((echo.changes as Record<string, Record<string, unknown[]>> | undefined)?.tasks?.added ?? []) as Record<string, unknown>[];
    const task = added.find((r) => r.$PhantomId === phantom);
    if (!task || (typeof task.id !== 'number' && typeof task.id !== 'string') || task.id === phantom) throw new Error(`classic change not confirmed: ${JSON.stringify(echo).slice(0, 300)}`);
  } finally {
    socket.close();
  }
}

/** A revisions client renames a task and receives its own revision back. */
async function revisionsWorks(url: string, account: Account, project: number | string, tally: Tally): Promise<void> {
  const socket = await Socket.open(url, 'revisions', tally, 'revisions after');
  try {
    const { ids, client } = await logInAndLoad(socket, 'revisions', account, project);
    const id = ids.get('tasks')?.[0];
    if (id === undefined) throw new Error(`project ${JSON.stringify(project)} has no task to rename`);
    const updated = [{ id, name: 'renamed after the fuzz' }];
    socket.send(JSON.stringify({ command: 'project_change', data: { project, client, revisions: [{ revision: 'local-after', clientId: client, changes: { tasks: { updated, $input: { updated } } } }] } }));
    const reply = await socket.wait<Record<string, unknown>>(
      (m) => isObject(m) && (m.command === 'error' || 'error' in m || (m.command === 'project_change' && JSON.stringify(m.data).includes('"local-after"'))),
      'own revision',
    );
    const revisions = (isObject(reply.data) ? reply.data.revisions : undefined) as Record<string, unknown>[] | undefined;
    if (!revisions?.some((r) => r.localRevision === 'local-after' && r.client === client && typeof r.revision === 'string')) throw new Error(`revision not confirmed: ${JSON.stringify(reply).slice(0, 300)}`);
  } finally {
    socket.close();
  }
}

/** A Yjs peer syncs the project. */
async function yjsWorks(url: string, account: Account, project: number | string, tally: Tally): Promise<void> {
  const socket = await Socket.open(`${url}/yjs/${encodeURIComponent(String(project))}?login=${account.login}&password=${account.password}`, 'yjs', tally, 'yjs after');
  try {
    socket.send({ kind: 'probe', data: SYNC_PROBE, binary: true });
    await socket.wait((m) => Buffer.isBuffer(m) && isProbeAnswer(m), 'sync step 2');
  } finally {
    socket.close();
  }
}

/** What fails when real clients try to work: empty when all three kinds do. */
export async function clientsWork(url: string, account: Account, projects: (number | string)[], tally: Tally): Promise<string[]> {
  const problems: string[] = [];
  const attempt = async (what: string, run: () => Promise<void>) => {
    try {
      await run();
    } catch (e) {
      problems.push(`${what}: ${(e as Error).message}`);
    }
  };
  for (const project of projects) {
    await attempt(`classic client on ${JSON.stringify(project)}`, () => classicWorks(url, account, project, tally));
    await attempt(`revisions client on ${JSON.stringify(project)}`, () => revisionsWorks(url, account, project, tally));
    await attempt(`Yjs peer on ${JSON.stringify(project)}`, () => yjsWorks(url, account, project, tally));
  }
  return problems;
}

/** A project to replace: deleted, then imported again from its seed file under the same id. */
export interface Replacement {
  id: number | string;
  name: string;
  ids: 'number' | 'prefixed';
  /** The seed file's text (a dataset). */
  seed: string;
}

/**
 * Delete a project and import it again from its seed through the admin API: a fresh Yjs document.
 * A reset keeps the document's history, and with it every Yjs client id the fuzz's junk updates
 * brought; Yjs pays for each on every transaction (its state vectors), so without this the fuzz
 * would measure an ever slower document rather than the server's handling of hostile input.
 */
export async function replaceProject(url: string, account: Account, project: Replacement): Promise<void> {
  const base = url.replace(/^ws/, 'http');
  const headers = { authorization: `Basic ${Buffer.from(`${account.login}:${account.password}`).toString('base64')}`, 'content-type': 'application/json' };
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${base}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${(await res.text()).slice(0, 200)}`);
    await res.arrayBuffer();
  };
  await call('DELETE', `/api/projects/${encodeURIComponent(String(project.id))}`);
  await call('POST', '/api/projects', { id: project.id, name: project.name, ids: project.ids, data: JSON.parse(project.seed) });
}
