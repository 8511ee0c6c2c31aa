/** A server whose project 1 had one change from alex, stopped so its data directory is free. */
import { revisionsLogin } from './client.js';
import { startServer, type TestServer } from './server.js';

export async function stoppedServerWithAChange(): Promise<TestServer> {
  const s = await startServer();
  const c = await revisionsLogin(s.port, 'alex');
  c.send({ command: 'dataset', data: { project: 1 } });
  await c.nextOf('dataset');
  c.send({ command: 'project_change', data: { project: 1, revisions: [{ revision: 'l1', clientId: c.clientId, changes: { tasks: { updated: [{ id: 11, name: 'Edited' }] } } }] } });
  await c.nextOf('project_change');
  await c.close();
  await s.stop();
  return s;
}
