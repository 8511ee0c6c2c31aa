/**
 * Helpers on change sets as they travel between generations.
 */
import type { Changes } from './schemas.js';

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Revisions clients replay only changes that carry `$input` (PROTOCOL.md §12). A change that did
 * not come from one (a classic client, a Yjs peer, a repair) gets an `$input` equal to what changed.
 */
export function withInput(changes: Changes): Changes {
  const out: Changes = {};
  for (const [key, entry] of Object.entries(changes)) {
    if (!isObject(entry) || '$input' in entry) {
      out[key] = entry;
      continue;
    }
    if (key === 'project') {
      const { id: _clientProjectId, ...fields } = entry;
      out[key] = { ...entry, $input: fields };
      continue;
    }
    const input: Record<string, unknown> = {};
    for (const kind of ['added', 'updated', 'removed']) if (Array.isArray(entry[kind])) input[kind] = entry[kind];
    out[key] = { ...entry, $input: input };
  }
  return out;
}
