/**
 * A Bryntum version's content is kept out of the document, in storage of its own: a version whose
 * content is null is stored like any other (LevelDB refuses null values; it was refused as
 * "projectChange refused: Value cannot be null or undefined").
 */
import { afterEach, describe, expect, it } from 'vitest';
import { classicLogin } from './support/client.js';
import { startServer, type TestServer } from './support/server.js';

let s: TestServer | null = null;
afterEach(async () => {
  await s?.dispose();
  s = null;
});

describe('version content', () => {
  it('accepts a version added with null content and stores it as a version without content', async () => {
    s = await startServer();
    const client = await classicLogin(s.port, 'admin');
    client.send({ command: 'dataset', project: 1 });
    await client.nextOf('dataset', 5000);
    client.send({ command: 'projectChange', project: 1, changes: { versions: { added: [{ $PhantomId: '_generatedV_null', name: 'Empty', savedAt: '2024-01-01', content: null }] } } });
    const reply = await client.next();
    expect(reply.command).toBe('projectChange');
    const id = reply.changes.versions.added[0].id;
    expect(await s.server.storage.project(1).versionContent(String(id))).toEqual({ found: true, content: undefined });
  });
});
