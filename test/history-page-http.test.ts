/**
 * The history page's HTTP API without a browser: sessions, CSRF tokens and failed logins. The page
 * itself, clicked through in Chromium, is test/history-page.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from './support/server.js';

let s: TestServer | null = null;
afterEach(async () => {
  await s?.dispose();
  s = null;
});

describe('the history page API', () => {
  it('refuses writes without the session\'s CSRF token, and everything without a session', async () => {
    s = await startServer();
    const base = `http://127.0.0.1:${s.port}/history/api`;
    expect((await fetch(`${base}/projects`)).status).toBe(401);
    const login = await fetch(`${base}/login`, { method: 'POST', body: JSON.stringify({ name: 'admin', password: 'admin' }), headers: { 'content-type': 'application/json' } });
    expect(login.status).toBe(200);
    const cookie = login.headers.get('set-cookie')!;
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    const { csrf } = (await login.json()) as { csrf: string };
    const jar = cookie.split(';')[0];
    expect((await fetch(`${base}/projects/1/versions`, { method: 'POST', body: '{}', headers: { cookie: jar } })).status).toBe(403);
    expect((await fetch(`${base}/projects/1/versions`, { method: 'POST', body: '{}', headers: { cookie: jar, 'x-csrf-token': 'x'.repeat(csrf.length) } })).status).toBe(403);
    expect((await fetch(`${base}/projects/1/versions`, { method: 'POST', body: '{"label":"ok"}', headers: { cookie: jar, 'x-csrf-token': csrf } })).status).toBe(200);
    // A user outside the admin groups cannot log in here.
    expect((await fetch(`${base}/login`, { method: 'POST', body: JSON.stringify({ name: 'alex', password: 'alex' }) })).status).toBe(401);
    expect((await fetch(`${base}/projects/%E0%A4%A/versions`, { headers: { cookie: jar } })).status).toBe(400);
  });

  it('makes an address that keeps failing wait (429), sharing the server\'s count of failed logins', async () => {
    const server = await startServer({ limits: { maxFailedLoginsPerAddress: 3 } as never });
    s = server;
    const login = (password: string) => fetch(`http://127.0.0.1:${server.port}/history/api/login`, { method: 'POST', body: JSON.stringify({ name: 'admin', password }) });
    for (let i = 0; i < 3; i++) expect((await login('wrong')).status).toBe(401);
    expect((await login('admin')).status).toBe(429);
  });
});
