/** Entry point of the `weft` executable: dispatches to one module per command. */
import { UsageError, type Command } from './command.js';
import { columns, envVarsHelp } from './help.js';
import { serve, serveOptionsHelp } from './serve.js';
import { simulate } from './simulate.js';
import { storage } from './storage.js';
import { versions } from './versions.js';
import { projects } from './projects.js';
import { hashPasswordCommand } from './hash-password.js';
import { packageVersion } from '../config/version.js';

/** Each command lives in its own module; add new ones here. */
const COMMANDS: Record<string, Command> = { serve, projects, versions, storage, simulate, 'hash-password': hashPasswordCommand };

function usage(): string {
  return [
    'Usage: weft <command> [options]',
    '',
    'Commands:',
    columns([
      ...Object.entries(COMMANDS).map(([name, command]) => [name, command.summary] as const),
      ['help [command]', 'show this help, or the help of a command'],
    ]),
    '',
    'Options:',
    columns([
      ['-h, --help', 'show this help'],
      ['-v, --version', 'print the version'],
    ]),
    '',
    'Options for serve:',
    serveOptionsHelp(),
    '',
    envVarsHelp(),
    '',
    "Run 'weft <command> --help' for details.",
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined || first === '--help' || first === '-h') {
    process.stdout.write(`${usage()}\n`);
    return 0;
  }
  if (first === '--version' || first === '-v') {
    process.stdout.write(`${packageVersion()}\n`);
    return 0;
  }
  if (first === 'help') {
    const topic = rest[0];
    if (topic === undefined) {
      process.stdout.write(`${usage()}\n`);
      return 0;
    }
    const command = Object.hasOwn(COMMANDS, topic) ? COMMANDS[topic] : undefined;
    if (command === undefined) throw new UsageError(`unknown command '${topic}'`);
    process.stdout.write(`${command.help()}\n`);
    return 0;
  }
  const command = Object.hasOwn(COMMANDS, first) ? COMMANDS[first] : undefined;
  if (command === undefined) {
    throw new UsageError(first.startsWith('-') ? `unknown option '${first}'` : `unknown command '${first}'`);
  }
  return command.run(rest);
}

function report(error: unknown): number {
  if (error instanceof UsageError) {
    const hint = error.command === undefined ? "Run 'weft --help' for usage." : `Run 'weft ${error.command} --help' for usage.`;
    process.stderr.write(`weft: ${error.message}\n${hint}\n`);
    return 2;
  }
  // Startup failures (bad configuration, port in use, unreadable data directory) are the user's
  // to fix from the message; a stack trace would only bury it.
  process.stderr.write(`weft: ${error instanceof Error ? error.message : String(error)}\n`);
  return 1;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.exitCode = report(error);
  },
);
