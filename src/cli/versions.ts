/** `weft versions`: list, show, diff, create and restore server-side versions of a project. */
import { diffText } from '../history/diff-text.js';
import type { HistoryApi } from '../history/service.js';
import type { VersionMeta } from '../history/versions.js';
import { UsageError, type Command } from './command.js';
import { historyOptionsHelp, parseHistoryArgs } from './history-options.js';
import { processIo, type Io } from './io.js';
import { table } from './table.js';

const SUBCOMMANDS: Record<string, { args: string[]; run: (api: HistoryApi, args: string[], options: { json: boolean; label?: string }, io: Io) => Promise<void> }> = {
  list: { args: ['project'], run: list },
  show: { args: ['project', 'version'], run: show },
  diff: { args: ['project', 'a', 'b'], run: diff },
  create: { args: ['project'], run: create },
  restore: { args: ['project', 'version'], run: restore },
};

function help(): string {
  return [
    'Usage: weft versions <subcommand> [options]',
    '',
    'Server-side versions of a project: full states Weft records on request, automatically',
    '(after a number of changes or minutes of activity) and before every reset and restore.',
    '',
    'Subcommands:',
    '  list <project>                   the versions, oldest first',
    '  show <project> <version>         the project as a dataset (JSON) at that version',
    '  diff <project> <a> <b>           what changed from a to b, record by record',
    '  create <project> [--label L]     record a version of the current state',
    '  restore <project> <version>      bring a version back as one change (the state before is kept as a version)',
    '',
    'A version is its number (or weft-<n>, as clients see it); `current` is the live state.',
    'A project is its id; digits name the numeric project when one is configured.',
    '',
    'Works directly on the data directory, or through the server when one is running on it',
    '(stderr says which).',
    '',
    'Options:',
    historyOptionsHelp(true),
  ].join('\n');
}

export async function runVersions(args: string[], io: Io = processIo): Promise<number> {
  const options = parseHistoryArgs(args, 'versions');
  const [name, ...rest] = options.positionals;
  if (options.help || name === undefined) {
    if (name === undefined && !options.help) throw new UsageError('missing subcommand', 'versions');
    io.out(`${help()}\n`);
    return 0;
  }
  const sub = Object.hasOwn(SUBCOMMANDS, name) ? SUBCOMMANDS[name] : undefined;
  if (!sub) throw new UsageError(`unknown subcommand '${name}'`, 'versions');
  if (rest.length !== sub.args.length) throw new UsageError(`versions ${name} takes ${sub.args.map((a) => `<${a}>`).join(' ')}`, 'versions');
  if (options.label !== undefined && name !== 'create') throw new UsageError('--label is for versions create', 'versions');
  // Loaded lazily so `weft --help` does not pay for LevelDB and Yjs.
  const { openHistory } = await import('./history-target.js');
  const target = await openHistory(await options.config(), io);
  try {
    await sub.run(target.api, rest, options, io);
  } finally {
    await target.close();
  }
  return 0;
}

const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;

async function list(api: HistoryApi, [project]: string[], { json: asJson }: { json: boolean }, io: Io): Promise<void> {
  const versions = await api.list(project);
  if (asJson) return io.out(json(versions));
  if (!versions.length) return io.out('no versions\n');
  const rows = [['n', 'time', 'reason', 'changes', 'revision', 'authors', 'label']];
  for (const v of versions) rows.push([String(v.n), v.time, v.reason, String(v.changes), v.lastRevision ?? '-', v.authors.join(', ') || '-', v.label]);
  io.out(`${table(rows, new Set([0, 3]))}\n`);
}

async function show(api: HistoryApi, [project, version]: string[], _options: unknown, io: Io): Promise<void> {
  io.out(json((await api.show(project, version)).dataset));
}

async function diff(api: HistoryApi, [project, a, b]: string[], { json: asJson }: { json: boolean }, io: Io): Promise<void> {
  const result = await api.diff(project, a, b);
  io.out(asJson ? json(result) : `${diffText(result.diff, result.from, result.to)}\n`);
}

const describe = (v: VersionMeta) => `version ${v.n} "${v.label}" (${v.time})`;

async function create(api: HistoryApi, [project]: string[], { json: asJson, label }: { json: boolean; label?: string }, io: Io): Promise<void> {
  const version = await api.create(project, label);
  io.out(asJson ? json(version) : `created ${describe(version)}\n`);
}

async function restore(api: HistoryApi, [project, version]: string[], { json: asJson }: { json: boolean }, io: Io): Promise<void> {
  const result = await api.restore(project, version);
  if (asJson) return io.out(json(result));
  const how = result.revision ? `as revision ${result.revision}` : 'with no change (the project already was in that state)';
  io.out(`restored ${describe(result.restored)} ${how}; the state before is kept as ${describe(result.before)}\n`);
}

export const versions: Command = { summary: 'list, show, diff, create and restore project versions', help, run: (args) => runVersions(args) };
