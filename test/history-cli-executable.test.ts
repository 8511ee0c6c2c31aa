/**
 * The built `weft` executable (`npm run build` first) running `weft versions`, and the command
 * functions on a directory a killed executable left behind.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { runVersions } from '../src/cli/versions.js';
import { revisionsLogin } from './support/client.js';
import { BIN, ROOT, capture, cleanEnv, runWeft as run } from './support/cli.js';
import { stoppedServerWithAChange } from './support/history.js';
import { tempDir, type TestServer } from './support/server.js';

let s: TestServer | undefined;
afterEach(async () => {
  await s?.dispose();
  s = undefined;
});

const db = () => join(s!.dataDir, 'db');

describe('the weft executable', () => {
  beforeAll(() => {
    if (!existsSync(join(ROOT, 'dist', 'src', 'cli', 'main.js'))) throw new Error('dist/ is missing: run `npm run build` first');
  });


  it('lists the new commands in its help and runs them on a free directory and through a server', async () => {
    const help = await run(['--help']);
    expect(help.stdout).toMatch(/versions\s+list, show, diff, create and restore project versions/);
    expect(help.stdout).toMatch(/storage\s+show the storage/);
    expect((await run(['versions', '--help'])).stdout).toContain('restore <project> <version>');

    s = await stoppedServerWithAChange();
    const direct = await run(['versions', 'create', '1', '--data-dir', db(), '--json']);
    expect(direct.code).toBe(0);
    expect(direct.stderr).toBe(`directly on ${db()}\n`);
    expect(JSON.parse(direct.stdout)).toMatchObject({ n: 1, authors: ['alex'] });

    s = await s!.restart();
    const remote = await run(['versions', 'list', '1', '--data-dir', db(), '--json']);
    expect(remote.code).toBe(0);
    expect(remote.stderr).toBe(`via server at http://127.0.0.1:${s.port}\n`);
    expect(JSON.parse(remote.stdout)).toHaveLength(1);

    const usage = await run(['versions', 'show', '1']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("weft versions --help");
    const missing = await run(['versions', 'show', '1', '5', '--data-dir', db()]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('weft: project 1 has no version 5');
  });
});

describe('after a crash', () => {
  it('counts the changes since the newest version from the revision numbers, and ignores the stale sidecar', async () => {
    const dir = await tempDir();
    const dataDir = join(dir, 'db');
    const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--data-dir', dataDir], { cwd: ROOT, env: cleanEnv() });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      const port = await new Promise<number>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          const match = /listening on ws:\/\/127\.0\.0\.1:(\d+)/.exec(out);
          if (match) resolve(Number(match[1]));
        });
        child.once('exit', () => reject(new Error('server exited')));
      });
      const c = await revisionsLogin(port, 'alex');
      c.send({ command: 'dataset', data: { project: 1 } });
      await c.nextOf('dataset');
      for (const name of ['one', 'two']) {
        c.send({ command: 'project_change', data: { project: 1, revisions: [{ revision: name, clientId: c.clientId, changes: { tasks: { updated: [{ id: 11, name }] } } }] } });
        await c.nextOf('project_change');
      }
      await c.close();
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
    expect(existsSync(join(dataDir, 'weft-server.json'))).toBe(true);
    const io = capture();
    expect(await runVersions(['create', '1', '--data-dir', dataDir, '--json'], io)).toBe(0);
    expect(io.stderr).toBe(`directly on ${dataDir}\n`);
    // The authors were in memory only; the count comes back from the revision numbers.
    expect(JSON.parse(io.stdout)).toMatchObject({ n: 1, changes: 2, authors: [] });
    await rm(dir, { recursive: true, force: true });
  }, 30_000);
});
