/**
 * A bare relay speaking the classic protocol, as a naive sync server would: it reads each seed
 * file once at start, keeps the parsed dataset in memory, serializes it on every `dataset`
 * request and forwards `projectChange` to the project's other subscribers. No persistence, no
 * id assignment, no checks beyond "logged in".
 *
 * With `--persist DIR` it first writes each change's JSON text to a LevelDB in DIR (in arrival
 * order per project, as Weft does before telling anyone): the least a server that loses nothing
 * must add to the relay's work, so the bench can show how much of Weft's latency that alone costs.
 *
 * With `--yjs` as well it also keeps each project as a Y.Doc laid out as Weft's (a map per store,
 * a `Y.Map` per record holding its seed fields as `$base`), writes each change's updated fields
 * into it in one transaction and persists the Yjs update instead of the text: the least a server
 * keeping projects as Yjs documents must do per change (no ids, no checks, no adding or removing).
 *
 *   node relay.js --config FILE [--port 0] [--projects 1,2,3] [--persist DIR [--yjs]]
 *
 * Prints `relay listening on ws://127.0.0.1:<port>` once ready.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { WebSocketServer, type WebSocket } from 'ws';
import { Level } from 'level';
import * as Y from 'yjs';

type Row = Record<string, unknown>;
interface Dataset {
  projectMeta: Row;
  dataset: Row;
}

const STORES: Record<string, string> = {
  tasks: 'tasksData',
  resources: 'resourcesData',
  dependencies: 'dependenciesData',
  assignments: 'assignmentsData',
  calendars: 'calendarsData',
  versions: 'versionsData',
  changelogs: 'changelogsData',
};

function datasetOf(seed: Row): Dataset {
  const dataset: Row = {};
  for (const [store, key] of Object.entries(STORES)) {
    const entry = seed[store] as { rows?: unknown[] } | undefined;
    dataset[key] = Array.isArray(entry?.rows) ? entry.rows : [];
  }
  return { projectMeta: (seed.project as Row) ?? {}, dataset };
}

/** The project as Weft lays it out: a map per store, a `Y.Map` per record with its fields as `$base`. */
function yjsProject(seed: Row): Y.Doc {
  const doc = new Y.Doc();
  doc.transact(() => {
    for (const store of Object.keys(STORES)) {
      const map = doc.getMap<Y.Map<unknown>>(store);
      const visit = (rows: unknown): void => {
        if (!Array.isArray(rows)) return;
        for (const row of rows as Row[]) {
          const { children, ...fields } = row;
          const record = new Y.Map<unknown>();
          map.set(String(fields.id), record);
          record.set('$base', fields);
          visit(children);
        }
      };
      visit((seed[store] as { rows?: unknown[] } | undefined)?.rows);
    }
  });
  return doc;
}

/** A change's updated fields written into the document, in one transaction; the Yjs update it made. */
function writeUpdates(doc: Y.Doc, changes: unknown): Uint8Array | null {
  let update: Uint8Array | null = null;
  const keep = (u: Uint8Array) => (update = u);
  doc.on('updateV2', keep);
  doc.transact(() => {
    for (const [store, entry] of Object.entries((changes ?? {}) as Record<string, { updated?: Row[] }>)) {
      const map = doc.getMap<Y.Map<unknown>>(store);
      for (const row of entry?.updated ?? []) {
        const record = map.get(String(row.id));
        if (!record) continue;
        for (const [field, value] of Object.entries(row)) if (field !== 'id') record.set(field, value);
      }
    }
  });
  doc.off('updateV2', keep);
  return update;
}

