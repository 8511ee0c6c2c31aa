/**
 * A real Weft server as a child process (`weft serve`) over a config file and a LevelDB
 * directory of the part's choosing, so parts can kill it, restart it on the same data, pause it.
 */
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ServerProcess } from '../bench/processes.js';
import type { ConfigInput } from '../src/config/schema.js';

const HERE = fileURLToPath(new URL('.', import.meta.url));
/** Compiled CLI entry (dist/src/cli/main.js), next to this compiled file's folder. */
export const WEFT_MAIN = join(HERE, '..', 'src', 'cli', 'main.js');
const GC_PRELOAD = join(HERE, '..', 'bench', 'gc-signal.js');

export interface WeftSpec {
  name: string;
  /** Directory holding config.json and the database (`db/`). Reused across restarts. */
  dir: string;
  /** Config written to dir/config.json; dataDir, host and port are filled in. */
  config: Partial<ConfigInput>;
  /** Fixed port (to restart on the same address); 0 or absent for any free port. */
  port?: number;
  timeoutMs?: number;
  logLevel?: 'debug' | 'info' | 'warn' | 'error' | 'silent';
  env?: Record<string, string>;
}

export interface Weft {
  process: ServerProcess;
  url: string;
  port: number;
  pid: number;
  /** Send a signal (SIGKILL, SIGSTOP, SIGCONT ...). */
  signal(sig: NodeJS.Signals): boolean;
  /** Resolves with the exit code once the process is gone. */
  exit: Promise<number | null>;
  /** SIGTERM, waiting for a clean exit (SIGKILL after timeoutMs). */
  stop(timeoutMs?: number): Promise<void>;
}

export function writeConfig(spec: WeftSpec): string {
  mkdirSync(spec.dir, { recursive: true });
  const file = join(spec.dir, 'config.json');
  const config = { host: '127.0.0.1', ...spec.config, port: spec.port ?? 0, dataDir: join(spec.dir, 'db') };
  writeFileSync(file, JSON.stringify(config, null, 2));
  return file;
}

export async function startWeft(spec: WeftSpec): Promise<Weft> {
  const file = writeConfig(spec);
  const args = [WEFT_MAIN, 'serve', '--config', file, '--log-level', spec.logLevel ?? 'warn'];
  // RELIABILITY_CPU_PROF=DIR: every Weft process writes a CPU profile there when it exits cleanly.
  const profDir = process.env.RELIABILITY_CPU_PROF;
  const nodeFlags = profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [];
  const proc = await ServerProcess.start({ name: spec.name, args, gcPreload: GC_PRELOAD, timeoutMs: spec.timeoutMs ?? 60_000, env: spec.env, nodeFlags });
  const port = Number(new URL(proc.url).port);
  return {
    process: proc,
    url: proc.url,
    port,
    pid: proc.pid,
    signal: (sig) => proc.signal(sig),
    exit: proc.exit,
    stop: async (timeoutMs = 30_000) => {
      await proc.stop(timeoutMs);
    },
  };
}
