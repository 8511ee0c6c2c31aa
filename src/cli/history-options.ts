/** Options shared by the commands that read or change project history (`versions`, `storage`). */
import { parseArgs } from 'node:util';
import type { Config } from '../config/schema.js';
import { defaultConfig } from '../config/defaults.js';
import { loadConfig } from '../config/load.js';
import { UsageError, isParseArgsError } from './command.js';
import { columns } from './help.js';

export const HISTORY_OPTIONS = {
  'data-dir': { type: 'string' },
  config: { type: 'string' },
  json: { type: 'boolean' },
  label: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export function historyOptionsHelp(withLabel: boolean): string {
  return columns([
    ['--data-dir <dir>', `database directory (default ${defaultConfig().dataDir}, as for serve)`],
    ['--config <file>', 'JSON config file, as for serve (projects, users, history settings)'],
    ['--json', 'print JSON instead of text'],
    ...(withLabel ? [['--label <text>', 'name of the version (create)'] as const] : []),
    ['-h, --help', 'show this help'],
  ]);
}

export interface HistoryArgs {
  positionals: string[];
  json: boolean;
  label?: string;
  help: boolean;
  config(): Promise<Config>;
}

export function parseHistoryArgs(args: string[], command: string): HistoryArgs {
  let parsed;
  try {
    parsed = parseArgs({ args, options: HISTORY_OPTIONS, strict: true, allowPositionals: true });
  } catch (error) {
    if (isParseArgsError(error)) throw new UsageError(error.message, command);
    throw error;
  }
  const { values, positionals } = parsed;
  const dataDir = values['data-dir'];
  return {
    positionals,
    json: values.json === true,
    label: values.label,
    help: values.help === true,
    config: () => loadConfig({ file: values.config, flags: dataDir === undefined ? {} : { dataDir } }),
  };
}

/** The options of a command that takes no arguments and no label (`weft storage`, `weft storage check`). */
export function parseBareArgs(args: string[], command: string): HistoryArgs {
  const options = parseHistoryArgs(args, command);
  if (options.help) return options;
  if (options.positionals.length) throw new UsageError(`unexpected argument '${options.positionals[0]}'`, command);
  if (options.label !== undefined) throw new UsageError('--label is for versions create', command);
  return options;
}
