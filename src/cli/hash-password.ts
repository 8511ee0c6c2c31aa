/** `weft hash-password`: a scrypt hash of a password, for `users.<name>.password` in the config. */
import { hashPassword } from '../server/passwords.js';
import { UsageError, type Command } from './command.js';
import { processIo, type Io } from './io.js';

function help(): string {
  return [
    'Usage: weft hash-password [--stdin]',
    '',
    'Reads a password and prints its scrypt hash, to put in the config file as',
    '  "users": { "ann": { "password": "scrypt$16384$8$1$...", "group": "admin" } }',
    'The password is read from standard input (first line; typed without echo on a terminal).',
    'Plain-text passwords in a config still work, with a warning at start.',
  ].join('\n');
}

async function readPassword(io: Io): Promise<string> {
  const stdin = process.stdin;
  if (stdin.isTTY) {
    io.err('Password: ');
    stdin.setRawMode(true);
  }
  let text = '';
  try {
    for await (const chunk of stdin) {
      text += String(chunk);
      if (/[\r\n\u0003\u0004]/.test(text)) break;
    }
  } finally {
    if (stdin.isTTY) {
      stdin.setRawMode(false);
      io.err('\n');
    }
    stdin.pause();
  }
  if (text.includes('\u0003')) throw new UsageError('cancelled', 'hash-password');
  return text.split(/[\r\n\u0004]/)[0];
}

export async function runHashPassword(args: string[], io: Io = processIo): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    io.out(`${help()}\n`);
    return 0;
  }
  const unknown = args.find((a) => a !== '--stdin');
  if (unknown !== undefined) throw new UsageError(`unexpected argument '${unknown}'`, 'hash-password');
  const password = await readPassword(io);
  if (!password) throw new UsageError('empty password', 'hash-password');
  io.out(`${hashPassword(password)}\n`);
  return 0;
}

export const hashPasswordCommand: Command = {
  summary: 'print a scrypt hash of a password for the config file',
  help,
  run: (args) => runHashPassword(args),
};
