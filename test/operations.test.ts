import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classicLogin } from './support/client.js';
import { startServer, type TestServer } from './support/server.js';

let s: TestServer;
beforeAll(async () => {
  s = await startServer();
});
afterAll(async () => s?.dispose());

const get = (path: string) => fetch(`http://127.0.0.1:${s.port}${path}`);
const metric = (text: string, line: RegExp) => Number(text.split('\n').find((l) => line.test(l))?.split(' ').pop());

describe('the operations endpoints', () => {
  it('answer /healthz and /readyz while serving', async () => {
    expect((await get('/healthz')).status).toBe(200);
    const ready = await get('/readyz');
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready' });
  });

  it('count connections, users, loaded projects and stored changes in /metrics, in Prometheus format', async () => {
    const before = await (await get('/metrics')).text();
    const changes = metric(before, /^weft_changes_committed_total /);
    const c = await classicLogin(s.port, 'alex');
    c.send({ command: 'dataset', project: 1 });
    await c.nextOf('dataset');
    c.send({ command: 'projectChange', project: 1, changes: { tasks: { updated: [{ id: 11, name: 'counted' }] } } });
    await c.drain(200);
    const res = await get('/metrics');
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await res.text();
    expect(metric(text, /^weft_connections\{generation="classic",kind="bryntum"\} /)).toBe(1);
    expect(metric(text, /^weft_logged_in_users /)).toBe(1);
    expect(metric(text, /^weft_projects_loaded /)).toBeGreaterThanOrEqual(1);
    expect(metric(text, /^weft_changes_committed_total /)).toBe(changes + 1);
    expect(metric(text, /^weft_storage_write_seconds_count /)).toBeGreaterThan(0);
    expect(text).toMatch(/^weft_process_resident_memory_bytes /m);
    expect(text).toMatch(/^weft_nodejs_eventloop_lag_seconds /m);
    await c.close();
  });

  it('say not ready once the server is closing', async () => {
    const other = await startServer();
    const port = other.port;
    const closing = other.stop();
    // The listening socket closes with the server: a request either sees 503 or cannot connect.
    const status = await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.status, () => 503);
    expect(status).toBe(503);
    await closing;
    await other.dispose();
  });
});
