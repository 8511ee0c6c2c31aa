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

  it('logs JSON lines at the level asked for, naming the connection, user and project, never a password', async () => {
    const lines = async (level: string): Promise<Record<string, unknown>[]> => {
      dataDir = await mkdtemp(join(tmpdir(), 'weft-cli-'));
      const proc = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--data-dir', dataDir, '--log-level', level], { cwd: ROOT, env: cleanEnv() });
      child = proc;
      let stderr = '';
      proc.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const exited = new Promise<void>((resolve) => proc.on('exit', () => resolve()));
      const out = createInterface({ input: proc.stdout })[Symbol.asyncIterator]();
      const port = Number(/:(\d+)$/.exec(String((await out.next()).value))![1]);
      const ws = new WebSocket(`ws://127.0.0.1:${port}`);
      await new Promise((resolve) => ws.once('open', resolve));
      ws.send(JSON.stringify({ command: 'login', login: 'alex', password: 'alex' }));
      ws.send(JSON.stringify({ command: 'dataset', project: 1 }));
      await new Promise<void>((resolve) => ws.on('message', (data) => String(data).startsWith('{"command":"dataset"') && resolve()));
      ws.close();
      await new Promise((r) => setTimeout(r, 200));
      proc.kill('SIGTERM');
      await exited;
      await rm(dataDir, { recursive: true, force: true });
      expect(stderr).not.toContain('password":');
      return stderr.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    };
    const info = await lines('info');
    const login = info.find((l) => String(l.msg).includes('logged in as "alex"'));
    expect(login).toMatchObject({ level: 30, user: 'alex' });
    expect(String(login!.connection)).toMatch(/^client-/);
    expect(info.find((l) => String(l.msg).includes('project 1 loaded'))).toMatchObject({ level: 30, project: 1 });
    expect(info.find((l) => String(l.msg).includes('plain-text password'))).toMatchObject({ level: 40 });
    const warn = await lines('warn');
    expect(warn.length).toBeGreaterThan(0);
    expect(warn.every((l) => (l.level as number) >= 40)).toBe(true);
  }, 30_000);
});
