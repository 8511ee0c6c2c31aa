/** Timers for when a login's token expires. */

/**
 * Run `expire` at `ms` (epoch milliseconds): at once when that is past. Far expiries are waited
 * for in steps, as a Node timer cannot wait longer than about 24.8 days. Returns what cancels it.
 */
export function atTime(ms: number, expire: () => void): () => void {
  let timer: NodeJS.Timeout | null = null;
  const arm = () => {
    const wait = ms - Date.now();
    if (wait <= 0) {
      timer = null;
      return expire();
    }
    timer = setTimeout(arm, Math.min(wait, 2 ** 31 - 1));
    timer.unref();
  };
  arm();
  return () => {
    if (timer) clearTimeout(timer);
    timer = null;
  };
}
