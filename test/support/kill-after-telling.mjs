/**
 * Preloaded into a Weft child process (`node --import`) to make "stored before anyone is told"
 * fail on every run when it is broken, not only when a kill from outside happens to land between
 * the two:
 * - every LevelDB batch takes WEFT_WRITE_DELAY_MS (default 50) before it starts, like a slow disk,
 *   so a write that is not awaited is still on its way when the client is told;
 * - the moment the server sends a frame containing WEFT_KILL_AFTER_SENDING, that frame is pushed to
 *   the kernel and the process kills itself with SIGKILL before it runs another line.
 */
import { Level } from 'level';
import { WebSocket } from 'ws';

const marker = process.env.WEFT_KILL_AFTER_SENDING;
const delayMs = Number(process.env.WEFT_WRITE_DELAY_MS ?? 50);

const batch = Level.prototype.batch;
Level.prototype.batch = function (...args) {
  // A chained batch (no arguments) is written by its own write(); it is not used for commits.
  if (args.length === 0) return batch.call(this);
  return new Promise((resolve) => setTimeout(resolve, delayMs)).then(() => batch.apply(this, args));
};

const send = WebSocket.prototype.send;
WebSocket.prototype.send = function (data, ...rest) {
  const result = send.call(this, data, ...rest);
  if (marker && String(typeof data === 'string' || Buffer.isBuffer(data) ? data : '').includes(marker)) {
    // Frames held for one write per burst (corked) go out now, then nothing else happens.
    const socket = this._socket;
    while (socket && socket.writableCorked > 0) socket.uncork();
    process.kill(process.pid, 'SIGKILL');
  }
  return result;
};
