/** `weft storage`: what each project and its history take in the data directory. */
import { PART_TITLES, type ProjectUsage, type UsagePart } from '../history/storage-report.js';
import type { Command } from './command.js';
import { historyOptionsHelp, parseBareArgs } from './history-options.js';
import { processIo, type Io } from './io.js';
import { runStorageCheck } from './storage-check.js';
import { formatBytes, table } from './table.js';

function help(): string {
  return [
    'Usage: weft storage [--data-dir D] [--config FILE] [--json]',
    '       weft storage check [--data-dir D] [--config FILE] [--json]',
    '',
    'Prints the bytes and keys each project uses in LevelDB: its document (snapshot and',
    'updates), revision log, phantom map, Bryntum version contents and server versions.',
    'Works directly on the data directory, or through the server when one is running on it.',
    '',
    "'weft storage check' reports damaged or missing project data, offline (see its --help).",
    '',
    'Options:',
    historyOptionsHelp(false),
  ].join('\n');
}

export async function runStorage(args: string[], io: Io = processIo): Promise<number> {
  if (args[0] === 'check') return runStorageCheck(args.slice(1), io);
  const options = parseBareArgs(args, 'storage');
  if (options.help) {
    io.out(`${help()}\n`);
    return 0;
  }
  // Loaded lazily so `weft --help` does not pay for LevelDB and Yjs.
  const { openHistory } = await import('./history-target.js');
  const target = await openHistory(await options.config(), io);
  try {
    const report = await target.api.storageUsage();
    io.out(options.json ? `${JSON.stringify(report, null, 2)}\n` : reportText(report));
  } finally {
    await target.close();
  }
  return 0;
}

function reportText(report: ProjectUsage[]): string {
  if (!report.length) return 'no projects stored\n';
  return report
    .map((project) => {
      const rows = (Object.keys(PART_TITLES) as UsagePart[]).map((part) => [`  ${PART_TITLES[part]}`, formatBytes(project.parts[part].bytes), `${project.parts[part].keys} keys`]);
      rows.push(['  total', formatBytes(project.total.bytes), `${project.total.keys} keys`]);
      return `project ${JSON.stringify(project.project)}\n${table(rows, new Set([1, 2]))}\n`;
    })
    .join('');
}

export const storage: Command = { summary: 'show the storage each project and its history use; check: find damaged data', help, run: (args) => runStorage(args) };
