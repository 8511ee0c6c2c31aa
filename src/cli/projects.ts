/** `weft projects`: list, create, import, export, rename and delete projects. */
import { readFile, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { defaultConfig } from '../config/defaults.js';
import { loadConfig } from '../config/load.js';
import type { ProjectId } from '../protocol/schemas.js';
import type { NewProject, ProjectsApi } from '../projects/service.js';
import { UsageError, isParseArgsError, type Command } from './command.js';
import { columns } from './help.js';
import { processIo, type Io } from './io.js';
import { table } from './table.js';

const OPTIONS = {
  'data-dir': { type: 'string' },
  config: { type: 'string' },
  json: { type: 'boolean' },
  name: { type: 'string' },
  ids: { type: 'string' },
  'string-id': { type: 'boolean' },
  version: { type: 'string' },
  out: { type: 'string', short: 'o' },
  yes: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = { json?: boolean; name?: string; ids?: string; 'string-id'?: boolean; version?: string; out?: string; yes?: boolean };

interface Sub {
  args: string[];
  /** Options it takes besides --data-dir, --config, --json. */
  options: (keyof Values)[];
  run(api: ProjectsApi, args: string[], values: Values, io: Io): Promise<void>;
}

const SUBCOMMANDS: Record<string, Sub> = {
  list: { args: [], options: [], run: list },
  create: { args: ['id'], options: ['name', 'ids', 'string-id'], run: create },
  import: { args: ['id', 'file'], options: ['name', 'ids', 'string-id'], run: importProject },
  export: { args: ['project'], options: ['version', 'out'], run: exportProject },
  rename: { args: ['project', 'name'], options: [], run: rename },
  delete: { args: ['project'], options: ['yes'], run: remove },
};

function help(): string {
  return [
    'Usage: weft projects <subcommand> [options]',
    '',
    'The projects of a data directory. The configured `projects` seed a fresh data directory;',
    'after that the list lives in the data directory, and these commands change it.',
    '',
    'Subcommands:',
    columns([
      ['list', 'every project: id, name, created, loaded'],
      ['create <id> [--name N]', 'a new empty project'],
      ['import <id> <file> [--name N]', 'a new project from a JSON file (- for stdin): a Bryntum dataset (as a'],
      ['', '`dataset` reply holds it, or `project.loadInlineData()` takes it), a demo-server'],
      ['', 'project file, or a CrudManager load response; ids, fields and tree order are kept'],
      ['export <project> [--version V] [-o F]', 'the project (or version V) as a dataset that import and'],
      ['', '`project.loadInlineData()` read; to stdout unless -o'],
      ['rename <project> <name>', 'give the project another name (its id stays)'],
      ['delete <project> --yes', 'delete the project and all its history; its clients are told'],
    ]),
    '',
    'A new project id of digits is a number (as clients will send it) unless --string-id.',
    'Works directly on the data directory, or through the server when one is running on it',
    '(stderr says which).',
    '',
    'Options:',
    columns([
      ['--data-dir <dir>', `database directory (default ${defaultConfig().dataDir}, as for serve)`],
      ['--config <file>', 'JSON config file, as for serve'],
      ['--name <text>', 'name of the new project (create, import; default: its id)'],
      ['--ids number|prefixed', 'ids the server gives new records: numbers, or <store>-<n> (default number)'],
      ['--string-id', 'the new project id is a string even when it is digits'],
      ['--version <ref>', 'export this version (a number, weft-<n>, or current)'],
      ['-o, --out <file>', 'write the export to a file'],
      ['--yes', 'confirm a delete'],
      ['--json', 'print JSON instead of text'],
      ['-h, --help', 'show this help'],
    ]),
  ].join('\n');
}

export async function runProjects(args: string[], io: Io = processIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args, options: OPTIONS, strict: true, allowPositionals: true });
  } catch (error) {
    if (isParseArgsError(error)) throw new UsageError(error.message, 'projects');
    throw error;
  }
  const { values, positionals } = parsed;
  const [name, ...rest] = positionals;
  if (values.help || name === undefined) {
    if (name === undefined && !values.help) throw new UsageError('missing subcommand', 'projects');
    io.out(`${help()}\n`);
    return 0;
  }
  const sub = Object.hasOwn(SUBCOMMANDS, name) ? SUBCOMMANDS[name] : undefined;
  if (!sub) throw new UsageError(`unknown subcommand '${name}'`, 'projects');
  if (rest.length !== sub.args.length) throw new UsageError(`projects ${name} takes ${sub.args.map((a) => `<${a}>`).join(' ') || 'no arguments'}`, 'projects');
  for (const option of ['name', 'ids', 'string-id', 'version', 'out', 'yes'] as const) {
    if (values[option] !== undefined && !sub.options.includes(option)) throw new UsageError(`--${option} is not an option of projects ${name}`, 'projects');
  }
  if (values.ids !== undefined && values.ids !== 'number' && values.ids !== 'prefixed') throw new UsageError(`--ids: expected number or prefixed, got "${values.ids}"`, 'projects');
  if (name === 'delete' && !values.yes) throw new UsageError(`projects delete removes the project and all its history: add --yes to confirm`, 'projects');
  const dataDir = values['data-dir'];
  const config = await loadConfig({ file: values.config, flags: dataDir === undefined ? {} : { dataDir } });
  // Loaded lazily so `weft --help` does not pay for LevelDB and Yjs.
  const { openHistory } = await import('./history-target.js');
  const target = await openHistory(config, io);
  try {
    await sub.run(target.projects, rest, values, io);
  } finally {
    await target.close();
  }
  return 0;
}

