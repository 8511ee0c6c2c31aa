/**
 * The history page in a real headless Chromium (Debian's /usr/bin/chromium, driven by
 * puppeteer-core), clicked through as a person would, beside real protocol clients. Screenshots of
 * each view land in docs/. Skipped, saying so, where no Chromium is installed (`.ci/run` installs it).
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classicLogin, type Msg } from './support/client.js';
import { startServer, type TestServer } from './support/server.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const DOCS = fileURLToPath(new URL('../docs/', import.meta.url));
const haveBrowser = existsSync(CHROMIUM);
if (!haveBrowser) console.warn(`history page tests skipped: no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`);

let browser: Browser;
let profile: string;

beforeAll(async () => {
  if (!haveBrowser) return;
  profile = await mkdtemp(join(tmpdir(), 'weft-chromium-'));
  browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    userDataDir: profile,
    // The machine's network is closed: no background connections, no sandbox as root.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  if (profile) await rm(profile, { recursive: true, force: true });
});

async function openPage(port: number): Promise<Page> {
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 800 });
  page.on('dialog', (dialog) => void dialog.accept());
  await page.goto(`http://127.0.0.1:${port}/history/`);
  return page;
}

async function logIn(page: Page, name = 'admin', password = 'admin'): Promise<void> {
  await page.waitForSelector('#login-form');
  await page.type('#login-name', name);
  await page.type('#login-password', password);
  await page.click('#login-form button[type=submit]');
}

const view = (page: Page, name: string) => page.waitForFunction((v) => document.getElementById('main')?.dataset.view === v, { timeout: 10_000 }, name);

describe.skipIf(!haveBrowser)('the history page', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startServer();
  });
  afterAll(async () => s?.dispose());

  it('lets an administrator log in, open a project, a version and a diff with the changed task marked, restore, and follow new versions live', async () => {
    const room = (await s.server.projects.open(1))!;
    const before = await room.createVersion('Before the rename');
    const ann = await classicLogin(s.port, 'alex');
    ann.send({ command: 'dataset', project: 1 });
    const loaded = await ann.nextOf('dataset');
    const task = loaded.dataset.tasksData[0].children[0];
    ann.send({ command: 'projectChange', project: 1, changes: { tasks: { updated: [{ id: task.id, name: 'Renamed on the wire' }] } } });
    await new Promise((r) => setTimeout(r, 300));
    const after = await room.createVersion('After the rename');

    const page = await openPage(s.port);
    // A wrong password is refused, on the page.
    await logIn(page, 'admin', 'nope');
    await page.waitForFunction(() => document.getElementById('login-error')?.textContent !== '');
    await page.evaluate(() => {
      (document.getElementById('login-name') as HTMLInputElement).value = '';
      (document.getElementById('login-password') as HTMLInputElement).value = '';
    });
    await logIn(page);
    await view(page, 'projects');
    const names = await page.$$eval('#projects tbody tr td:first-child', (cells) => cells.map((c) => c.textContent));
    expect(names).toEqual(['SaaS', 'Website', 'Backend']);
    await page.type('#search', 'web');
    expect(await page.$$eval('#projects tbody tr', (rows) => rows.length)).toBe(1);
    await page.evaluate(() => ((document.getElementById('search') as HTMLInputElement).value = ''));
    await page.screenshot({ path: `${DOCS}history-projects.png` });

    await page.goto(`http://127.0.0.1:${s.port}/history/#/p/1`);
    await view(page, 'timeline');
    expect(await page.$$eval('#versions tbody tr', (rows) => rows.map((r) => Number(r.getAttribute('data-version'))))).toEqual([after.n, before.n]);
    expect(await page.$('#changes-chart canvas')).not.toBeNull();
    await page.screenshot({ path: `${DOCS}history-timeline.png` });

    await page.click(`#versions tr[data-version="${before.n}"] a.button`);
    await view(page, 'version');
    await page.waitForSelector(`#gantt g.row[data-id="${task.id}"]`);
    expect(await page.$eval(`#gantt g.row[data-id="${task.id}"] text.name`, (t) => t.textContent)).toBe(task.name);
    expect(await page.$$eval('#gantt path.dep', (paths) => paths.length)).toBeGreaterThan(0);
    await page.screenshot({ path: `${DOCS}history-version.png` });

    await page.goto(`http://127.0.0.1:${s.port}/history/#/p/1/diff/${before.n}/${after.n}`);
    await view(page, 'diff');
    const row = await page.$eval(`#gantt g.row[data-id="${task.id}"]`, (g) => ({ cls: g.getAttribute('class'), name: g.querySelector('text.name')?.textContent }));
    expect(row.cls).toContain('changed');
    expect(row.name).toContain('Renamed on the wire');
    const fieldRow = await page.$eval(`table.store-diff tr[data-record="${task.id}"]`, (tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent));
    expect(fieldRow.slice(2)).toEqual(['name', JSON.stringify(task.name), JSON.stringify('Renamed on the wire')]);
    await page.screenshot({ path: `${DOCS}history-diff.png` });

    // Restore with a click (the confirmation is accepted): the protocol client gets it live.
    await page.goto(`http://127.0.0.1:${s.port}/history/#/p/1`);
    await view(page, 'timeline');
    await page.click(`button[data-restore="${before.n}"]`);
    // (Version records reach clients as changes of their own; the restore is the one with tasks.)
    let restored: Msg | undefined;
    for (let i = 0; i < 10 && !restored?.changes?.tasks; i++) restored = await ann.nextOf('projectChange', 5000);
    expect(restored!.changes.tasks.updated.find((r: Msg) => r.id === task.id)?.name).toBe(task.name);

    // A version taken elsewhere appears by itself.
    const rows = await page.$$eval('#versions tbody tr', (r) => r.length);
    const elsewhere = await room.createVersion('Taken elsewhere');
    await page.waitForSelector(`#versions tr[data-version="${elsewhere.n}"]`, { timeout: 5000 });
    expect(await page.$$eval('#versions tbody tr', (r) => r.length)).toBeGreaterThan(rows);
    await ann.close();
    await page.close();
  }, 60_000);
});

describe.skipIf(!haveBrowser)('the history page on a 10k-task project', () => {
  it('renders a diff of 10,000 tasks within 2 s', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'weft-big-'));
    const rows = Array.from({ length: 100 }, (_, i) => ({
      id: 100_000 + i,
      name: `Phase ${i}`,
      expanded: true,
      children: Array.from({ length: 99 }, (_, j) => ({ id: i * 100 + j + 1, name: `Task ${i}.${j}`, startDate: `2024-0${1 + (j % 9)}-1${j % 10}`, duration: 1 + (j % 7), durationUnit: 'day' })),
    }));
    const seed = join(dir, 'big.json');
    await writeFile(seed, JSON.stringify({ success: true, project: { startDate: '2024-01-01' }, tasks: { rows }, dependencies: { rows: [] }, resources: { rows: [] }, assignments: { rows: [] } }));
    const s = await startServer({ projects: [{ id: 9, name: 'Big', seed, ids: 'number' }], groups: { admin: [9] }, anonymous: { enabled: true, projects: [9] } }, dir);
    try {
      const room = (await s.server.projects.open(9))!;
      const before = await room.createVersion('before');
      const c = await classicLogin(s.port, 'admin');
      c.send({ command: 'dataset', project: 9 });
      await c.nextOf('dataset', 20_000);
      c.send({ command: 'projectChange', project: 9, changes: { tasks: { updated: Array.from({ length: 200 }, (_, k) => ({ id: k * 37 + 1, name: `changed ${k}` })) } } });
      await new Promise((r) => setTimeout(r, 1000));
      const after = await room.createVersion('after');
      await c.close();
      const page = await openPage(s.port);
      await logIn(page);
      await view(page, 'projects');
      const started = Date.now();
      await page.goto(`http://127.0.0.1:${s.port}/history/#/p/9/diff/${before.n}/${after.n}`);
      await view(page, 'diff');
      const ms = Date.now() - started;
      const inPage = await page.$eval('#main', (m) => Number((m as HTMLElement).dataset.renderedMs));
      console.log(`10k-task diff: shown ${ms} ms after navigation (page: ${inPage} ms from request to drawn)`);
      expect(await page.$$eval('#gantt g.row.changed', (r) => r.length)).toBeGreaterThan(0);
      expect(ms).toBeLessThan(2000);
      await page.close();
    } finally {
      await s.dispose();
    }
  }, 120_000);
});
