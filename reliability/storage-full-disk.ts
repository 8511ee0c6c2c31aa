/**
 * Full disk: a Weft server keeps its LevelDB on a small tmpfs while classic and revisions clients
 * add tasks; the tmpfs is filled, then freed. Rules: changes while full are refused in the
 * protocol's error shape, nobody is told of a change that is not stored (every task any client
 * saw broadcast is there after a kill -9 and a restart), a new client can load while full, and
 * writes are accepted again once the space is back.
 */
import { join } from 'node:path';
import type { PartContext } from './part.js';
import { startWeft } from './weft-process.js';
import { mountTmpfs } from './storage-tmpfs.js';
import { injectFullDisk, startInProcess } from './storage-injection.js';
import { WireClient, isProtocolError, taskNames, type Generation } from './storage-client.js';

export const LOGIN = 'writer';
export const PASSWORD = 'writer-secret';

export interface FullDiskResult {
  /** What filled the disk: a tmpfs, or faults injected in process. */
  rig: string;
  refusedWhileFull: number;
  confirmedWhileFull: number;
  /** Refusals not in the protocol's error shape, or whose message does not name the storage failure. */
  unclearRefusals: string[];
  toldNotStored: string[];
  confirmedChecked: number;
  readsWhileFull: boolean;
  writesAfterFree: number;
  writesAfterFreeTried: number;
  /** Errors of the server that escaped every handler. */
  escaped: string[];
  problems: string[];
}

export interface FullDiskSizes {
  clientsPerGeneration: number;
  before: number;
  whileFull: number;
  after: number;
  megabytes: number;
  /** Inject the faults in process even where a tmpfs can be mounted. */
  inject: boolean;
}

/** A running server of a rig: where it listens, whether it died, how it ends. */
interface RigServer {
  url: string;
  exited(): boolean;
  /** The end of its log, for a report. */
  logTail(): string;
  /** Errors that escaped every handler (rejections nobody awaited), so far. */
  escaped(): string[];
  /** End it the hardest way the rig has (kill -9 for a child process). */
  crash(): Promise<void>;
  stop(): Promise<void>;
}

/** Where the disk fills: a real tmpfs under a child process, or injected faults in process. */
interface Rig {
  name: string;
  /** A path of the server's that must not reach clients. */
  hidden: string;
  start(): Promise<RigServer>;
  fill(): void;
  free(): void;
  dispose(): void;
}

const CONFIG = {
  projects: [{ id: 1, name: 'Full disk' }],
  users: { [LOGIN]: { password: PASSWORD, group: 'writers' } },
  groups: { writers: [1] },
  anonymous: { enabled: false },
  heartbeatSeconds: 0,
};

function tmpfsRig(ctx: PartContext, megabytes: number): Rig | string {
  const mountDir = join(ctx.workDir, 'full-disk');
  const tmpfs = mountTmpfs(mountDir, megabytes);
  if ('error' in tmpfs) return tmpfs.error;
  const dir = join(mountDir, 'server');
  return {
    name: `tmpfs of ${megabytes} MB`,
    hidden: mountDir,
    start: async () => {
      const weft = await startWeft({ name: 'weft-full-disk', dir, config: CONFIG });
      let exited = false;
      void weft.exit.then(() => (exited = true));
      return {
        url: weft.url,
        exited: () => exited,
        logTail: () => weft.process.stderrTail(),
        // `weft serve` logs them and goes on (src/cli/serve.ts).
        escaped: () => weft.process.stderrTail(400).split('\n').filter((line) => /^weft: (unhandled rejection|uncaught exception)/.test(line)),
        crash: async () => {
          weft.signal('SIGKILL');
          await weft.exit;
        },
        stop: () => weft.stop().catch(() => void weft.signal('SIGKILL')),
      };
    },
    fill: () => ctx.log(`storage-faults: tmpfs filled (${Math.round(tmpfs.fill() / 1024)} KB of filler)`),
    free: () => tmpfs.free(),
    dispose: () => tmpfs.unmount(),
  };
}