const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;

/** Digits name a numeric project (as Bryntum clients send them), unless --string-id. */
function newProject(id: string, values: Values): NewProject {
  const numeric: ProjectId | null = !values['string-id'] && /^(0|[1-9]\d{0,14})$/.test(id) ? Number(id) : null;
  return { id: numeric ?? id, ...(values.name !== undefined ? { name: values.name } : {}), ...(values.ids ? { ids: values.ids as 'number' | 'prefixed' } : {}) };
}

async function list(api: ProjectsApi, _args: string[], values: Values, io: Io): Promise<void> {
  const projects = await api.list();
  if (values.json) return io.out(json(projects));
  if (!projects.length) return io.out('no projects\n');
  const rows = [['id', 'name', 'created', 'loaded']];
  for (const p of projects) rows.push([typeof p.id === 'number' ? String(p.id) : JSON.stringify(p.id), p.name, p.createdAt, p.loaded ? 'yes' : 'no']);
  io.out(`${table(rows, new Set())}\n`);
}

async function create(api: ProjectsApi, [id]: string[], values: Values, io: Io): Promise<void> {
  const project = await api.create(newProject(id, values));
  io.out(values.json ? json(project) : `created project ${JSON.stringify(project.id)} "${project.name}"\n`);
}

async function importProject(api: ProjectsApi, [id, file]: string[], values: Values, io: Io): Promise<void> {
  let text: string;
  try {
    text = file === '-' ? await readStdin() : await readFile(file, 'utf8');
  } catch (e) {
    throw new Error(`cannot read ${file}: ${(e as Error).message}`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new Error(`${file} is not JSON: ${(e as Error).message}`);
  }
  io.err(`importing ${file} (${text.length} characters)\n`);
  const result = await api.import(newProject(id, values), data);
  if (values.json) return io.out(json(result));
  const counts = Object.entries(result.records).map(([store, n]) => `${n} ${store}`).join(', ') || 'no records';
  io.out(`imported project ${JSON.stringify(result.project.id)} "${result.project.name}" from a ${result.format === 'dataset' ? 'dataset' : 'project file'}: ${counts}\n`);
}

async function exportProject(api: ProjectsApi, [project]: string[], values: Values, io: Io): Promise<void> {
  const text = json(await api.export(project, values.version));
  if (values.out === undefined) return io.out(text);
  await writeFile(values.out, text);
  io.err(`wrote ${values.out} (${text.length} characters)\n`);
}

async function rename(api: ProjectsApi, [project, name]: string[], values: Values, io: Io): Promise<void> {
  const renamed = await api.rename(project, name);
  io.out(values.json ? json(renamed) : `project ${JSON.stringify(renamed.id)} is now "${renamed.name}"\n`);
}

async function remove(api: ProjectsApi, [project]: string[], values: Values, io: Io): Promise<void> {
  const result = await api.delete(project);
  io.out(values.json ? json(result) : `deleted project ${JSON.stringify(result.project)} (${result.keys} keys)\n`);
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

export const projects: Command = { summary: 'list, create, import, export, rename and delete projects', help, run: (args) => runProjects(args) };
