/** Runs the built executable (`npm run build` first) as a user would. */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import WebSocket from 'ws';

import { BIN, ROOT, cleanEnv, runWeft as run } from './support/cli.js';




beforeAll(() => {
  if (!existsSync(join(ROOT, 'dist', 'src', 'cli', 'main.js'))) throw new Error('dist/ is missing: run `npm run build` first');
});

describe('weft help and errors', () => {
  it('prints usage with commands, serve options with defaults and environment variables for --help', async () => {
    const { code, stdout } = await run(['--help']);
    expect(code).toBe(0);
    expect(stdout).toContain('Usage: weft <command>');
    expect(stdout).toMatch(/serve\s+start the sync server/);
    expect(stdout).toContain('--port <port>');
    expect(stdout).toContain('default 8080');
    expect(stdout).toContain('WEFT_PORT');
    expect(stdout).toContain('WEFT_DATA_DIR');
  });

  it('prints the same usage with no arguments and with the help command', async () => {
    const help = await run(['--help']);
    expect((await run([])).stdout).toBe(help.stdout);
    expect((await run(['help'])).stdout).toBe(help.stdout);
  });

  it('prints the serve options for serve --help', async () => {
    const { code, stdout } = await run(['serve', '--help']);
    expect(code).toBe(0);
    expect(stdout).toContain('Usage: weft serve');
    for (const flag of ['--host', '--port', '--data-dir', '--config']) expect(stdout).toContain(flag);
  });

  it('prints the package version for --version', async () => {
    const { code, stdout } = await run(['--version']);
    expect(code).toBe(0);
    expect(stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('exits with code 2 and a usage hint for an unknown command', async () => {
    const { code, stdout, stderr } = await run(['bogus']);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toContain("unknown command 'bogus'");
    expect(stderr).toContain('weft --help');
  });

  it('exits with code 2 for an unknown serve flag or a bad port', async () => {
    const unknown = await run(['serve', '--colour']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('--colour');
    expect(unknown.stderr).toContain('weft serve --help');
    const port = await run(['serve', '--port', 'abc']);
    expect(port.code).toBe(2);
    expect(port.stderr).toContain('--port');
  });

  it('exits with code 1 and a one-line message for a configuration error', async () => {
    const { code, stderr } = await run(['serve'], { WEFT_PORT: 'eighty' });
    expect(code).toBe(1);
    expect(stderr).toMatch(/^weft: WEFT_PORT: /);
    expect(stderr).not.toContain('    at ');
  });
});

describe('weft serve', () => {
  let dataDir: string | undefined;
  let child: ChildProcess | undefined;

  afterEach(async () => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('listens on the printed port, answers a version request and on SIGTERM closes clients with 1012 and exits 0', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'weft-cli-'));
    const proc = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--data-dir', dataDir], { cwd: ROOT, env: cleanEnv() });
    child = proc;
    let stderr = '';
    proc.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));

    const lines = createInterface({ input: proc.stdout })[Symbol.asyncIterator]();
    const first = await Promise.race([lines.next(), exited.then(() => ({ value: undefined }))]);
    const match = /^weft \S+ listening on ws:\/\/127\.0\.0\.1:(\d+)$/.exec(String(first.value));
    expect(match, `first line: ${String(first.value)}; stderr: ${stderr}`).not.toBeNull();
    const port = Number(match![1]);
    expect(port).toBeGreaterThan(0);
    const second = await lines.next();
    expect(second.value).toBe(`data: ${dataDir} (projects: 1 SaaS, 2 Website, 3 Backend)`);

    const ws = new WebSocket(`ws://127.0.0.1:${port}`);
    const reply = await new Promise<Record<string, unknown>>((resolve, reject) => {
      ws.once('error', reject);
      ws.once('open', () => ws.send(JSON.stringify({ command: 'version' })));
      ws.once('message', (data) => resolve(JSON.parse(data.toString()) as Record<string, unknown>));
    });
    expect(reply.command).toBe('version');
    const closeCode = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));

    proc.kill('SIGTERM');
    const code = await Promise.race([exited, new Promise((resolve) => setTimeout(() => resolve('timeout'), 10_000))]);
    expect(code).toBe(0);
    // Service restart: the client may reconnect.
    expect(await closeCode).toBe(1012);
  }, 20_000);
});
