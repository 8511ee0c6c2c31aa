/**
 * How server-side versions look to Bryntum clients: records of their `versions` store with ids
 * `weft-<n>`. They are added to datasets when they are sent, never stored in the Y.Doc, so the
 * document holds only what clients wrote.
 *
 * Clients see the versions people and the schedule take (manual, auto). The safety versions taken
 * before a reset or a restore stay with the admins (CLI, admin API): a reset must hand clients
 * exactly the seed dataset, with exactly a dataset and a reset message (PROTOCOL.md §5.6, §6.6).
 */
import type { DatasetTexts } from '../document/dataset.js';
import { VERSIONS, type RecordId } from '../document/layout.js';
import type { VersionMeta } from './versions.js';

const PREFIX = 'weft-';

export const serverVersionId = (n: number): string => `${PREFIX}${n}`;

/** The version number in a `weft-<n>` id, or null for any other id. */
export function serverVersionNumber(id: RecordId): number | null {
  if (typeof id !== 'string' || !/^weft-[1-9]\d{0,11}$/.test(id)) return null;
  return Number(id.slice(PREFIX.length));
}

/**
 * Whether an id lies in the server's version id space (`weft-` and digits, whatever their form):
 * a client's record under such an id would pass for a server version, now or once the number
 * is reached, so the document never holds one.
 */
export function isServerVersionId(id: unknown): boolean {
  return typeof id === 'string' && /^weft-\d+$/.test(id);
}

export const shownToClients = (version: Pick<VersionMeta, 'reason'>): boolean => version.reason === 'manual' || version.reason === 'auto';

export function versionRecord(version: VersionMeta): Record<string, unknown> {
  return { id: serverVersionId(version.n), name: version.label, savedAt: version.time, isAutosave: version.reason === 'auto' };
}

/** The change set that tells clients of a new version and of the ones retention dropped; null when they see neither. */
export function versionsChange(added: VersionMeta, removed: readonly VersionMeta[]): Record<string, unknown> | null {
  const entry: Record<string, unknown> = {};
  if (shownToClients(added)) entry.added = [versionRecord(added)];
  const gone = removed.filter(shownToClients);
  if (gone.length) entry.removed = gone.map((v) => ({ id: serverVersionId(v.n) }));
  return Object.keys(entry).length ? { [VERSIONS]: entry } : null;
}

/** Dataset texts with the server versions appended to the document's own version records. */
export function withServerVersions(texts: DatasetTexts, versions: readonly VersionMeta[]): DatasetTexts {
  const shown = versions.filter(shownToClients);
  if (shown.length === 0) return texts;
  const own = texts.stores.get(VERSIONS) ?? '[]';
  const extra = shown.map((v) => JSON.stringify(versionRecord(v))).join(',');
  const stores = new Map(texts.stores);
  stores.set(VERSIONS, own === '[]' ? `[${extra}]` : `${own.slice(0, -1)},${extra}]`);
  return { ...texts, stores };
}
