/**
 * Every write to LevelDB goes through here. A write that fails (a full disk) can leave half a
 * record at the end of LevelDB's log, and LevelDB keeps appending after it: at the next start its
 * recovery drops the rest of that log block, so changes written after the failure, though
 * reported stored, are lost. After a failure no write is let through until the database was
 * reopened (which recovers the log and starts a new one); until there is space for that, writes
 * are refused and reads go on from the database as it is.
 */
import { statfs } from 'node:fs/promises';
import type { Level } from 'level';

/** Free space needed before reopening: recovery writes the memory table (up to 4 MB) to a new file. */
export const REOPEN_FREE_BYTES = 8 * 1024 * 1024;

export class WriteGate {
  private failure: Error | null = null;
  private reopening: Promise<void> | null = null;

  constructor(
    private readonly db: Level<string, Uint8Array>,
    private readonly dir: string,
  ) {}

  async run<T>(write: () => Promise<T>): Promise<T> {
    if (this.failure) await (this.reopening ??= this.reopen().finally(() => (this.reopening = null)));
    try {
      return await write();
    } catch (e) {
      if ((e as { code?: string }).code === 'LEVEL_IO_ERROR') {
        this.failure = e as Error;
        throw notStored(e as Error);
      }
      throw e;
    }
  }

  private async reopen(): Promise<void> {
    const stats = await statfs(this.dir).catch(() => null);
    const free = stats ? stats.bavail * stats.bsize : 0;
    if (free < REOPEN_FREE_BYTES) throw notStored(this.failure!);
    await this.db.close();
    await this.db.open();
    this.failure = null;
  }
}

/** The client-facing error: what happened, without the server's paths ("IO error: /dir/000003.log: No space left on device"). */
function notStored(e: Error): Error {
  const cause = e.message.slice(e.message.lastIndexOf(': ') + 1).trim() || e.message;
  return new Error(`Not stored: the server cannot write to its storage (${cause})`, { cause: e });
}
