/**
 * Full disk: a Weft server keeps its LevelDB on a small tmpfs while classic and revisions clients
 * add tasks; the tmpfs is filled, then freed. Rules: changes while full are refused in the
 * protocol's error shape, nobody is told of a change that is not stored (every task any client
 * saw broadcast is there after a kill -9 and a restart), a new client can load while full, and
 * writes are accepted again once the space is back.
 */
import { join } from 'node:path';
import type { PartContext } from './part.js';
import { startWeft, type Weft } from './weft-process.js';
import { mountTmpfs } from './storage-tmpfs.js';
import { WireClient, isProtocolError, taskNames, type Generation } from './storage-client.js';

export const LOGIN = 'writer';
export const PASSWORD = 'writer-secret';

export interface FullDiskResult {
  refusedWhileFull: number;
  confirmedWhileFull: number;
  /** Refusals not in the protocol's error shape, or whose message does not name the storage failure. */
  unclearRefusals: string[];
  toldNotStored: string[];
  confirmedChecked: number;
  readsWhileFull: boolean;
  writesAfterFree: number;
  writesAfterFreeTried: number;
  problems: string[];
}

export interface FullDiskSizes {
  clientsPerGeneration: number;
  before: number;
  whileFull: number;
  after: number;
  megabytes: number;
}

/** The message of a refusal says the change was not stored, and why. */
const CLEAR_STORAGE_ERROR = /not stored|cannot (write|store)/i;

export async function runFullDisk(ctx: PartContext, sizes: FullDiskSizes): Promise<FullDiskResult | { notRun: string }> {
  const mountDir = join(ctx.workDir, 'full-disk');
  const tmpfs = mountTmpfs(mountDir, sizes.megabytes);
  if ('error' in tmpfs) return { notRun: `cannot mount a tmpfs (${tmpfs.error})` };
  const dir = join(mountDir, 'server');
  const config = {
    projects: [{ id: 1, name: 'Full disk' }],
    users: { [LOGIN]: { password: PASSWORD, group: 'writers' } },
    groups: { writers: [1] },
    anonymous: { enabled: false },
    heartbeatSeconds: 0,
  };
  const result: FullDiskResult = { refusedWhileFull: 0, confirmedWhileFull: 0, unclearRefusals: [], toldNotStored: [], confirmedChecked: 0, readsWhileFull: false, writesAfterFree: 0, writesAfterFreeTried: 0, problems: [] };
  let weft: Weft | null = null;
  const clients: WireClient[] = [];
  try {
    weft = await startWeft({ name: 'weft-full-disk', dir, config });
    let exited = false;
    void weft.exit.then(() => (exited = true));
    const generations: Generation[] = [];
    for (let i = 0; i < sizes.clientsPerGeneration; i++) generations.push('classic', 'revisions');
    for (const generation of generations) {
      const { client, dataset } = await WireClient.open(weft.url, generation, 1, LOGIN, PASSWORD);
      clients.push(client);
      if (dataset.command !== 'dataset') throw new Error(`dataset refused before the disk was full: ${JSON.stringify(dataset)}`);
    }
    // Every client writes, one change at a time each, all at once.
    const writeRound = (label: string, count: number) =>
      Promise.all(clients.map(async (client, c) => {
        const outcomes = [];
        for (let i = 0; i < count; i++) outcomes.push({ client, outcome: await client.addTask(`${label}-${c}-${i}`) });
        return outcomes;
      })).then((lists) => lists.flat());

    for (const { outcome } of await writeRound('before', sizes.before)) {
      if (outcome.kind !== 'confirmed') result.problems.push(`a change before the disk was full was not confirmed: ${JSON.stringify(outcome)}`);
    }
    // Fill while the clients write: some changes land before the disk is full, the rest after.
    const during = writeRound('full', sizes.whileFull);
    const filled = tmpfs.fill();
    ctx.log(`storage-faults: tmpfs of ${sizes.megabytes} MB filled (${Math.round(filled / 1024)} KB of filler)`);
    for (const { client, outcome } of await during) {
      if (outcome.kind === 'confirmed') result.confirmedWhileFull++;
      else if (outcome.kind === 'refused') {
        result.refusedWhileFull++;
        const command = client.generation === 'classic' ? 'projectChange' : 'project_change';
        // Clear: the protocol's shape, saying it was not stored, without the server's paths.
        if (!isProtocolError(outcome.reply, command, client.generation) || !CLEAR_STORAGE_ERROR.test(outcome.message) || outcome.message.includes(mountDir)) result.unclearRefusals.push(JSON.stringify(outcome.reply));
      } else result.problems.push(`a change while the disk was full got no answer: ${outcome.message}`);
    }
    // A change now, with the disk surely full, must be refused too.
    const probe = await clients[0].addTask('full-probe');
    if (probe.kind === 'refused') result.refusedWhileFull++;
    else if (probe.kind === 'confirmed') result.confirmedWhileFull++;
    else result.problems.push(`a change on a full disk got no answer: ${probe.message}`);
    if (exited) throw new Error(`the server exited while the disk was full:\n${weft.process.stderrTail()}`);

    // Reads go on: a new client of each generation loads the project.
    result.readsWhileFull = true;
    for (const generation of ['classic', 'revisions'] as const) {
      const { client, dataset } = await WireClient.open(weft.url, generation, 1, LOGIN, PASSWORD).catch((e: Error) => ({ client: null, dataset: { command: 'error', message: e.message } }));
      client?.close();
      if (dataset.command !== 'dataset') {
        result.readsWhileFull = false;
        result.problems.push(`a ${generation} client could not load while the disk was full: ${JSON.stringify(dataset).slice(0, 300)}`);
      }
    }

    tmpfs.free();
    for (const { outcome } of await writeRound('after', sizes.after)) {
      result.writesAfterFreeTried++;
      if (outcome.kind === 'confirmed') result.writesAfterFree++;
      else if (result.problems.length < 5) result.problems.push(`a change after the space was back was not stored: ${JSON.stringify(outcome).slice(0, 300)}`);
    }

    // Whatever anyone was told is on disk: kill -9, start again, load.
    const told = new Set<string>();
    for (const client of clients) for (const name of client.seen.keys()) told.add(name);
    for (const client of clients.splice(0)) client.close();
    weft.signal('SIGKILL');
    await weft.exit;
    weft = await startWeft({ name: 'weft-full-disk', dir, config });
    const { client, dataset } = await WireClient.open(weft.url, 'revisions', 1, LOGIN, PASSWORD);
    client.close();
    if (dataset.command !== 'dataset') throw new Error(`the project does not load after the restart: ${JSON.stringify(dataset).slice(0, 300)}`);
    const stored = taskNames(dataset);
    result.confirmedChecked = told.size;
    result.toldNotStored = [...told].filter((name) => !stored.has(name));
    return result;
  } finally {
    for (const client of clients) client.close();
    if (weft) await weft.stop().catch(() => weft?.signal('SIGKILL'));
    tmpfs.unmount();
  }
}
