/**
 * The real executable (bin/weft.js over dist/): a change told to a client survives SIGKILL right
 * after, SIGTERM exits cleanly, a held data directory is refused, and a command's merge worker
 * does not keep it running. Not in the mutation suite: these run the built code, not src/.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { execFile, execSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createInterface } from 'node:readline';
import * as Y from 'yjs';
import { Storage } from '../src/persistence/storage.js';
import { verifyPassword } from '../src/server/passwords.js';
import { startServer, tempDir } from './support/server.js';
import { added, changeSeenBy, datasetOf, loadClassic, meta, newTask, taskIndex } from './support/persistence.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'bin', 'weft.js');

interface Child {
  process: ChildProcess;
  port: number;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output(): { stdout: string; stderr: string };
}

/** The caller's WEFT_* settings must not leak into the runs. */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('WEFT_')));
}

/** Slows every LevelDB batch of the child and kills it the moment it sends a frame containing WEFT_KILL_AFTER_SENDING. */
const KILL_AFTER_TELLING = join(ROOT, 'test', 'support', 'kill-after-telling.mjs');

function spawnWeft(dataDir: string, killAfterSending?: string): { process: ChildProcess; exited: Child['exited']; output: Child['output']; firstLine: Promise<string> } {
  const hook = killAfterSending === undefined ? [] : ['--import', pathToFileURL(KILL_AFTER_TELLING).href];
  const env = killAfterSending === undefined ? cleanEnv() : { ...cleanEnv(), WEFT_KILL_AFTER_SENDING: killAfterSending };
  const child = spawn(process.execPath, [...hook, BIN, 'serve', '--port', '0', '--data-dir', dataDir], { cwd: ROOT, env });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const firstLine = new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.once('line', (line) => {
      lines.close();
      resolve(line);
    });
    void exited.then(({ code, signal }) => reject(new Error(`weft exited (${code ?? signal}) before listening: ${stderr}`)));
  });
  return { process: child, exited, output: () => ({ stdout, stderr }), firstLine };
}

const children = new Set<ChildProcess>();

async function startWeft(dataDir: string, killAfterSending?: string): Promise<Child> {
  const started = spawnWeft(dataDir, killAfterSending);
  children.add(started.process);
  void started.exited.then(() => children.delete(started.process));
  const line = await started.firstLine;
  const match = /^weft \S+ listening on ws:\/\/([^\s]+):(\d+)$/.exec(line);
  if (!match) throw new Error(`unexpected first line: ${line}`);
  return { process: started.process, port: Number(match[2]), exited: started.exited, output: started.output };
}

describe('the executable', () => {
  const dirs: string[] = [];

  beforeAll(() => {
    try {
      execSync('npx tsc -p tsconfig.build.json', { cwd: ROOT, stdio: 'pipe', timeout: 120_000 });
    } catch (e) {
      // tsc still emits on type errors (the typecheck is its own step); anything else is fatal.
      const out = e as { stdout?: Buffer; stderr?: Buffer; message: string; status?: number | null };
      const text = `${out.stdout?.toString() ?? ''}${out.stderr?.toString() ?? ''}`;
      const typeErrorsOnly = out.status === 2 && text.trim().split('\n').every((line) => /error TS\d+|^\s/.test(line));
      if (!typeErrorsOnly || !existsSync(join(ROOT, 'dist', 'src', 'cli', 'main.js'))) throw new Error(`build failed: ${text}${out.message}`);
      console.warn(`build reported type errors; running the emitted output:\n${text}`);
    }
  }, 180_000);

  afterEach(async () => {
    for (const child of children) {
      if (child.exitCode === null && child.signalCode === null) {
        const exit = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGKILL');
        await exit;
      }
      children.delete(child);
    }
  });
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('keeps a change whose broadcast went out when the process is killed with SIGKILL right after', async () => {
    const dir = await tempDir();
    dirs.push(dir);
    const dataDir = join(dir, 'db');
    // Every LevelDB batch takes 50 ms first and the process kills itself the moment it tells the
    // client of the change: a change told before its write finished is lost on every run.
    const first = await startWeft(dataDir, 'Survives SIGKILL');
    const { client } = await loadClassic(first.port, 1);
    client.send({ command: 'projectChange', project: 1, changes: newTask('_generatedK1', 'Survives SIGKILL', 1000, 0) });
    const echo = await client.nextOf('projectChange', 5000);
    const id = echo.changes.tasks.added[0].id;
    expect(await first.exited).toEqual({ code: null, signal: 'SIGKILL' });
    await client.close();

    const second = await startWeft(dataDir);
    const { client: again, ds } = await loadClassic(second.port, 1);
    expect(taskIndex(ds.dataset.tasksData).get(id)).toMatchObject({ parentId: 1000, index: 0, task: { name: 'Survives SIGKILL' } });
    // The counter survived as well.
    const next = (await added(again, 1, newTask('_generatedK2', 'Next', 1000, 0))).tasks.added[0].id;
    expect(next).toBeGreaterThan(id);
    await again.close();
  }, 30_000);

  it('exits with code 0 on SIGTERM and leaves data that loads again', async () => {
    const dir = await tempDir();
    dirs.push(dir);
    const dataDir = join(dir, 'db');
    const first = await startWeft(dataDir);
    const { client } = await loadClassic(first.port, 1);
    const { client: watcher } = await loadClassic(first.port, 1, 'alex');
    const id = (await added(client, 1, newTask('_generatedS1', 'Survives SIGTERM', 1, 0))).tasks.added[0].id;
    await watcher.nextOf('projectChange');
    await changeSeenBy(client, watcher, 1, { tasks: { updated: [{ id: 12, name: 'Renamed before SIGTERM' }] } });
    first.process.kill('SIGTERM');
    expect(await first.exited).toEqual({ code: 0, signal: null });
    expect(first.output().stdout).toContain('shutting down');
    await Promise.all([client.close(), watcher.close()]);

    const second = await startWeft(dataDir);
    const tasks = taskIndex((await datasetOf(second.port, 1)).dataset.tasksData);
    expect(tasks.get(id)).toMatchObject({ parentId: 1, index: 0, task: { name: 'Survives SIGTERM' } });
    expect(tasks.get(12)!.task.name).toBe('Renamed before SIGTERM');
    second.process.kill('SIGTERM');
    expect(await second.exited).toEqual({ code: 0, signal: null });
  }, 30_000);

  it('refuses to start on a data directory another process holds, naming the directory', async () => {
    const dir = await tempDir();
    dirs.push(dir);
    const dataDir = join(dir, 'db');
    const holder = await startWeft(dataDir);
    // An in-process server...
    await expect(startServer({}, dir)).rejects.toThrow(dataDir);
    // ...and a second executable.
    const second = spawnWeft(dataDir);
    children.add(second.process);
    second.firstLine.catch(() => {});
    const { code } = await second.exited;
    expect(code).toBe(1);
    expect(second.output().stderr).toContain(`cannot open data directory ${dataDir}`);
    expect(second.output().stdout).toBe('');
    // The holder is unharmed.
    const { ds } = await loadClassic(holder.port, 1).then(async (x) => (await x.client.close(), x));
    expect(ds.dataset.tasksData.length).toBeGreaterThan(0);
  }, 30_000);
});

