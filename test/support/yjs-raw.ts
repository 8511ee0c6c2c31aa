/** Raw Yjs peers for tests: hand-made y-websocket frames, and how the server answers them. */
import WebSocket from 'ws';
import * as encoding from 'lib0/encoding';

/** A y-websocket sync frame of `type` (0 step 1, 1 step 2, 2 update) carrying `payload`. */
export function syncFrame(type: number, payload: Uint8Array): Uint8Array {
  const e = encoding.createEncoder();
  encoding.writeVarUint(e, 0);
  encoding.writeVarUint(e, type);
  encoding.writeVarUint8Array(e, payload);
  return encoding.toUint8Array(e);
}

/**
 * Open a Yjs peer on `path` (project 1 as admin by default), send `frame` first, and resolve with
 * how the server closes it (code 0, "still open", after `waitMs`).
 */
export async function closeAfter(
  port: number,
  frame: Uint8Array | string,
  { path = '/yjs/1?login=admin&password=admin', waitMs = 2000 }: { path?: string; waitMs?: number } = {},
): Promise<{ code: number; reason: string }> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`);
  await new Promise((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject)));
  ws.on('error', () => undefined);
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  ws.send(frame);
  const result = await Promise.race([closed, new Promise<{ code: number; reason: string }>((resolve) => setTimeout(() => resolve({ code: 0, reason: 'still open' }), waitMs))]);
  ws.terminate();
  return result;
}

/** Open a peer of project 1 as admin, send `frame`, and resolve with the code it is closed with (0: still open after `waitMs`). */
export async function closeCodeAfter(port: number, frame: Uint8Array, waitMs = 2000): Promise<number> {
  return (await closeAfter(port, frame, { waitMs })).code;
}
