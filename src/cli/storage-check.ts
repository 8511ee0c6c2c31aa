/** `weft storage check`: offline check of a data directory for damaged or missing project data. */
import type { ProjectId } from '../protocol/schemas.js';
import { historyOptionsHelp, parseBareArgs } from './history-options.js';
import { processIo, type Io } from './io.js';

export function checkHelp(): string {
  return [
    'Usage: weft storage check [--data-dir D] [--config FILE] [--json]',
    '',
    'Reads every key of every project in the data directory and reports damage a load would',
    'trip over: counters that do not parse, snapshot chunks or update-log entries that do not',
    'decode or are missing, JSON records that do not parse, a logged state that needs data that',
    'is not stored. Each finding names the project, the key and what is wrong. Progress goes',
    'to stderr on big stores. Works offline only: stop the server using the directory first.',
    '',
    'Exit code: 0 when nothing is damaged, 1 when damage was found, 2 for bad usage or a data',
    'directory that cannot be opened.',
    '',
    'Options:',
    historyOptionsHelp(false),
  ].join('\n');
}

const projectName = (id: ProjectId) => (typeof id === 'number' ? String(id) : JSON.stringify(id));

export async function runStorageCheck(args: string[], io: Io = processIo): Promise<number> {
  const options = parseBareArgs(args, 'storage check');
  if (options.help) {
    io.out(`${checkHelp()}\n`);
    return 0;
  }
  const { dataDir } = await options.config();
  // Loaded lazily so `weft --help` does not pay for LevelDB and Yjs.
  const { Storage } = await import('../persistence/storage.js');
  const { checkStorage } = await import('../persistence/storage-check.js');
  let storage;
  try {
    storage = await Storage.open(dataDir);
  } catch (e) {
    io.err(`weft storage check: ${(e as Error).message} (a server running on it holds it: stop it first)\n`);
    return 2;
  }
  const started = Date.now();
  let shown = started;
  try {
    const report = await checkStorage(storage.db, ({ keys, projects }) => {
      if (Date.now() - shown < 2000) return;
      shown = Date.now();
      io.err(`checked ${keys} keys of ${projects} projects (${Math.round((shown - started) / 1000)} s)\n`);
    });
    if (options.json) io.out(`${JSON.stringify(report, null, 2)}\n`);
    else {
      for (const d of report.damage) io.out(`project ${projectName(d.project)}: ${d.key}: ${d.problem}\n`);
      const damaged = new Set(report.damage.map((d) => JSON.stringify(d.project))).size;
      io.out(`${report.projects} projects, ${report.keys} keys checked in ${dataDir}: ${damaged ? `${damaged} damaged (${report.damage.length} findings)` : 'no damage found'}\n`);
    }
    return report.damage.length ? 1 : 0;
  } finally {
    await storage.close();
  }
}
