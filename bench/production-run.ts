/**
 * The production-shape part of `npm run bench`: many projects with a few clients each, and a join
 * storm on one project, on Weft, the bare relay and the relay keeping Yjs documents (D2), side by
 * side in one run, so the ratios are taken on the same machine state.
 */
import { join } from 'node:path';
import { closeAll } from './client.js';
import type { ServerProcess } from './processes.js';
import { highestRate, joinStorm, manyProjects, writeManyProjects, RATE_P99_MS, type JoinFigures, type ManyFigures, type RateFigures } from './production.js';
import { BenchClient } from './client.js';

export interface ProductionOptions {
  tempRoot: string;
  projects: number;
  perProject: number;
  tasks: number;
  seconds: number;
  intervalMs: number;
  joiners: number;
  timeoutMs: number;
  log: (m: string) => void;
  startWeft(configFile: string, dataDir: string, tag: string): Promise<ServerProcess>;
  startRelay(configFile: string, projects: number[], persistDir?: string, yjs?: boolean): Promise<ServerProcess>;
  withServer<T>(start: Promise<ServerProcess>, body: (s: ServerProcess) => Promise<T>): Promise<{ result: T; stopMs: number }>;
}

export interface ProductionResults {
  shape: { projects: number; perProject: number; tasks: number; seconds: number; joiners: number };
  many: { weft: ManyFigures; relay: ManyFigures; yjs: ManyFigures };
  join: { weft: JoinFigures; relay: JoinFigures };
  rate: { weft: RateFigures; relay: RateFigures };
}

export async function benchProduction(o: ProductionOptions): Promise<ProductionResults> {
  const { configFile, ids } = writeManyProjects(o.tempRoot, o.projects, o.tasks);
  const dataDir = join(o.tempRoot, 'weft-many');
  const run = (server: ServerProcess) => manyProjects(server, ids, o.perProject, o.seconds, o.intervalMs, o.timeoutMs);
  const storm = async (server: ServerProcess) => {
    const { clients_, ...figures } = await joinStorm(server, ids[0], o.joiners, o.timeoutMs);
    await closeAll(clients_);
    return figures;
  };

  o.log(`production shape: Weft stores ${o.projects} projects of ${o.tasks} tasks (first start, one load each)`);
  await o.withServer(o.startWeft(configFile, dataDir, 'many-seed'), async (server) => {
    for (const id of ids) {
      const client = await BenchClient.connect(server.url, o.timeoutMs);
      await client.login('seeder', '', o.timeoutMs);
      await client.loadDataset(id, o.timeoutMs);
      await client.close();
    }
  });

  const describe = (f: ManyFigures) =>
    `joined in ${f.joinMs.toFixed(0)} ms; p50 ${f.p50.toFixed(2)} ms, p99 ${f.p99.toFixed(2)} ms, max ${f.max.toFixed(1)} ms, ${f.received}/${f.expected} delivered, CPU ${f.cpuPct.toFixed(1)}%, RSS ${f.rssMb.toFixed(0)} MB (${f.settledRssMb.toFixed(0)} MB after GC); slowest (ms, sent at s): ${f.slowest.map((x) => `${x.latency.toFixed(0)}@${(x.sentMs / 1000).toFixed(1)}`).join(' ')}`;
  o.log(`production shape: ${o.projects} x ${o.perProject} clients on the relay`);
  const relay = (await o.withServer(o.startRelay(configFile, ids), run)).result;
  o.log(`relay: ${describe(relay)}`);
  o.log(`production shape: the same on the relay keeping Yjs documents and writing to LevelDB (D2)`);
  const yjs = (await o.withServer(o.startRelay(configFile, ids, join(o.tempRoot, 'relay-many-yjs'), true), run)).result;
  o.log(`relay+Yjs+LevelDB: ${describe(yjs)}`);
  o.log(`production shape: the same on Weft, restarted (projects stored, none loaded)`);
  const weft = (await o.withServer(o.startWeft(configFile, dataDir, 'many'), run)).result;
  o.log(`Weft: ${describe(weft)}`);

  o.log(`join storm: ${o.joiners} clients join project ${ids[0]} (${o.tasks} tasks) at once`);
  const relayJoin = (await o.withServer(o.startRelay(configFile, [ids[0]]), storm)).result;
  const weftJoin = (await o.withServer(o.startWeft(configFile, dataDir, 'join'), storm)).result;
  o.log(`join storm: relay ${relayJoin.ms.toFixed(0)} ms (CPU ${relayJoin.cpuMs.toFixed(0)} ms), Weft ${weftJoin.ms.toFixed(0)} ms (CPU ${weftJoin.cpuMs.toFixed(0)} ms)`);

  o.log(`highest rate: one project, ${RATE_RECEIVERS} receivers, rising rates until p99 >= ${RATE_P99_MS} ms or a change is missing`);
  const rateOf = (server: ServerProcess) => highestRate(server, ids[1], RATE_RECEIVERS, o.timeoutMs, o.log);
  const relayRate = (await o.withServer(o.startRelay(configFile, [ids[1]]), rateOf)).result;
  const weftRate = (await o.withServer(o.startWeft(configFile, dataDir, 'rate'), rateOf)).result;

  return {
    shape: { projects: o.projects, perProject: o.perProject, tasks: o.tasks, seconds: o.seconds, joiners: o.joiners },
    many: { weft, relay, yjs },
    join: { weft: weftJoin, relay: relayJoin },
    rate: { weft: weftRate, relay: relayRate },
  };
}

