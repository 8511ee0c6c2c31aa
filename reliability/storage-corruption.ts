/**
 * Damaged stored data: clients write to several projects, the server is killed (so update-log
 * entries remain beside the snapshot chunks), and with the server stopped one project's last
 * snapshot chunk is truncated, another's update-log entry is cut in half, a third loses an entry.
 * Rules: `weft storage check` passes the undamaged store and names every damaged project with its
 * key; a restarted server answers a load of a damaged project with an error naming it (in the
 * protocol's error shape, and in its log); the other projects load and take changes.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { Level } from 'level';
import { ProjectKeys } from '../src/persistence/keys.js';
import type { PartContext } from './part.js';
import { startWeft, WEFT_MAIN, type Weft } from './weft-process.js';
import { WireClient, isProtocolError, type Generation } from './storage-client.js';
import { LOGIN, PASSWORD } from './storage-full-disk.js';

export interface CorruptionSizes {
  /** Undamaged projects beside the three damaged ones. */
  others: number;
  /** Tasks added per project before the damage. */
  changes: number;
}

export interface CorruptionResult {
  damaged: number;
  /** Damaged projects `weft storage check` named (with the damaged key). */
  reportedByCheck: number;
  /** Damaged projects whose load was answered by a clear error naming them, also in the log. */
  reportedByLoad: number;
  /** Undamaged projects that did not load or refused a change after the damage. */
  othersAffected: number;
  /** Exit code of `weft storage check` on the store before the damage. */
  checkBeforeExit: number | null;
  checkAfterExit: number | null;
  problems: string[];
}

interface Damage {
  project: number;
  what: string;
  key: string;
}

const DAMAGED = [1, 2, 3];

/** Run `weft storage check` on a data directory: exit code and output. */
function storageCheck(configFile: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [WEFT_MAIN, 'storage', 'check', '--config', configFile], { timeout: 120_000 }, (error, stdout, stderr) => {
      const code = error ? ((error as { code?: unknown }).code as number | null) ?? null : 0;
      resolve({ code: typeof code === 'number' ? code : null, out: `${stdout}${stderr}` });
    });
  });
}

/** Damage three projects' stored logs, with the database opened directly. */
async function damage(dataDir: string): Promise<Damage[]> {
  const db = new Level<string, Uint8Array>(dataDir, { keyEncoding: 'utf8', valueEncoding: 'view' });
  await db.open();
  try {
    const keysOf = async (project: number, section: string) => {
      const keys: string[] = [];
      for await (const key of db.keys(new ProjectKeys(project).range(section))) keys.push(key);
      return keys;
    };
    /** Update-log entries after the snapshot (the ones a load applies). */
    const liveUpdates = async (project: number) => {
      const snapseq = Number(Buffer.from((await db.get(new ProjectKeys(project).snapSeq())) ?? Buffer.from('0')).toString()) || 0;
      return (await keysOf(project, 'u')).filter((key) => Number(key.slice(key.lastIndexOf(':') + 1)) > snapseq);
    };
    const done: Damage[] = [];
    const chunks = await keysOf(1, 'snap');
    if (!chunks.length) throw new Error('project 1 has no snapshot chunk to damage (the log was never folded)');
    const chunk = chunks[chunks.length - 1];
    const chunkBytes = (await db.get(chunk))!;
    await db.put(chunk, chunkBytes.slice(0, Math.floor(chunkBytes.byteLength / 2)));
    done.push({ project: 1, what: 'snapshot chunk truncated to half', key: chunk });

    const updates2 = await liveUpdates(2);
    if (!updates2.length) throw new Error('project 2 has no update-log entry after its snapshot to damage');
    const entry = updates2[Math.floor(updates2.length / 2)];
    const entryBytes = (await db.get(entry))!;
    await db.put(entry, entryBytes.slice(0, Math.floor(entryBytes.byteLength / 2)));
    done.push({ project: 2, what: 'update-log entry cut in half', key: entry });

    const updates3 = await liveUpdates(3);
    if (updates3.length < 2) throw new Error('project 3 has fewer than two update-log entries after its snapshot');
    const lost = updates3[0];
    await db.del(lost);
    done.push({ project: 3, what: 'update-log entry deleted', key: lost });
    return done;
  } finally {
    await db.close();
  }
}

/** Whether a line holding `text` reaches the server's log within `timeoutMs` (stderr arrives on its own schedule). */
async function inLog(weft: Weft, text: string, timeoutMs: number): Promise<boolean> {
  for (const end = Date.now() + timeoutMs; Date.now() < end; await new Promise((resolve) => setTimeout(resolve, 100))) {
    if (weft.process.stderrTail(500).includes(text)) return true;
  }
  return false;
}

