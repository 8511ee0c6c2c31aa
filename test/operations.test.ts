import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestClient, classicLogin } from './support/client.js';
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

  it('answer a plain HTTP request anywhere else with 426 and how to connect', async () => {
    const res = await get('/');
    expect(res.status).toBe(426);
    expect(res.headers.get('content-type')).toBe('text/plain');
    expect(await res.text()).toBe('Weft speaks WebSocket here: connect with a Bryntum ProjectModel (wsAddress).\n');
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

  it('count a connection that has sent nothing yet as classic, the first generation', async () => {
    const classic = async () => metric(await (await get('/metrics')).text(), /^weft_connections\{generation="classic",kind="bryntum"\} /) || 0;
    const before = await classic();
    const c = await TestClient.connect(s.port);
    try {
      expect(await classic()).toBe(before + 1);
    } finally {
      await c.close();
    }
  });

  it('count messages sent, commit latency, errors by kind and the longest project queue', async () => {
    const before = await (await get('/metrics')).text();
    const sent = metric(before, /^weft_messages_sent_total /);
    const protocol = metric(before, /^weft_errors_total\{kind="protocol"\} /) || 0;
    const refusedChanges = metric(before, /^weft_errors_total\{kind="refused_change"\} /) || 0;
    const commits = metric(before, /^weft_commit_seconds_count /);
    const c = await classicLogin(s.port, 'alex');
    c.send({ command: 'dataset', project: 1 });
    await c.nextOf('dataset');
    c.send({ command: 'projectChange', project: 1, changes: { tasks: { updated: [{ id: 12, name: 'timed' }] } } });
    c.send('{ not json');
    c.ws.send(Buffer.from('{}'), { binary: true });
    c.send({ command: 'projectChange', project: 1, changes: { 'no such store!': { updated: [{ id: 1 }] } } });
    await c.drain(300);
    const failed = await TestClient.connect(s.port);
    failed.send({ command: 'login', login: 'admin', password: 'wrong' });
    await failed.nextOf('login');
    const text = await (await get('/metrics')).text();
    // The login reply, the users list, the dataset and the error at least.
    expect(metric(text, /^weft_messages_sent_total /)).toBeGreaterThanOrEqual(sent + 4);
    expect(metric(text, /^weft_sent_characters_total /)).toBeGreaterThan(1000);
    expect(metric(text, /^weft_commit_seconds_count /)).toBe(commits + 1);
    // The text that is not JSON and the binary frame; the refused change is counted apart.
    expect(metric(text, /^weft_errors_total\{kind="protocol"\} /)).toBe(protocol + 2);
    expect(metric(text, /^weft_errors_total\{kind="refused_change"\} /)).toBe(refusedChanges + 1);
    expect(metric(text, /^weft_errors_total\{kind="login_failed"\} /)).toBeGreaterThanOrEqual(1);
    expect(metric(text, /^weft_project_queue_longest /)).toBe(0);
    for (const x of [c, failed]) await x.close();
  });

  it('ask for the metrics token when one is configured', async () => {
    const other = await startServer({ metricsToken: 'a-metrics-token-0123456789' });
    try {
      const url = `http://127.0.0.1:${other.port}/metrics`;
      expect((await fetch(url)).status).toBe(401);
      expect((await fetch(url, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
      const ok = await fetch(url, { headers: { authorization: 'Bearer a-metrics-token-0123456789' } });
      expect(ok.status).toBe(200);
      expect(await ok.text()).toMatch(/^weft_connections/m);
    } finally {
      await other.dispose();
    }
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
