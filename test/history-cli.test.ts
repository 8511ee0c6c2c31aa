/**
 * `weft versions` and `weft storage`: directly on a data directory nobody holds, and through the
 * running server that holds it (found through its sidecar file), through the command functions.
 * Runs of the built executable: history-cli-executable.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { UsageError } from '../src/cli/command.js';
import { runStorage } from '../src/cli/storage.js';
import { runVersions } from '../src/cli/versions.js';
import type { ProjectId } from '../src/protocol/schemas.js';
import { resolveProjectId } from '../src/history/project-id.js';
import { revisionsLogin, type TestClient } from './support/client.js';
import { stoppedServerWithAChange } from './support/history.js';
import { startServer, tempDir, type TestServer } from './support/server.js';
import { capture, type Captured } from './support/cli.js';

type Rec = Record<string, any>;

let s: TestServer | undefined;
const clients: TestClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await s?.dispose();
  s = undefined;
});

const db = () => join(s!.dataDir, 'db');

async function cli(...args: string[]): Promise<Captured> {
  const io = capture();
  const [name, ...rest] = args;
  expect(await (name === 'storage' ? runStorage : runVersions)([...rest, '--data-dir', db()], io)).toBe(0);
  return io;
}

async function subscriber(name: string): Promise<TestClient & { clientId: string }> {
  const c = await revisionsLogin(s!.port, name);
  clients.push(c);
  c.send({ command: 'dataset', data: { project: 1 } });
  await c.nextOf('dataset');
  return c;
}

describe('directly on a data directory', () => {
  it('creates, lists, shows, diffs and restores versions, saying where it works', async () => {
    s = await stoppedServerWithAChange();

    const created = await cli('versions', 'create', '1', '--label', 'First');
    expect(created.stderr).toBe(`directly on ${db()}\n`);
    expect(created.stdout).toMatch(/^created version 1 "First" \(\d{4}-\d\d-\d\dT/);

    const list = await cli('versions', 'list', '1');
    expect(list.stdout.split('\n')[0]).toMatch(/^n\s+time\s+reason\s+changes\s+revision\s+authors\s+label$/);
    expect(list.stdout).toMatch(/\n1\s+\S+Z\s+manual\s+1\s+server-1\s+alex\s+First\n/);
    const listed = JSON.parse((await cli('versions', 'list', '1', '--json')).stdout);
    expect(listed).toMatchObject([{ n: 1, label: 'First', reason: 'manual', changes: 1, authors: ['alex'], lastRevision: 'server-1' }]);

    const shown = JSON.parse((await cli('versions', 'show', '1', '1')).stdout);
    expect(shown.tasksData[0].children[0].children[0]).toMatchObject({ id: 11, name: 'Edited' });
    expect(JSON.parse((await cli('versions', 'show', '1', 'weft-1')).stdout)).toEqual(shown);

    // Change the project while the server runs, then compare offline.
    s = await s!.restart();
    const c = await subscriber('ben');
    c.send({ command: 'project_change', data: { project: 1, revisions: [{ revision: 'l2', clientId: c.clientId, changes: { tasks: { updated: [{ id: 11, name: 'Edited again' }] }, project: { hoursPerDay: 8 } } }] } });
    await c.nextOf('project_change');
    await Promise.all(clients.splice(0).map((x) => x.close()));
    await s.stop();

    const text = (await cli('versions', 'diff', '1', '1', 'current')).stdout;
    expect(text).toContain('diff version 1 -> current');
    expect(text).toContain('  ~ 11 "Edited again" name: "Edited" -> "Edited again"');
    expect(text).toContain('  ~ hoursPerDay: 24 -> 8');
    const json = JSON.parse((await cli('versions', 'diff', '1', 'current', '1', '--json')).stdout);
    expect(json).toMatchObject({ from: 'current', to: 'version 1', diff: { project: { hoursPerDay: { before: 8, after: 24 } } } });

    const restored = await cli('versions', 'restore', '1', '1');
    expect(restored.stdout).toMatch(/^restored version 1 "First" .* as revision server-\d+; the state before is kept as version 2 "Before restore of version 1"/);
    expect((await cli('versions', 'diff', '1', '1', 'current')).stdout).toContain('no differences');
    const afterRestore = JSON.parse((await cli('versions', 'list', '1', '--json')).stdout);
    expect(afterRestore.map((v: Rec) => [v.n, v.reason])).toEqual([
      [1, 'manual'],
      [2, 'before-restore'],
    ]);

    // The server finds the restored state on its next start.
    s = await s!.restart();
    const fresh = await revisionsLogin(s.port, 'alex');
    clients.push(fresh);
    fresh.send({ command: 'dataset', data: { project: 1 } });
    const { data } = await fresh.nextOf('dataset');
    expect(data.dataset.project.hoursPerDay).toBe(24);
    expect(data.dataset.versionsData.map((v: Rec) => v.id)).toEqual(['version-1', 'weft-1']);
  });

  it('prints the storage each project and its history use', async () => {
    s = await stoppedServerWithAChange();
    await cli('versions', 'create', '1');
    const text = (await cli('storage')).stdout;
    expect(text).toContain('project 1\n');
    for (const part of ['document (snapshot + updates)', 'revision log', 'phantom map', 'Bryntum version contents', 'server versions', 'total']) expect(text).toContain(`  ${part}`);
    const report = JSON.parse((await cli('storage', '--json')).stdout);
    const project1 = report.find((p: Rec) => p.project === 1);
    expect(project1.parts.serverVersions.keys).toBe(3);
    expect(project1.parts.versionContents.keys).toBe(1);
  });

  it('reports bad usage and unknown projects or versions', async () => {
    s = await stoppedServerWithAChange();
    await expect(runVersions(['list'], capture())).rejects.toBeInstanceOf(UsageError);
    await expect(runVersions(['frobnicate', '1'], capture())).rejects.toThrow("unknown subcommand 'frobnicate'");
    await expect(runVersions([], capture())).rejects.toThrow('missing subcommand');
    await expect(runVersions(['list', '1', '--label', 'x', '--data-dir', db()], capture())).rejects.toThrow('--label is for versions create');
    await expect(runVersions(['list', '9', '--data-dir', db()], capture())).rejects.toThrow('unknown project "9"');
    await expect(runVersions(['show', '1', '4', '--data-dir', db()], capture())).rejects.toThrow('no version 4');
    await expect(runVersions(['show', '1', 'latest', '--data-dir', db()], capture())).rejects.toThrow('invalid version "latest"');
    await expect(runVersions(['list', '1', '--data-dir', join(s!.dataDir, 'missing')], capture())).rejects.toThrow('no data directory');
    const help = capture();
    expect(await runVersions(['--help'], help)).toBe(0);
    expect(help.stdout).toContain('Usage: weft versions <subcommand>');
  });
});

describe('through the running server', () => {
  it('uses the server that holds the directory; clients see created and restored versions live', async () => {
    s = await startServer();
    const watcher = await subscriber('alex');

    const created = await cli('versions', 'create', '1', '--label', 'Via server');
    expect(created.stderr).toBe(`via server at http://127.0.0.1:${s.port}\n`);
    const announced = await watcher.nextOf('project_change');
    expect(announced.data.revisions[0].changes.versions.added[0]).toMatchObject({ id: 'weft-1', name: 'Via server' });

    watcher.send({ command: 'project_change', data: { project: 1, revisions: [{ revision: 'l1', clientId: watcher.clientId, changes: { tasks: { updated: [{ id: 12, name: 'Changed' }] } } }] } });
    await watcher.nextOf('project_change');
    expect((await cli('versions', 'diff', '1', '1', 'current')).stdout).toContain('  ~ 12 "Changed" name: "Configure firewall" -> "Changed"');
    expect(JSON.parse((await cli('versions', 'list', '1', '--json')).stdout)).toHaveLength(1);
    expect(JSON.parse((await cli('versions', 'show', '1', 'current')).stdout).tasksData).toBeDefined();
    expect(JSON.parse((await cli('storage', '--json')).stdout).length).toBeGreaterThan(0);

    const restored = await cli('versions', 'restore', '1', '1', '--json');
    expect(JSON.parse(restored.stdout)).toMatchObject({ restored: { n: 1 }, before: { n: 2, reason: 'before-restore' }, revision: expect.stringMatching(/^server-\d+$/) });
    const change = await watcher.nextOf('project_change');
    expect(change.data.revisions[0].changes.tasks.updated).toEqual([{ id: 12, name: 'Configure firewall' }]);
    await expect(runVersions(['show', '1', '9', '--data-dir', db()], capture())).rejects.toThrow('no version 9');
  });
});

describe('project ids on the command line', () => {
  it('digits name the numeric project when one is configured, else the string one', () => {
    const ids: ProjectId[] = [1, '2', 'alpha', '07'];
    const projects = { get: (id: ProjectId) => ids.includes(id) };
    expect(resolveProjectId('1', projects)).toBe(1);
    expect(resolveProjectId('2', projects)).toBe('2');
    expect(resolveProjectId('alpha', projects)).toBe('alpha');
    expect(resolveProjectId('07', projects)).toBe('07');
    expect(resolveProjectId('3', projects)).toBeUndefined();
  });
});

it('a data directory that is neither free nor served is reported as it is', async () => {
  // A directory LevelDB cannot open (a file where the database should be) and no sidecar.
  const dir = await tempDir();
  try {
    const { writeFile } = await import('node:fs/promises');
    await writeFile(join(dir, 'CURRENT'), 'garbage\n');
    await expect(runVersions(['list', '1', '--data-dir', dir], capture())).rejects.toThrow(/cannot open data directory/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