export async function runCorruption(ctx: PartContext, sizes: CorruptionSizes): Promise<CorruptionResult> {
  const dir = join(ctx.workDir, 'corruption');
  const dataDir = join(dir, 'db');
  const ids = Array.from({ length: DAMAGED.length + sizes.others }, (_, i) => i + 1);
  const config = {
    projects: ids.map((id) => ({ id, name: `Stored ${id}` })),
    users: { [LOGIN]: { password: PASSWORD, group: 'writers' } },
    groups: { writers: ids },
    anonymous: { enabled: false },
    heartbeatSeconds: 0,
    // Folds soon and often, so each project has snapshot chunks and a log after them.
    storage: { compactAfterUpdates: 10, quietMs: 100, quietMaxMs: 500 },
  };
  const result: CorruptionResult = { damaged: 0, reportedByCheck: 0, reportedByLoad: 0, othersAffected: 0, checkBeforeExit: null, checkAfterExit: null, problems: [] };
  const generationOf = (id: number): Generation => (id % 2 ? 'classic' : 'revisions');
  let weft: Weft | null = null;
  const clients: WireClient[] = [];
  try {
    weft = await startWeft({ name: 'weft-corruption', dir, config });
    for (const id of ids) {
      const { client, dataset } = await WireClient.open(weft.url, generationOf(id), id, LOGIN, PASSWORD);
      clients.push(client);
      if (dataset.command !== 'dataset') throw new Error(`project ${id} did not load: ${JSON.stringify(dataset).slice(0, 300)}`);
    }
    const write = async (label: string, count: number) => {
      await Promise.all(clients.map(async (client) => {
        for (let i = 0; i < count; i++) {
          const outcome = await client.addTask(`${label}-${i}`);
          if (outcome.kind !== 'confirmed') throw new Error(`project ${client.project}: a change was not stored: ${JSON.stringify(outcome).slice(0, 300)}`);
        }
      }));
    };
    await write('folded', sizes.changes);
    // Quiet: the logs are folded into snapshot chunks. Then a few more, left in the log by a kill.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await write('logged', 5);
    for (const client of clients.splice(0)) client.close();
    weft.signal('SIGKILL');
    await weft.exit;
    weft = null;

    const before = await storageCheck(join(dir, 'config.json'));
    result.checkBeforeExit = before.code;
    if (before.code !== 0) result.problems.push(`weft storage check on the undamaged store exited ${before.code}: ${before.out.slice(0, 500)}`);

    const damages = await damage(dataDir);
    result.damaged = damages.length;
    ctx.log(`storage-faults: damaged ${damages.map((d) => `project ${d.project} (${d.what})`).join(', ')}`);

    const after = await storageCheck(join(dir, 'config.json'));
    result.checkAfterExit = after.code;
    if (after.code !== 1) result.problems.push(`weft storage check on the damaged store exited ${after.code}, not 1`);
    for (const d of damages) {
      const named = after.out.split('\n').some((line) => line.startsWith(`project ${d.project}: `) && line.includes(new ProjectKeys(d.project).prefix));
      if (named) result.reportedByCheck++;
      else result.problems.push(`weft storage check did not name project ${d.project} (${d.what}): ${after.out.slice(0, 500)}`);
    }
    const spurious = after.out.split('\n').filter((line) => /^project \d+: /.test(line) && !damages.some((d) => line.startsWith(`project ${d.project}: `)));
    if (spurious.length) result.problems.push(`weft storage check reported undamaged projects: ${spurious.slice(0, 3).join(' | ')}`);

    weft = await startWeft({ name: 'weft-corruption', dir, config });
    for (const d of damages) {
      const { client, dataset } = await WireClient.open(weft.url, generationOf(d.project), d.project, LOGIN, PASSWORD);
      // A large project may be served its stored texts first; the load's failure follows.
      const answer = dataset.command === 'error' ? dataset : await client.waitForError(10_000);
      client.close();
      const name = `Project ${d.project} cannot be loaded`;
      const clear = answer !== null && isProtocolError(answer, 'dataset', client.generation) && String(answer.message).includes(name);
      const logged = await inLog(weft, name, 5000);
      if (clear && logged) result.reportedByLoad++;
      else result.problems.push(`project ${d.project} (${d.what}): load answered ${JSON.stringify(answer).slice(0, 300)}; in the log: ${logged ? 'yes' : 'no'}`);
    }
    for (const id of ids.filter((id) => !DAMAGED.includes(id))) {
      const { client, dataset } = await WireClient.open(weft.url, generationOf(id), id, LOGIN, PASSWORD);
      clients.push(client);
      const outcome = dataset.command === 'dataset' ? await client.addTask('after-damage') : null;
      if (outcome?.kind !== 'confirmed') {
        result.othersAffected++;
        result.problems.push(`undamaged project ${id}: ${outcome ? JSON.stringify(outcome).slice(0, 300) : `did not load: ${JSON.stringify(dataset).slice(0, 300)}`}`);
      }
    }
    return result;
  } finally {
    for (const client of clients) client.close();
    if (weft) await weft.stop().catch(() => weft?.signal('SIGKILL'));
  }
}
