/** `weft serve`: load the configuration, start the server, stop cleanly on SIGTERM/SIGINT. */
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { defaultConfig } from '../config/defaults.js';
import type { ProjectId } from '../protocol/schemas.js';
import { loadConfig, type ConfigFlags } from '../config/load.js';
import { UsageError, isParseArgsError, type Command } from './command.js';
import { columns, envVarsHelp } from './help.js';
import { packageVersion } from '../config/version.js';

const OPTIONS = {
  host: { type: 'string' },
  port: { type: 'string' },
  'data-dir': { type: 'string' },
  config: { type: 'string' },
  'log-level': { type: 'string' },
  redis: { type: 'string' },
  'node-id': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export function serveOptionsHelp(): string {
  const defaults = defaultConfig();
  return columns([
    ['--host <host>', `interface to listen on (default ${defaults.host})`],
    ['--port <port>', `port to listen on, 0 for any free port (default ${defaults.port})`],
    ['--data-dir <dir>', `database directory (default ${defaults.dataDir})`],
    ['--config <file>', 'JSON config file; its paths are relative to the file (default: none)'],
    ['--log-level <level>', `debug, info, warn, error or silent (default ${defaults.logLevel ?? 'info'}); JSON lines on stderr, readable on a terminal`],
    ['--redis <url>', 'serve projects together with other nodes through this Redis (cluster mode; default: none)'],
    ['--node-id <id>', "this node's id in a cluster, unique among the nodes (default: host name and process id)"],
    ['-h, --help', 'show this help'],
  ]);
}

function help(): string {
  return [
    'Usage: weft serve [--host H] [--port P] [--data-dir D] [--config FILE] [--log-level L] [--redis URL [--node-id ID]]',
    '',
    'Starts the WebSocket sync server. Settings come from the defaults, then the config file,',
    'then the environment, then these flags.',
    '',
    'Options:',
    serveOptionsHelp(),
    '',
    envVarsHelp(),
  ].join('\n');
}

function parseFlags(args: string[]): { help: boolean; file?: string; flags: Partial<ConfigFlags> } {
  let values;
  try {
    ({ values } = parseArgs({ args, options: OPTIONS, strict: true, allowPositionals: false }));
  } catch (error) {
    if (isParseArgsError(error)) throw new UsageError(error.message, 'serve');
    throw error;
  }
  const flags: Partial<ConfigFlags> = {};
  if (values.host !== undefined) flags.host = values.host;
  if (values['data-dir'] !== undefined) flags.dataDir = values['data-dir'];
  if (values['log-level'] !== undefined) flags.logLevel = values['log-level'];
  if (values.redis !== undefined) flags.redis = values.redis;
  if (values['node-id'] !== undefined) flags.nodeId = values['node-id'];
  if (values.port !== undefined) {
    const port = /^\d+$/.test(values.port) ? Number(values.port) : NaN;
    if (!(port <= 65535)) throw new UsageError(`--port: expected an integer from 0 to 65535, got "${values.port}"`, 'serve');
    flags.port = port;
  }
  return { help: values.help === true, file: values.config, flags };
}

function urlHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/** The projects of the data directory, the first few of many. */
function projectList(projects: { id: ProjectId; name: string }[]): string {
  const shown = projects.slice(0, 10).map((p) => `${p.id} ${p.name}`);
  if (projects.length > shown.length) shown.push(`and ${projects.length - shown.length} more`);
  return shown.join(', ') || 'none yet: weft projects create';
}

async function runServe(args: string[]): Promise<number> {
  const { help: wantsHelp, file, flags } = parseFlags(args);
  if (wantsHelp) {
    process.stdout.write(`${help()}\n`);
    return 0;
  }
  const config = await loadConfig({ file, flags });
  // Loaded lazily so `weft --help` does not pay for the server's dependencies.
  const { startWeft } = await import('../index.js');
  const { pinoLog } = await import('../server/log.js');
  const logger = pinoLog(config.logLevel);
  const server = await startWeft({ config, log: logger.log });

  process.stdout.write(
    `weft ${packageVersion()} listening on ws://${urlHost(server.host)}:${server.port}\n` +
      `data: ${resolve(config.dataDir)} (projects: ${projectList(server.projects.catalog.list())})\n`,
  );

  let stopping = false;
  const stop = (): void => {
    // A second signal means the user does not want to wait for the flush.
    if (stopping) process.exit(1);
    stopping = true;
    process.stdout.write('shutting down\n');
    const limit = config.shutdownTimeoutSeconds;
    setTimeout(() => {
      process.stderr.write(`weft: shutdown took longer than ${limit} s (shutdownTimeoutSeconds); exiting without finishing it\n`);
      process.exit(1);
    }, limit * 1000).unref();
    server.close().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`weft: error while shutting down: ${error instanceof Error ? error.message : String(error)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // Last resort: one failed request, wherever it escaped, must not end the service for everyone.
  const survive = (kind: string) => (error: unknown) => {
    process.stderr.write(`weft: ${kind} (still serving): ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  };
  process.on('unhandledRejection', survive('unhandled rejection'));
  process.on('uncaughtException', survive('uncaught exception'));
  return 0;
}

export const serve: Command = { summary: 'start the sync server', help, run: runServe };
