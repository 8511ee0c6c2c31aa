/**
 * A project's update log in LevelDB: every committed Yjs update gets the next sequence number,
 * and the log is folded from time to time into snapshot chunks. Folding merges stored bytes in a
 * worker thread (src/persistence/merger.ts), beside the project's queue, and at most one fold
 * runs at a time.
 */
import { updatesOf, type Commit, type ProjectStorage, type StoredChunk, type StoredProject } from './storage.js';
import { mergeUpdates } from './merger.js';

/** Snapshot chunks are folded up to about this size, so loading applies them in small steps. */
export const CHUNK_BYTES = 64 * 1024;

export class UpdateLog {
  private seq = 0;
  private snapshotSeq = 0;
  /** Committed updates not yet folded into the snapshot chunks, in sequence order. */
  private unfolded: Uint8Array[] = [];
  private lastChunk: StoredChunk | null = null;
  private folding: Promise<void> | null = null;

  constructor(private readonly storage: ProjectStorage) {}

  /** Start from what was stored (null: an empty log). */
  reset(stored: StoredProject | null): void {
    this.seq = stored?.lastSeq ?? 0;
    this.snapshotSeq = stored?.snapshotSeq ?? 0;
    this.unfolded = stored?.updates ?? [];
    this.lastChunk = stored?.lastChunk ?? null;
  }

  /** Sequence number of the last update written. */
  get lastSeq(): number {
    return this.seq;
  }

  /** Updates written since the last fold. */
  get unfoldedCount(): number {
    return this.seq - this.snapshotSeq;
  }

  /** Write a commit in one batch; its updates (if any) get the next sequence numbers. */
  async write(commit: Omit<Commit, 'seq'>): Promise<void> {
    const updates = updatesOf(commit);
    await this.storage.commit({ ...commit, seq: this.seq + 1 });
    this.seq += updates.length;
    this.unfolded.push(...updates);
  }

  /**
   * The whole logged state as updates to apply in order: the snapshot chunks, then the updates
   * not folded yet (call this where no write can land meanwhile). The chunks before the last are
   * read from storage as the stream is consumed; they are never rewritten, and the last one and
   * the log are taken from memory at the call, so a fold finishing meanwhile cannot make the
   * parts overlap or miss anything.
   */
  read(): AsyncGenerator<Uint8Array> {
    return logged(this.storage, this.lastChunk, this.unfolded.slice());
  }

  /** The same, all read into a list. */
  async parts(): Promise<Uint8Array[]> {
    const out: Uint8Array[] = [];
    for await (const part of this.read()) out.push(part);
    return out;
  }

  /** Fold the updates written so far into snapshot chunks (joins a fold already running). */
  fold(): Promise<void> {
    return (this.folding ??= this.foldNow().finally(() => (this.folding = null)));
  }

  /** Resolves once no fold is running. */
  async settled(): Promise<void> {
    await this.folding;
  }

  /**
   * Merge the updates since the last fold into chunks of about CHUNK_BYTES, the first one
   * continuing the last chunk while it is small.
   */
  private async foldNow(): Promise<void> {
    const seq = this.seq;
    const updates = this.unfolded.slice(0, seq - this.snapshotSeq);
    if (updates.length === 0) return;
    // A last chunk still under the size is rewritten with the new updates merged after it.
    const last = this.lastChunk;
    const extend = last !== null && last.bytes.byteLength < CHUNK_BYTES;
    const groups: Uint8Array[][] = [extend ? [last.bytes] : []];
    let size = extend ? last.bytes.byteLength : 0;
    for (const update of updates) {
      if (size >= CHUNK_BYTES) {
        groups.push([]);
        size = 0;
      }
      groups[groups.length - 1].push(update);
      size += update.byteLength;
    }
    let index = last === null ? 0 : extend ? last.index : last.index + 1;
    const chunks: StoredChunk[] = [];
    for (const group of groups) chunks.push({ index: index++, bytes: await mergeUpdates(group) });
    await this.storage.compact(chunks, seq);
    this.lastChunk = chunks[chunks.length - 1];
    this.unfolded.splice(0, updates.length);
    this.snapshotSeq = seq;
  }
}

async function* logged(storage: ProjectStorage, last: StoredChunk | null, unfolded: Uint8Array[]): AsyncGenerator<Uint8Array> {
  if (last) {
    yield* storage.chunks(last.index);
    yield last.bytes;
  }
  yield* unfolded;
}
