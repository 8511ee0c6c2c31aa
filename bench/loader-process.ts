/**
 * A client that loads a project's dataset from a process of its own, as another user's browser
 * would: receiving a 40 MB reply keeps a process busy, and in the process of the clients whose
 * latency is measured it would delay their deliveries, not the server.
 *
 *   node loader-process.js <ws url> <project> <count>
 *
 * Connects and logs in `count` clients, prints `ready`, then for each line `load` on stdin has the
 * next client request the dataset and prints `{"ms":..,"bytes":..}` when the reply is in.
 */
import { createInterface } from 'node:readline';
import { closeAll, connectClients } from './client.js';

const [url, projectArg, countArg] = process.argv.slice(2);
const project = Number(projectArg);
const count = Number(countArg);
if (!url || !Number.isInteger(project) || !Number.isInteger(count) || count < 1) {
  process.stderr.write('usage: loader-process <ws url> <project> <count>\n');
  process.exit(2);
}

const LOAD_MS = 120_000;
const clients = await connectClients(url, count, 10_000);
process.stdout.write('ready\n');
let next = 0;
for await (const line of createInterface({ input: process.stdin })) {
  if (line.trim() !== 'load') continue;
  const client = clients[next++];
  if (!client) {
    process.stdout.write(`${JSON.stringify({ error: 'no client left' })}\n`);
    continue;
  }
  try {
    const { ms, bytes } = await client.loadDataset(project, LOAD_MS);
    process.stdout.write(`${JSON.stringify({ ms, bytes })}\n`);
  } catch (e) {
    process.stdout.write(`${JSON.stringify({ error: (e as Error).message })}\n`);
  }
}
await closeAll(clients);
