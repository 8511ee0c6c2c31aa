/**
 * A bare wire client for the storage-faults part: logs in, loads one project and adds tasks one
 * at a time in either generation, keeping apart what the server confirmed (a broadcast naming the
 * task) and what it refused (an error in the protocol's shape). The simulator's clients hide both
 * behind their views; this part needs to see every reply.
 */
import { JsonSocket, type Msg } from '../src/simulate/socket.js';

export type Generation = 'classic' | 'revisions';

export type ChangeOutcome =
  | { kind: 'confirmed'; id: string | number }
  | { kind: 'refused'; message: string; reply: Msg }
  | { kind: 'no answer'; message: string };

/** Error replies the protocol allows (PROTOCOL.md §11): `{command, error}`, with `project` or `data.project`. */
export function isProtocolError(msg: Msg, command: string, generation: Generation): boolean {
  if (msg.command === 'error') return typeof msg.message === 'string' && Object.keys(msg).every((k) => k === 'command' || k === 'message' || k === 'project');
  if (msg.command !== command || typeof msg.error !== 'string' || msg.error === '') return false;
  const allowed = generation === 'classic' ? ['command', 'error', 'project'] : ['command', 'error', 'data'];
  if (!Object.keys(msg).every((k) => allowed.includes(k))) return false;
  return generation === 'classic' || msg.data === undefined || (typeof msg.data === 'object' && Object.keys(msg.data).join() === 'project');
}

export class WireClient {
  /** Task names this client saw broadcast by the server (its own and others'), with their ids. */
  readonly seen = new Map<string, string | number>();
  private phantoms = 0;

  private constructor(
    private readonly socket: JsonSocket,
    readonly generation: Generation,
    readonly project: number,
  ) {
    socket.onMessage = (msg) => this.note(msg);
  }

  /** Connect, log in and load `project`; the dataset reply is returned (or the error that came instead). */
  static async open(url: string, generation: Generation, project: number, login: string, password: string, timeoutMs = 15_000): Promise<{ client: WireClient; dataset: Msg }> {
    const socket = await JsonSocket.open(url, timeoutMs);
    const client = new WireClient(socket, generation, project);
    try {
      const classic = generation === 'classic';
      socket.send(classic ? { command: 'login', login, password } : { command: 'login', data: { login, password } });
      const loggedIn = await socket.waitFor((m) => m.command === 'login' && (m.error !== undefined || m.userName === undefined), timeoutMs, 'login reply');
      if (loggedIn.error) throw new Error(`login refused: ${loggedIn.error}`);
      socket.send(classic ? { command: 'dataset', project } : { command: 'dataset', data: { project } });
      const dataset = await socket.waitFor((m) => m.command === 'dataset' || m.command === 'error', timeoutMs, 'dataset reply');
      return { client, dataset };
    } catch (e) {
      socket.close();
      throw e;
    }
  }

  /** Add a task named `name`: confirmed once a broadcast holds it, refused on an error reply. */
  async addTask(name: string, timeoutMs = 15_000): Promise<ChangeOutcome> {
    const phantom = `_generatedTaskModel_${name}_${++this.phantoms}`;
    const changes = { tasks: { added: [{ $PhantomId: phantom, name, startDate: '2026-01-05', duration: 1 }] } };
    const command = this.generation === 'classic' ? 'projectChange' : 'project_change';
    const local = `local-${this.phantoms}`;
    if (this.generation === 'classic') this.socket.send({ command, project: this.project, changes });
    else this.socket.send({ command, data: { project: this.project, client: 'c', revisions: [{ revision: local, clientId: 'c', changes }] } });
    try {
      const reply = await this.socket.waitFor((m) => (m.command === command && m.error !== undefined) || m.command === 'error' || namesOf(m).has(name), timeoutMs, `answer to ${name}`);
      if (reply.command === 'error' || reply.error !== undefined) return { kind: 'refused', message: String(reply.error ?? reply.message), reply };
      return { kind: 'confirmed', id: this.seen.get(name)! };
    } catch (e) {
      return { kind: 'no answer', message: (e as Error).message };
    }
  }

  /** The next error message or error reply (null when none comes within `timeoutMs`). */
  waitForError(timeoutMs: number): Promise<Msg | null> {
    return this.socket.waitFor((m) => m.command === 'error' || m.error !== undefined, timeoutMs, 'error').catch(() => null);
  }

  close(): void {
    this.socket.close();
  }

  private note(msg: Msg): void {
    for (const [name, id] of namesOf(msg)) this.seen.set(name, id);
  }
}

/** Names and ids of tasks added in a change broadcast of either generation. */
function namesOf(msg: Msg): Map<string, string | number> {
  const out = new Map<string, string | number>();
  const sets: unknown[] = msg.command === 'projectChange' ? [msg.changes] : msg.command === 'project_change' && Array.isArray(msg.data?.revisions) ? msg.data.revisions.map((r: Msg) => r?.changes) : [];
  for (const changes of sets) {
    const added = (changes as Msg | undefined)?.tasks?.added;
    if (!Array.isArray(added)) continue;
    for (const record of added) if (typeof record?.name === 'string' && record.id !== undefined) out.set(record.name, record.id);
  }
  return out;
}

/** Task names in a dataset reply of either generation. */
export function taskNames(dataset: Msg): Set<string> {
  const data = dataset.dataset ?? dataset.data?.dataset;
  const names = new Set<string>();
  const walk = (records: unknown): void => {
    if (!Array.isArray(records)) return;
    for (const r of records as Msg[]) {
      if (typeof r?.name === 'string') names.add(r.name);
      walk(r?.children);
    }
  };
  walk(data?.tasksData);
  return names;
}