describe('the merge worker', () => {
  it('does not keep a command running once its merges are done', async () => {
    // A project whose log holds more than the worker threshold (32 KB) of unfolded updates: closing
    // it after `versions create` folds them in the worker thread.
    const dir = await tempDir();
    const storage = await Storage.open(join(dir, 'db'));
    const doc = new Y.Doc();
    const updates: Uint8Array[] = [];
    doc.on('updateV2', (u: Uint8Array) => updates.push(u));
    const record = new Y.Map<unknown>();
    doc.getMap('tasks').set('1', record);
    record.set('$base', { id: 1, name: 'x'.repeat(40_000), parentId: null });
    record.set('name', 'renamed');
    for (let i = 0; i < updates.length; i++) await storage.project(1).commit({ seq: i + 1, update: updates[i], meta: meta() });
    await storage.close();

    const child = spawn(process.execPath, [BIN, 'versions', 'create', '1', '--data-dir', join(dir, 'db')], { cwd: ROOT });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const code = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => (child.kill('SIGKILL'), resolve(null)), 20_000);
      child.on('exit', (c) => (clearTimeout(timer), resolve(c)));
    });
    expect(output).toContain('created version 1');
    expect(code).toBe(0);
    const after = await Storage.open(join(dir, 'db'));
    try {
      expect((await after.project(1).load())!.updates).toHaveLength(0);
    } finally {
      await after.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('an application embedding the built package', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('lets the application exit by itself once closed (nothing of it keeps the event loop alive)', async () => {
    const dir = await tempDir();
    dirs.push(dir);
    const script = join(dir, 'app.mjs');
    const api = pathToFileURL(join(ROOT, 'dist', 'src', 'index.js')).href;
    await writeFile(
      script,
      `import { startWeft } from ${JSON.stringify(api)};
const weft = await startWeft({ config: { dataDir: ${JSON.stringify(join(dir, 'db'))}, port: 0, host: '127.0.0.1', projects: [{ id: 1, name: 'One' }] }, log: () => {} });
await weft.manage.projects.export('1');
await weft.close();
console.log('closed');`,
    );
    const started = Date.now();
    const result = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
      const child = execFile(process.execPath, [script], { timeout: 15_000 }, (error, stdout) => resolve({ code: error ? ((error as { code?: number }).code ?? null) : 0, stdout }));
      child.on('error', () => undefined);
    });
    expect(result).toEqual({ code: 0, stdout: 'closed\n' });
    expect(Date.now() - started).toBeLessThan(10_000);
  }, 20_000);
});

describe('weft hash-password', () => {
  it('hashes a password read from standard input', async () => {
    const child = spawn(process.execPath, [BIN, 'hash-password'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stdin.end('s3cret pass\n');
    const code = await new Promise((resolve) => child.on('close', resolve));
    expect(code).toBe(0);
    expect(verifyPassword('s3cret pass', out.trim())).toBe(true);
  });
});
