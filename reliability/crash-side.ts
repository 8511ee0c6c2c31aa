/**
 * Whole-project operations the crash part kills the server during, on projects the writers do
 * not touch: a reset and a restore of the side project, an import, and the first open of an
 * imported project (its seed load). Each is all-or-nothing: after a restart the project is the
 * state before or after it, and the state after once its answer had arrived.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { JsonSocket } from '../src/simulate/socket.js';
import { View } from '../src/simulate/view.js';
import { YjsClient } from '../src/simulate/yjs-client.js';
import type { Divergence } from '../src/simulate/check.js';

export const ADMIN = { login: 'admin', password: 'admin' };

/** A seed-layout project of `tasks` tasks in groups of ten, and `resources` resources. */
export function generatedProject(tasks: number, resources: number, label: string): Record<string, unknown> {
  const rows: Record<string, unknown>[] = [];
  for (let i = 1; i <= tasks; i++) {
    const group = Math.floor((i - 1) / 10) * 10 + 1;
    rows.push(i === group ? { id: i, name: `${label} ${i}` } : { id: i, parentId: group, name: `${label} ${i}`, duration: 1 + (i % 5), percentDone: i % 100 });
  }
  const res = Array.from({ length: resources }, (_, i) => ({ id: 100_000 + i, name: `${label} resource ${i}` }));
  return { project: { startDate: '2026-01-05' }, tasks: { rows }, resources: { rows: res }, dependencies: { rows: [] }, assignments: { rows: [] }, calendars: { rows: [] } };
}

async function http(url: string, method: string, path: string, auth: string, body?: unknown, timeoutMs = 30_000): Promise<{ status: number; json: any }> {
  const res = await fetch(new URL(path, url.replace(/^ws/, 'http')), {
    method,
    headers: { authorization: auth, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  let json: any = null;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: res.status, json };
}

const basic = `Basic ${Buffer.from(`${ADMIN.login}:${ADMIN.password}`).toString('base64')}`;
/** The token of the sidecar file the server writes into its data directory (versions need it). */
const bearer = (dataDir: string) => `Bearer ${JSON.parse(readFileSync(join(dataDir, 'weft-server.json'), 'utf8')).token}`;

export async function projectIds(url: string): Promise<string[]> {
  const { status, json } = await http(url, 'GET', '/api/projects', basic);
  if (status !== 200 || !Array.isArray(json)) throw new Error(`GET /api/projects: ${status} ${JSON.stringify(json).slice(0, 200)}`);
  return json.map((p: { id: unknown }) => String(p.id));
}

export function importProject(url: string, id: string, data: unknown): Promise<{ status: number; json: any }> {
  return http(url, 'POST', '/api/projects', basic, { id, name: id, data });
}

export async function takeVersion(url: string, dataDir: string, project: number | string, label: string): Promise<number> {
  const { status, json } = await http(url, 'POST', `/api/projects/${project}/versions`, bearer(dataDir), { label });
  if (status !== 200) throw new Error(`taking a version: ${status} ${JSON.stringify(json).slice(0, 200)}`);
  const n = json.version ?? json.number ?? json.n;
  if (typeof n !== 'number') throw new Error(`taking a version: no number in ${JSON.stringify(json).slice(0, 200)}`);
  return n;
}

export function restoreVersion(url: string, dataDir: string, project: number | string, version: number): Promise<{ status: number; json: any }> {
  return http(url, 'POST', `/api/projects/${project}/versions/${version}/restore`, bearer(dataDir));
}

/** A logged-in classic client of one project (subscribed by loading it). */
export class ClassicSession {
  private constructor(readonly socket: JsonSocket, readonly project: number | string) {}

  /** A session on a socket already logged in. */
  static attach(socket: JsonSocket, project: number | string): ClassicSession {
    return new ClassicSession(socket, project);
  }

  static async open(url: string, project: number | string, timeoutMs = 20_000): Promise<{ session: ClassicSession; view: View }> {
    const socket = await JsonSocket.open(url, 10_000);
    socket.send({ command: 'login', login: ADMIN.login, password: ADMIN.password });
    const reply = await socket.waitFor((m) => m.command === 'login' && !('userName' in m), 10_000, 'login reply');
    if (reply.error) throw new Error(`login refused: ${reply.error}`);
    const session = new ClassicSession(socket, project);
    return { session, view: await session.load(timeoutMs) };
  }

  /** Ask for the dataset (without waiting: for kills while it loads). */
  requestDataset(): Promise<View> {
    const waiting = this.socket.waitFor((m) => m.command === 'dataset' && (m.project === this.project || m.error !== undefined), 60_000, 'dataset');
    this.socket.send({ command: 'dataset', project: this.project });
    return waiting.then((m) => {
      if (m.error) throw new Error(`dataset of ${JSON.stringify(this.project)} refused: ${m.error}`);
      return View.fromDataset(m.dataset, m.projectMeta);
    });
  }

  load(timeoutMs = 20_000): Promise<View> {
    return Promise.race([this.requestDataset(), new Promise<View>((_, reject) => setTimeout(() => reject(new Error('dataset: timeout')), timeoutMs))]);
  }

  /** Add a task and wait for its echo (stored then). */
  async mark(name: string): Promise<void> {
    const phantom = `_generatedTaskModel_${name}`;
    const echo = this.socket.waitFor((m) => m.command === 'projectChange' && JSON.stringify(m).includes(phantom), 10_000, 'echo of a marker');
    this.socket.send({ command: 'projectChange', project: this.project, changes: { tasks: { added: [{ $PhantomId: phantom, name, parentId: null, parentIndex: 0 }] } } });
    await echo;
  }

  /** Reset the project; resolves on the reply. */
  reset(): Promise<unknown> {
    const reply = this.socket.waitFor((m) => m.command === 'reset', 60_000, 'reset reply');
    this.socket.send({ command: 'reset', project: this.project });
    return reply.then((m) => {
      if (m.error) throw new Error(`reset refused: ${m.error}`);
    });
  }

  close(): void {
    this.socket.close();
  }
}

/** The project as a fresh Yjs peer loads it. */
export async function yjsView(url: string, project: number | string): Promise<View> {
  const peer = new YjsClient({ name: 'crash-check', url, project, login: ADMIN.login, password: ADMIN.password, timeoutMs: 20_000 });
  try {
    await peer.start();
    return View.fromDoc(peer.doc);
  } finally {
    await peer.close();
  }
}

export function describe(divergences: Divergence[]): string {
  return divergences
    .slice(0, 3)
    .map((d) => `${d.store} ${d.record} ${d.kind}${d.field ? ` ${d.field}` : ''} (${JSON.stringify(d.replicaValue)?.slice(0, 80)} vs ${JSON.stringify(d.serverValue)?.slice(0, 80)})`)
    .join('; ');
}
