/**
 * Weft nodes of one cluster as child processes (`bin/weft.js serve --redis`, built by `npm test`),
 * each with its own data directory, on 127.0.0.1 and free ports, so tests can kill -9, pause and
 * restart them. Every child is killed when the test process exits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { BIN, ROOT, cleanEnv } from './cli.js';

export interface WeftNode {
  id: string;
  port: number;
  pid: number;
  /** stdout and stderr so far (for failure messages). */
  output(): string;
  signal(sig: NodeJS.Signals): void;
  /** kill -9, resolving once the process is gone. */
  kill9(): Promise<void>;
  /** SIGTERM, resolving once it exited (SIGKILL after 10 s). */
  stop(): Promise<void>;
  exited: Promise<void>;
}

export interface NodeSpec {
  id: string;
  dir: string;
  redisUrl: string;
  /** Merged into the node's config file (cluster settings included). */
  config?: Record<string, unknown>;
}

const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

export async function startNode(spec: NodeSpec, timeoutMs = 30_000): Promise<WeftNode> {
  await mkdir(spec.dir, { recursive: true });
  const configFile = join(spec.dir, 'config.json');
  await writeFile(configFile, JSON.stringify({ ...spec.config }));
  const args = [BIN, 'serve', '--port', '0', '--data-dir', join(spec.dir, 'db'), '--config', configFile, '--redis', spec.redisUrl, '--node-id', spec.id, '--log-level', 'info'];
  const child = spawn(process.execPath, args, { cwd: ROOT, env: cleanEnv() });
  children.add(child);
  let out = '';
  const keep = (chunk: Buffer) => void (out = (out + chunk.toString()).slice(-50_000));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  void exited.then(() => children.delete(child));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`node ${spec.id} did not listen within ${timeoutMs} ms:\n${out.slice(-3000)}`)), timeoutMs);
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      const match = /^weft \S+ listening on ws:\/\/[^\s]+:(\d+)$/.exec(line);
      if (!match) return;
      clearTimeout(timer);
      lines.close();
      resolve(Number(match[1]));
    });
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`node ${spec.id} exited before listening:\n${out.slice(-3000)}`));
    });
  });
  const waitExit = async (ms: number) => {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([exited, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
    clearTimeout(timer);
  };
  return {
    id: spec.id,
    port,
    pid: child.pid!,
    output: () => out,
    signal: (sig) => void child.kill(sig),
    kill9: async () => {
      child.kill('SIGKILL');
      await waitExit(10_000);
    },
    stop: async () => {
      child.kill('SIGCONT');
      child.kill('SIGTERM');
      await waitExit(10_000);
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await waitExit(5_000);
      }
    },
    exited,
  };
}
