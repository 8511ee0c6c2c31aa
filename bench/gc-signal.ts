/**
 * Preloaded into server processes (`node --expose-gc --import gc-signal.js ...`): SIGUSR2 runs a
 * full garbage collection and reports the process's memory afterwards on stderr, one JSON line
 * prefixed with `[gc-signal]`.
 */
const collect = (globalThis as { gc?: () => void }).gc;
process.on('SIGUSR2', () => {
  collect?.();
  const { rss, heapTotal, heapUsed, external, arrayBuffers } = process.memoryUsage();
  process.stderr.write(`[gc-signal] ${JSON.stringify({ collected: collect !== undefined, rss, heapTotal, heapUsed, external, arrayBuffers })}\n`);
});