/** Receivers of the highest-rate scenario. */
const RATE_RECEIVERS = 10;

const ratio = (a: number, b: number) => a / b;
const verdict = (value: number, target: number) => (value <= target ? 'PASS' : 'FAIL');

/** The production-shape table: each figure with its ratio to the relay, the target and PASS/FAIL. */
export function productionReport(r: ProductionResults): string {
  const { weft, relay, yjs } = r.many;
  const rows: string[][] = [['', 'relay', 'Weft', 'Weft/relay', 'target', '']];
  const add = (name: string, w: number, rl: number, digits: number, target?: number, unit = '') => {
    const x = ratio(w, rl);
    rows.push([name, `${rl.toFixed(digits)}${unit}`, `${w.toFixed(digits)}${unit}`, `${x.toFixed(2)}x`, target === undefined ? '' : `<= ${target}x`, target === undefined ? '' : verdict(x, target)]);
  };
  const s = r.shape;
  add(`${s.projects} x ${s.perProject} clients: all connected, logged in, loaded (ms)`, weft.joinMs, relay.joinMs, 0, 3);
  add(`then 1 change/s each for ${s.seconds} s: p50 delivery (ms)`, weft.p50, relay.p50, 2);
  add('  p99 delivery (ms)', weft.p99, relay.p99, 2, 10);
  add('  max delivery (ms)', weft.max, relay.max, 1);
  rows.push(['  delivered / expected', `${relay.received}/${relay.expected}`, `${weft.received}/${weft.expected}`, '', '', weft.received === weft.expected ? '' : 'FAIL']);
  add('  server CPU (% of a core)', weft.cpuPct, relay.cpuPct, 1, 2.5);
  const xy = weft.cpuPct / yjs.cpuPct;
  rows.push(['  server CPU vs the Yjs relay (D2)', `${yjs.cpuPct.toFixed(1)} (D2)`, weft.cpuPct.toFixed(1), `${xy.toFixed(2)}x`, '<= 1.3x', verdict(xy, 1.3)]);
  add('  server RSS at the end (MB)', weft.rssMb, relay.rssMb, 0, 2);
  add('  server RSS 2 s after a full GC (MB)', weft.settledRssMb, relay.settledRssMb, 0, 2);
  // The floor a server keeping Yjs documents and storing every update starts from, in the same run.
  const floor = (name: string, d2: number, rl: number, digits: number) => rows.push([`  D2 alone: ${name}`, rl.toFixed(digits), `${d2.toFixed(digits)} (D2)`, `${ratio(d2, rl).toFixed(2)}x`, '', '']);
  floor('all joined (ms)', yjs.joinMs, relay.joinMs, 0);
  floor('p99 delivery (ms)', yjs.p99, relay.p99, 2);
  floor('server CPU (% of a core)', yjs.cpuPct, relay.cpuPct, 1);
  floor('RSS 2 s after a full GC (MB)', yjs.settledRssMb, relay.settledRssMb, 0);
  add(`${s.joiners} clients join one ${s.tasks}-task project at once (ms)`, r.join.weft.ms, r.join.relay.ms, 0, 2);
  add('  server CPU for it (ms)', r.join.weft.cpuMs, r.join.relay.cpuMs, 0);
  const rates = ratio(r.rate.weft.best, r.rate.relay.best);
  rows.push([`one project, ${r.rate.weft.receivers} receivers: highest rate with p99 < ${RATE_P99_MS} ms (changes/s)`, String(r.rate.relay.best), String(r.rate.weft.best), `${rates.toFixed(2)}x`, '>= 0.5x', rates >= 0.5 ? 'PASS' : 'FAIL']);
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  const lines = rows.map((row) => row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('   '));
  return [`Production shape (${s.projects} projects of ${s.tasks} tasks; D2 = relay keeping Yjs documents and writing to LevelDB)`, ...lines].join('\n');
}
