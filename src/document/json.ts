/** Deep equality of JSON values (key order does not matter): a write of an equal value is skipped. */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) return a.length === (b as unknown[]).length && a.every((v, i) => sameJson(v, (b as unknown[])[i]));
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k) => Object.hasOwn(b, k) && sameJson((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

/**
 * A nested change set inside a record (a calendar's `intervals: {added: [...]}`): only `added`,
 * `updated` and `removed`, each an array. It is merged into the stored value, not stored as one.
 */
export function isNestedChangeSet(value: unknown): value is { added?: unknown[]; updated?: unknown[]; removed?: unknown[] } {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const keys = Object.keys(value);
  return keys.length > 0 && keys.every((k) => (k === 'added' || k === 'updated' || k === 'removed') && Array.isArray((value as Record<string, unknown>)[k]));
}
