/**
 * Which versions a retention policy drops: the newest `keepLast` stay; of the older ones, the
 * newest of each UTC day stays for `keepDaily` days; the rest go. The newest version always stays,
 * so version numbers keep counting up from it.
 */
const DAY_MS = 86_400_000;

export interface RetentionPolicy {
  keepLast: number;
  keepDaily: number;
}

export function versionsToDrop(versions: readonly { n: number; time: string }[], policy: RetentionPolicy, now: number): number[] {
  const newestFirst = [...versions].sort((a, b) => b.n - a.n);
  const drop: number[] = [];
  const daysKept = new Set<string>();
  newestFirst.forEach((version, i) => {
    if (i === 0 || i < policy.keepLast) return;
    const time = Date.parse(version.time);
    const day = Number.isNaN(time) ? '' : new Date(time).toISOString().slice(0, 10);
    if (day && now - time < policy.keepDaily * DAY_MS && !daysKept.has(day)) {
      daysKept.add(day);
      return;
    }
    drop.push(version.n);
  });
  return drop;
}
