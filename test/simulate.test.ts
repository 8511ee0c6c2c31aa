/**
 * `weft simulate` as a user runs it: the built executable against a real server, a few seconds of
 * classic, revisions and Yjs clients editing and going offline, then the convergence report.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { startSimServer, type SimServer } from './support/simulation.js';
import { parseSimulateArgs } from '../src/cli/simulate.js';
import { UsageError } from '../src/cli/command.js';
import type { Report } from '../src/simulate/report.js';

import { ROOT, runWeft as run } from './support/cli.js';


let s: SimServer;
beforeAll(async () => {
  if (!existsSync(join(ROOT, 'dist', 'src', 'cli', 'simulate.js'))) throw new Error('dist/ is missing or stale: run `npm run build` first');
  s = await startSimServer(4);
});
afterAll(async () => {
  await s?.dispose();
});

describe('weft simulate', () => {
  it('runs clients of all kinds with offline periods and reports convergence as JSON, exit 0', async () => {
    const project = s.freshProject();
    const { code, stdout, stderr } = await run([
      'simulate', '--url', s.url, '--project', String(project), '--mix', 'classic=2,revisions=2,yjs=2',
      '--duration', '4', '--offline-rate', '0.3', '--rate', '4', '--seed', '7', '--quiet', '500', '--json',
    ]);
    const report = JSON.parse(stdout) as Report;
    expect(report.divergences, stderr).toEqual([]);
    expect(report.problems).toEqual([]);
    expect(code).toBe(0);
    expect(report).toMatchObject({ converged: true, valid: true, settled: true, project, seed: 7, mix: { classic: 2, revisions: 2, yjs: 2 } });
    expect(report.ops.total).toBeGreaterThan(20);
    for (const kind of ['classic', 'revisions', 'yjs'] as const) expect(Object.values(report.ops.byClientKind[kind]).reduce((a, b) => a + (b ?? 0), 0)).toBeGreaterThan(0);
    expect(report.merged).toBeGreaterThan(0);
    expect(report.clients.reduce((n, c) => n + c.offlinePeriods, 0)).toBeGreaterThan(0);
    expect(report.documentChecked).toBe(true);
    // Progress goes to stderr with --json, about once a second.
    expect(stderr.match(/^\[\s*\d+\.\d s\] ops \d+, messages \d+, online \d\/6$/gm)?.length).toBeGreaterThanOrEqual(3);
  }, 60_000);

  it('prints progress and a readable report', async () => {
    const { code, stdout } = await run(['simulate', '--url', s.url, '--project', String(s.freshProject()), '--clients', '3', '--duration', '2', '--seed', '3', '--quiet', '300']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^\[\s*1\.0 s\] ops \d+, messages \d+, online \d\/3$/m);
    expect(stdout).toContain('Simulated 3 clients (classic 1, revisions 1, yjs 1)');
    expect(stdout).toMatch(/Ops sent: \d+/);
    expect(stdout).toMatch(/Merged: \d+ server revisions, of which \d+ from weft-server/);
    expect(stdout).toContain('OK: every client converged with the server and the project is valid');
  }, 60_000);

  it('exits with 2 on usage errors, with 1 when the server cannot be reached', async () => {
    for (const args of [
      ['simulate', '--project', '1'],
      ['simulate', '--url', s.url],
      ['simulate', '--url', s.url, '--project', '1', '--mix', 'classic=2,bogus=1'],
      ['simulate', '--url', s.url, '--project', '1', '--clients', '5', '--mix', 'classic=2,yjs=2'],
      ['simulate', '--url', s.url, '--project', '1', '--offline-rate', '2'],
      ['simulate', '--url', 'http://x', '--project', '1'],
      ['simulate', '--url', s.url, '--project', '1', '--frobnicate'],
    ]) {
      const { code, stderr } = await run(args);
      expect(code, args.join(' ')).toBe(2);
      expect(stderr).toContain('weft simulate --help');
    }
    const unreachable = await run(['simulate', '--url', 'ws://127.0.0.1:1', '--project', '1', '--duration', '1']);
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toMatch(/connect/);
  }, 60_000);

  it('is listed in weft --help and has its own help', async () => {
    expect((await run(['--help'])).stdout).toMatch(/simulate\s+simulate concurrent clients/);
    const help = await run(['simulate', '--help']);
    expect(help.code).toBe(0);
    for (const flag of ['--url', '--project', '--clients', '--mix', '--duration', '--offline-rate', '--seed', '--login', '--password', '--json']) expect(help.stdout).toContain(flag);
  });
});

describe('simulate arguments', () => {
  it('spreads --clients over the kinds, takes --mix as given and types the project id', () => {
    expect(parseSimulateArgs(['--url', 'ws://h:1', '--project', '1', '--clients', '5'])).toMatchObject({ mix: { classic: 2, revisions: 2, yjs: 1 }, project: 1 });
    expect(parseSimulateArgs(['--url', 'ws://h:1/', '--project', 'p-1', '--mix', 'yjs=3'])).toMatchObject({ url: 'ws://h:1', mix: { classic: 0, revisions: 0, yjs: 3 }, project: 'p-1' });
    expect(parseSimulateArgs(['--url', 'ws://h:1', '--project', '1', '--login', 'alex'])).toMatchObject({ login: 'alex', password: 'alex', durationSeconds: 20, offlineRate: 0 });
    expect(() => parseSimulateArgs(['--url', 'ws://h:1', '--project', '1', '--duration', '0'])).toThrow(UsageError);
  });
});