function injectedRig(ctx: PartContext): Rig {
  const dir = join(ctx.workDir, 'full-disk-injected');
  const disk = injectFullDisk();
  const escaped: string[] = [];
  const note = (e: unknown) => void escaped.push(`unhandled rejection: ${e instanceof Error ? e.message : String(e)}`);
  process.on('unhandledRejection', note);
  return {
    name: 'in-process fault injection',
    hidden: dir,
    start: async () => {
      const weft = await startInProcess(dir, CONFIG);
      return { url: weft.url, exited: () => false, logTail: () => '', escaped: () => escaped, crash: () => weft.stop(), stop: () => weft.stop() };
    },
    fill: () => disk.fill(),
    free: () => disk.free(),
    dispose: () => {
      disk.restore();
      process.off('unhandledRejection', note);
    },
  };
}

/** The message of a refusal says the change was not stored, and why. */
const CLEAR_STORAGE_ERROR = /not stored|cannot (write|store)/i;

export async function runFullDisk(ctx: PartContext, sizes: FullDiskSizes): Promise<FullDiskResult> {
  const tmpfs = sizes.inject ? 'not tried (inject set)' : tmpfsRig(ctx, sizes.megabytes);
  if (typeof tmpfs === 'string') ctx.log(`storage-faults: no tmpfs (${tmpfs}): faults injected in process instead`);
  const rig = typeof tmpfs === 'string' ? injectedRig(ctx) : tmpfs;
  const result: FullDiskResult = { rig: rig.name, refusedWhileFull: 0, confirmedWhileFull: 0, unclearRefusals: [], toldNotStored: [], confirmedChecked: 0, readsWhileFull: false, writesAfterFree: 0, writesAfterFreeTried: 0, escaped: [], problems: [] };
  let weft: RigServer | null = null;
  const clients: WireClient[] = [];
  try {
    weft = await rig.start();
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
    rig.fill();
    for (const { client, outcome } of await during) {
      if (outcome.kind === 'confirmed') result.confirmedWhileFull++;
      else if (outcome.kind === 'refused') {
        result.refusedWhileFull++;
        const command = client.generation === 'classic' ? 'projectChange' : 'project_change';
        // Clear: the protocol's shape, saying it was not stored, without the server's paths.
        if (!isProtocolError(outcome.reply, command, client.generation) || !CLEAR_STORAGE_ERROR.test(outcome.message) || outcome.message.includes(rig.hidden)) result.unclearRefusals.push(JSON.stringify(outcome.reply));
      } else result.problems.push(`a change while the disk was full got no answer: ${outcome.message}`);
    }
    // A change now, with the disk surely full, must be refused too.
    const probe = await clients[0].addTask('full-probe');
    if (probe.kind === 'refused') result.refusedWhileFull++;
    else if (probe.kind === 'confirmed') result.confirmedWhileFull++;
    else result.problems.push(`a change on a full disk got no answer: ${probe.message}`);
    if (weft.exited()) throw new Error(`the server exited while the disk was full:\n${weft.logTail()}`);

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

    rig.free();
    for (const { outcome } of await writeRound('after', sizes.after)) {
      result.writesAfterFreeTried++;
      if (outcome.kind === 'confirmed') result.writesAfterFree++;
      else if (result.problems.length < 5) result.problems.push(`a change after the space was back was not stored: ${JSON.stringify(outcome).slice(0, 300)}`);
    }

    result.escaped = weft.escaped();
    // Whatever anyone was told is on disk: kill -9, start again, load.
    const told = new Set<string>();
    for (const client of clients) for (const name of client.seen.keys()) told.add(name);
    for (const client of clients.splice(0)) client.close();
    await weft.crash();
    weft = null;
    weft = await rig.start();
    const { client, dataset } = await WireClient.open(weft.url, 'revisions', 1, LOGIN, PASSWORD);
    client.close();
    if (dataset.command !== 'dataset') throw new Error(`the project does not load after the restart: ${JSON.stringify(dataset).slice(0, 300)}`);
    const stored = taskNames(dataset);
    result.confirmedChecked = told.size;
    result.toldNotStored = [...told].filter((name) => !stored.has(name));
    return result;
  } finally {
    for (const client of clients) client.close();
    if (weft) await weft.stop();
    rig.dispose();
  }
}
