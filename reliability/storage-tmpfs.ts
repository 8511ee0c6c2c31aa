/**
 * A small tmpfs for a data directory, to fill the disk for real. Mounting needs root; when it is
 * not permitted the caller says so and falls back (see storage-full-disk.ts).
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export interface Tmpfs {
  dir: string;
  /** Fill every free byte with a file of its own; returns the bytes written. */
  fill(): number;
  /** Remove the filler: the space is back. */
  free(): void;
  unmount(): void;
}

/** Mount a tmpfs of `megabytes` at `dir`, or null (with why) when mounting is not permitted. */
export function mountTmpfs(dir: string, megabytes: number): Tmpfs | { error: string } {
  mkdirSync(dir, { recursive: true });
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${megabytes}m,mode=0700`, 'tmpfs', dir], { stdio: 'pipe', timeout: 10_000 });
  } catch (e) {
    return { error: String((e as { stderr?: Buffer }).stderr ?? (e as Error).message).trim() };
  }
  const filler = join(dir, 'filler');
  let mounted = true;
  const unmount = () => {
    if (!mounted) return;
    mounted = false;
    process.off('exit', unmount);
    try {
      execFileSync('umount', [dir], { stdio: 'pipe', timeout: 10_000 });
    } catch {
      // Still busy (a child not yet gone): detach it, so nothing stays mounted.
      execFileSync('umount', ['-l', dir], { stdio: 'pipe', timeout: 10_000 });
    }
  };
  // An interrupted run (Ctrl-C: the runner exits) leaves nothing mounted either.
  process.on('exit', unmount);
  return {
    dir,
    fill() {
      const fd = openSync(filler, 'a');
      const block = Buffer.alloc(64 * 1024, 0x5a);
      let written = 0;
      try {
        // Bounded: the tmpfs is `megabytes` big. Smaller blocks at the end take the last pages.
        for (let size = block.length; size >= 512; ) {
          try {
            written += writeSync(fd, block, 0, size);
          } catch (e) {
            if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
            size >>= 1;
          }
        }
      } finally {
        closeSync(fd);
      }
      return written;
    },
    free() {
      rmSync(filler, { force: true });
    },
    unmount,
  };
}
