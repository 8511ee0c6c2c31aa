/** Runs the built `weft` executable (`npm run build` first) as a user would, or a command in process with its output kept. */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Io } from '../../src/cli/io.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const BIN = join(ROOT, 'bin', 'weft.js');

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The caller's WEFT_* settings must not leak into the runs. */
export function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('WEFT_')));
}

export function runWeft(args: string[], env: NodeJS.ProcessEnv = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...cleanEnv(), ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** An Io for running a CLI command in process, keeping what it prints. */
export interface Captured extends Io {
  stdout: string;
  stderr: string;
}

export function capture(): Captured {
  const io: Captured = { stdout: '', stderr: '', out: (t) => void (io.stdout += t), err: (t) => void (io.stderr += t) };
  return io;
}
