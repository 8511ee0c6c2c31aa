/**
 * The fallback of the full-disk phase where no tmpfs can be mounted: LevelDB's writes in this
 * process fail as they do on a full disk (an IO error naming the log file) while `fill()` holds,
 * and the server runs in this process so it meets them. Nothing half-written reaches the log
 * here, so this proves the refusals and the recovery, not LevelDB's own log handling.
 */
import { Level } from 'level';
import type { ConfigInput } from '../src/config/schema.js';
import { loadConfig } from '../src/config/load.js';
import { WeftServer } from '../src/server/weft.js';
import { writeConfig } from './weft-process.js';

type Method = '_put' | '_del' | '_batch' | '_clear';
const WRITES: Method[] = ['_put', '_del', '_batch', '_clear'];

export interface InjectedDisk {
  fill(): void;
  free(): void;
  /** Put LevelDB's own methods back. */
  restore(): void;
}

export function injectFullDisk(): InjectedDisk {
  // `Level` is classic-level's class in Node: its methods are the ones the server's database calls.
  const proto = Level.prototype as unknown as Record<Method, (...args: unknown[]) => Promise<unknown>>;
  const originals = new Map(WRITES.map((m) => [m, proto[m]]));
  let full = false;
  for (const method of WRITES) {
    const original = originals.get(method)!;
    proto[method] = function (this: unknown, ...args: unknown[]) {
      if (!full) return original.apply(this, args);
      const error = Object.assign(new Error('IO error: 000003.log: No space left on device'), { code: 'LEVEL_IO_ERROR' });
      return Promise.reject(error);
    };
  }
  return {
    fill: () => void (full = true),
    free: () => void (full = false),
    restore: () => {
      for (const [method, original] of originals) proto[method] = original;
    },
  };
}

export interface InProcessWeft {
  url: string;
  stop(): Promise<void>;
}

/** A Weft server in this process over `dir/config.json` and `dir/db` (as startWeft lays them out). */
export async function startInProcess(dir: string, config: Partial<ConfigInput>): Promise<InProcessWeft> {
  const file = writeConfig({ name: 'weft-injected', dir, config });
  const server = await WeftServer.start(await loadConfig({ file, env: {} }), { log: () => {} });
  return { url: `ws://127.0.0.1:${server.port}/`, stop: () => server.close() };
}
