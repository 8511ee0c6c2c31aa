/**
 * Storage of a project's server-side versions in LevelDB, beside the project's other keys:
 * `ver:<n>` holds the metadata, `vs:<n>` (and `vs:<n>:<i>`) the full Yjs V2 state in parts: the
 * project's snapshot chunks and logged updates as they were stored, so taking a version merges
 * nothing and reading one applies small parts, one at a time. All are written in one batch, so a
 * version is either complete or absent.
 */
import { z } from 'zod';
import type { ProjectStorage } from '../persistence/storage.js';

export const VERSION_REASONS = ['manual', 'auto', 'before-reset', 'before-restore'] as const;
export type VersionReason = (typeof VERSION_REASONS)[number];

export const VersionMetaSchema = z.object({
  n: z.number().int().positive(),
  /** ISO time the version was taken. */
  time: z.string(),
  label: z.string(),
  reason: z.enum(VERSION_REASONS),
  /** Users who changed the project since the previous version. */
  authors: z.array(z.string()),
  /** Changes since the previous version. */
  changes: z.number().int().min(0),
  /** The last server revision the version includes (null before the first). */
  lastRevision: z.string().nullable(),
  /** Size of the stored state. */
  bytes: z.number().int().min(0),
  /** Number of stored parts of the state (absent: one). */
  parts: z.number().int().min(1).optional(),
});
export type VersionMeta = z.infer<typeof VersionMetaSchema>;

/** Counts since the newest version, kept so an auto version after a restart still knows them. */
export const PendingSchema = z.object({
  changes: z.number().int().min(0),
  authors: z.array(z.string()),
  /** Epoch ms of the first change not in a version yet; null when there is none. */
  since: z.number().nullable(),
  /** The project's next revision number when this was saved (changes after it were not counted). */
  nextRevision: z.number().int().min(0),
});
export type Pending = z.infer<typeof PendingSchema>;

export class VersionStore {
  constructor(private readonly storage: ProjectStorage) {}

  /** Every version, oldest first. Entries that do not parse are skipped rather than failing the list. */
  async list(): Promise<VersionMeta[]> {
    const raw = await this.storage.jsonSection<unknown>('ver');
    return raw.flatMap((value) => {
      const parsed = VersionMetaSchema.safeParse(value);
      return parsed.success ? [parsed.data] : [];
    });
  }

  /** The parts of a version's state, in order (undefined when any is missing). */
  async state(meta: VersionMeta): Promise<Uint8Array[] | undefined> {
    const parts: Uint8Array[] = [];
    for (let i = 0; i < (meta.parts ?? 1); i++) {
      const part = await this.storage.getBytes(this.storage.keys.versionState(meta.n, i));
      if (!part) return undefined;
      parts.push(part);
    }
    return parts;
  }

  /** Write a version and the pending counts that follow it, deleting `remove` in the same batch. */
  async add(meta: VersionMeta, state: Uint8Array[], pending: Pending, remove: VersionMeta[] = []): Promise<void> {
    const keys = this.storage.keys;
    await this.storage.write(
      [
        { key: keys.version(meta.n), value: { ...meta, parts: state.length } },
        ...state.map((part, i) => ({ key: keys.versionState(meta.n, i), value: part })),
        { key: keys.versionPending(), value: pending },
      ],
      remove.flatMap((v) => [keys.version(v.n), ...Array.from({ length: v.parts ?? 1 }, (_, i) => keys.versionState(v.n, i))]),
    );
  }

  /** Drop `remove` and write `add` (pending counts untouched) in one batch: another node's versions taken in. */
  async replace(add: { meta: VersionMeta; state: Uint8Array[] }[], remove: VersionMeta[]): Promise<void> {
    const keys = this.storage.keys;
    const puts: { key: string; value: unknown }[] = add.flatMap(({ meta, state }) => [
      { key: keys.version(meta.n), value: { ...meta, parts: state.length } },
      ...state.map((part, i) => ({ key: keys.versionState(meta.n, i), value: part })),
    ]);
    // A batch deletes after it puts: a key written again is not deleted.
    const written = new Set(puts.map((put) => put.key));
    const dels = remove.flatMap((v) => [keys.version(v.n), ...Array.from({ length: v.parts ?? 1 }, (_, i) => keys.versionState(v.n, i))]);
    await this.storage.write(puts, dels.filter((key) => !written.has(key)));
  }

  async pending(): Promise<Pending | undefined> {
    const parsed = PendingSchema.safeParse(await this.storage.getJson(this.storage.keys.versionPending()));
    return parsed.success ? parsed.data : undefined;
  }

  async savePending(pending: Pending): Promise<void> {
    await this.storage.write([{ key: this.storage.keys.versionPending(), value: pending }]);
  }
}
