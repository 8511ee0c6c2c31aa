/** `weft simulate`: random concurrent editing by simulated clients, then a convergence check. */
import { parseArgs } from 'node:util';
import { UsageError, isParseArgsError, type Command } from './command.js';
import { columns } from './help.js';
import type { ClientKind } from '../simulate/client.js';

const OPTIONS = {
  url: { type: 'string', multiple: true },
  project: { type: 'string' },
  clients: { type: 'string' },
  mix: { type: 'string' },
  duration: { type: 'string' },
  'offline-rate': { type: 'string' },
  rate: { type: 'string' },
  seed: { type: 'string' },
  login: { type: 'string' },
  password: { type: 'string' },
  quiet: { type: 'string' },
  'settle-timeout': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

function help(): string {
  return [
    'Usage: weft simulate --url ws://HOST:PORT --project ID [--clients N] [--mix classic=N,revisions=N,yjs=N]',
    '                     [--duration S] [--offline-rate P] [--rate R] [--seed N] [--login NAME --password PW] [--json]',
    '',
    'Connects simulated clients to a running server: classic (projectChange), revisions',
    '(project_change with catch_up) and Yjs peers (y-websocket at /yjs/<project>). They make random',
    'edits on one project (add, rename, progress, duration, move, reorder, link, assign, delete),',
    'go offline and come back; then all reconnect, and once nothing moves any more every client',
    "is compared with a fresh load of the server's state, which must also be a valid project.",
    'The project is changed for real: point it at a project you can spare.',
    '',
    'Options:',
    columns([
      ['--url <ws-url>', 'server address, e.g. ws://127.0.0.1:8080 (required); give it again for each node of a cluster: clients are spread over them and every node must serve the same state'],
      ['--project <id>', 'project id; digits are sent as a number (required)'],
      ['--clients <n>', 'number of clients (default: the sum of --mix, else 6)'],
      ['--mix <kinds>', 'clients per kind, e.g. classic=2,revisions=2,yjs=2 (default: spread evenly)'],
      ['--duration <s>', 'seconds of editing (default 20)'],
      ['--offline-rate <p>', 'chance per client per second of going offline for 0.5-3 s (default 0)'],
      ['--rate <r>', 'edits per client per second, on average (default 2)'],
      ['--seed <n>', 'seed of the random edits (default: random, printed in the report)'],
      ['--login <name>', 'login of every client (default admin)'],
      ['--password <pw>', 'password (default: the login for admin/alex/ben, else empty)'],
      ['--quiet <ms>', 'silence that counts as settled after the run (default 1000)'],
      ['--settle-timeout <s>', 'longest wait for the clients to settle (default 30)'],
      ['--json', 'print the report as JSON (progress goes to stderr)'],
      ['-h, --help', 'show this help'],
    ]),
    '',
    'Exit status: 0 converged and valid, 1 divergence or invalid project (or the run failed), 2 usage error.',
  ].join('\n');
}

export interface SimulateArgs {
  url: string;
  moreUrls: string[];
  project: string | number;
  mix: Record<ClientKind, number>;
  durationSeconds: number;
  offlineRate: number;
  rate: number;
  seed: number;
  login: string;
  password?: string;
  quietMs: number;
  settleTimeoutMs: number;
  json: boolean;
}

function number(flag: string, raw: string | undefined, fallback: number, check: (n: number) => boolean, expected: string): number {
  if (raw === undefined) return fallback;
  const n = raw.trim() === '' ? NaN : Number(raw);
  if (!Number.isFinite(n) || !check(n)) throw new UsageError(`--${flag}: expected ${expected}, got "${raw}"`, 'simulate');
  return n;
}

function parseMix(raw: string): Record<ClientKind, number> {
  const mix: Record<ClientKind, number> = { classic: 0, revisions: 0, yjs: 0 };
  for (const part of raw.split(',')) {
    const match = /^\s*(classic|revisions|yjs)\s*=\s*(\d+)\s*$/.exec(part);
    if (!match) throw new UsageError(`--mix: expected kind=count pairs of classic, revisions, yjs (e.g. classic=2,yjs=1), got "${raw}"`, 'simulate');
    mix[match[1] as ClientKind] += Number(match[2]);
  }
  return mix;
}

export function parseSimulateArgs(args: string[]): SimulateArgs | 'help' {
  let values;
  try {
    ({ values } = parseArgs({ args, options: OPTIONS, strict: true, allowPositionals: false }));
  } catch (error) {
    if (isParseArgsError(error)) throw new UsageError(error.message, 'simulate');
    throw error;
  }
  if (values.help) return 'help';
  if (!values.url?.length) throw new UsageError('--url is required (e.g. --url ws://127.0.0.1:8080)', 'simulate');
  for (const url of values.url) if (!/^wss?:\/\/[^/]+/.test(url)) throw new UsageError(`--url: expected a ws:// or wss:// address, got "${url}"`, 'simulate');
  const [url, ...moreUrls] = values.url.map((u) => u.replace(/\/+$/, ''));
  if (values.project === undefined || values.project === '') throw new UsageError('--project is required', 'simulate');
  const project = /^\d+$/.test(values.project) ? Number(values.project) : values.project;

  const clients = values.clients === undefined ? undefined : number('clients', values.clients, 0, (n) => Number.isInteger(n) && n >= 1 && n <= 200, 'an integer from 1 to 200');
  let mix: Record<ClientKind, number>;
  if (values.mix !== undefined) {
    mix = parseMix(values.mix);
    const sum = mix.classic + mix.revisions + mix.yjs;
    if (sum === 0) throw new UsageError('--mix: at least one client is needed', 'simulate');
    if (clients !== undefined && clients !== sum) throw new UsageError(`--clients ${clients} does not match --mix, which adds up to ${sum}`, 'simulate');
  } else {
    const n = clients ?? 6;
    const base = Math.floor(n / 3);
    const rest = n % 3;
    mix = { classic: base + (rest > 0 ? 1 : 0), revisions: base + (rest > 1 ? 1 : 0), yjs: base };
  }
  const login = values.login ?? 'admin';
  return {
    url,
    moreUrls,
    project,
    mix,
    durationSeconds: number('duration', values.duration, 20, (n) => n > 0 && n <= 86_400, 'a number of seconds above 0'),
    offlineRate: number('offline-rate', values['offline-rate'], 0, (n) => n >= 0 && n <= 1, 'a number from 0 to 1'),
    rate: number('rate', values.rate, 2, (n) => n > 0 && n <= 1000, 'a positive number'),
    seed: number('seed', values.seed, Math.floor(Math.random() * 2 ** 31), (n) => Number.isInteger(n) && n >= 0, 'a non-negative integer'),
    login,
    password: values.password ?? (['admin', 'alex', 'ben'].includes(login) ? login : undefined),
    quietMs: number('quiet', values.quiet, 1000, (n) => n >= 0, 'milliseconds'),
    settleTimeoutMs: number('settle-timeout', values['settle-timeout'], 30, (n) => n > 0, 'seconds') * 1000,
    json: values.json === true,
  };
}

async function runSimulate(args: string[]): Promise<number> {
  const parsed = parseSimulateArgs(args);
  if (parsed === 'help') {
    process.stdout.write(`${help()}\n`);
    return 0;
  }
  // Loaded here so `weft --help` does not pay for the simulation's dependencies.
  const { Simulation } = await import('../simulate/runner.js');
  const { buildReport, formatReport } = await import('../simulate/report.js');
  const progressOut = parsed.json ? process.stderr : process.stdout;
  const sim = await Simulation.start({
    url: parsed.url,
    moreUrls: parsed.moreUrls,
    project: parsed.project,
    mix: parsed.mix,
    login: parsed.login,
    password: parsed.password,
    seed: parsed.seed,
    rate: parsed.rate,
    offlineRate: parsed.offlineRate,
    quietMs: parsed.quietMs,
    settleTimeoutMs: parsed.settleTimeoutMs,
  });
  try {
    await sim.run(parsed.durationSeconds * 1000, (p) =>
      progressOut.write(`[${(p.elapsedMs / 1000).toFixed(1).padStart(6)} s] ops ${p.ops}, messages ${p.messages}, online ${p.online}/${p.clients}\n`),
    );
    progressOut.write('settling: all clients back online, waiting for quiet...\n');
    const outcome = await sim.check();
    const report = buildReport(
      { url: [parsed.url, ...parsed.moreUrls].join(' '), project: parsed.project, seed: parsed.seed, durationSeconds: parsed.durationSeconds, mix: parsed.mix, offlineRate: parsed.offlineRate },
      sim.summaries(),
      outcome,
      sim.observer.stats.messages,
    );
    process.stdout.write(parsed.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatReport(report)}\n`);
    return report.converged && report.valid ? 0 : 1;
  } finally {
    await sim.close();
  }
}

export const simulate: Command = { summary: 'simulate concurrent clients and check that they converge', help, run: runSimulate };