function hasAdded(changes: unknown): boolean {
  if (typeof changes !== 'object' || changes === null) return false;
  return Object.values(changes).some((entry) => Array.isArray((entry as { added?: unknown[] } | null)?.added) && (entry as { added: unknown[] }).added.length > 0);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { config: { type: 'string' }, port: { type: 'string', default: '0' }, projects: { type: 'string' }, persist: { type: 'string' }, yjs: { type: 'boolean', default: false } },
    strict: true,
  });
  if (!values.config) throw new Error('--config is required');
  if (values.yjs && !values.persist) throw new Error('--yjs needs --persist');
  const configFile = resolve(values.config);
  const config = JSON.parse(readFileSync(configFile, 'utf8')) as { projects: { id: number; seed: string }[] };
  const wanted = values.projects === undefined ? null : new Set(values.projects.split(',').filter(Boolean).map(Number));

  const datasets = new Map<number, Dataset>();
  const docs = new Map<number, Y.Doc>();
  for (const project of config.projects) {
    if (wanted && !wanted.has(project.id)) continue;
    const seed = JSON.parse(readFileSync(resolve(dirname(configFile), project.seed), 'utf8')) as Row;
    datasets.set(project.id, datasetOf(seed));
    if (values.yjs) docs.set(project.id, yjsProject(seed));
  }

  const db = values.persist ? new Level<string, string | Uint8Array>(resolve(values.persist)) : null;
  if (db) await db.open();
  let written = 0;
  /** Per project: the write of its last change, so changes are written and forwarded in order. */
  const tails = new Map<number, Promise<void>>();

  const subscribers = new Map<number, Set<WebSocket>>();
  const subscribedTo = new Map<WebSocket, number>();
  const loggedIn = new Set<WebSocket>();

  const unsubscribe = (socket: WebSocket) => {
    const project = subscribedTo.get(socket);
    if (project !== undefined) subscribers.get(project)?.delete(socket);
    subscribedTo.delete(socket);
  };

  const wss = new WebSocketServer({ host: '127.0.0.1', port: Number(values.port), perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });
  wss.on('connection', (socket) => {
    socket.on('message', (data) => {
      let message: Row;
      try {
        message = JSON.parse(data.toString());
      } catch (e) {
        socket.send(JSON.stringify({ command: 'error', message: `Invalid JSON: ${(e as Error).message}` }));
        return;
      }
      switch (message.command) {
        case 'login':
          loggedIn.add(socket);
          socket.send(JSON.stringify({ command: 'login' }));
          return;
        case 'dataset': {
          const project = message.project as number;
          const data = datasets.get(project);
          if (!loggedIn.has(socket) || !data) {
            socket.send(JSON.stringify({ command: 'dataset', project, error: 'Authorization required' }));
            return;
          }
          unsubscribe(socket);
          let set = subscribers.get(project);
          if (!set) subscribers.set(project, (set = new Set()));
          set.add(socket);
          subscribedTo.set(socket, project);
          socket.send(JSON.stringify({ command: 'dataset', project, projectMeta: data.projectMeta, dataset: data.dataset }));
          return;
        }
        case 'projectChange': {
          const project = message.project as number;
          if (subscribedTo.get(socket) !== project) return;
          const text = JSON.stringify({ command: 'projectChange', project, changes: message.changes });
          const echo = hasAdded(message.changes);
          const forward = () => {
            for (const other of subscribers.get(project) ?? []) {
              if (other !== socket || echo) other.send(text);
            }
          };
          if (!db) return forward();
          const key = `${project}/${String(++written).padStart(12, '0')}`;
          const doc = docs.get(project);
          const value = doc ? writeUpdates(doc, message.changes) : text;
          const tail = (tails.get(project) ?? Promise.resolve())
            .then(() => (value === null ? undefined : db.put(key, value, { valueEncoding: typeof value === 'string' ? 'utf8' : 'view' })))
            .then(forward);
          tails.set(project, tail);
          return;
        }
        default:
          return;
      }
    });
    socket.on('close', () => {
      unsubscribe(socket);
      loggedIn.delete(socket);
    });
    socket.on('error', () => undefined);
  });
  wss.on('listening', () => {
    const address = wss.address();
    const port = typeof address === 'object' && address ? address.port : Number(values.port);
    process.stdout.write(`relay listening on ws://127.0.0.1:${port}\n`);
  });
  const stop = () => {
    for (const client of wss.clients) client.terminate();
    void (db ? db.close() : Promise.resolve()).finally(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((e: unknown) => {
  process.stderr.write(`relay: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
