/**
 * A full disk under LevelDB: a write that fails leaves half a record in LevelDB's log. Writes let
 * through after it were reported stored but lost at the next start (recovery drops the rest of
 * the log block). Needs root to mount a small tmpfs; skipped where mounting is not permitted.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Storage } from '../src/persistence/storage.js';

const root = mkdtempSync(join(tmpdir(), 'weft-full-disk-'));
const mountDir = join(root, 'tmpfs');
mkdirSync(mountDir);
let mounted = false;
try {
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=32m', 'tmpfs', mountDir], { stdio: 'pipe' });
  mounted = true;
} catch {
  // Not root, or no mount here: the test is skipped.
}

afterAll(() => {
  if (mounted) execFileSync('umount', ['-l', mountDir], { stdio: 'pipe' });
  rmSync(root, { recursive: true, force: true });
});

/** Fill every free byte of the tmpfs with one file. */
function fill(file: string): void {
  const fd = openSync(file, 'a');
  const block = Buffer.alloc(64 * 1024, 1);
  try {
    for (let size = block.length; size >= 512; ) {
      try {
        writeSync(fd, block, 0, size);
      } catch {
        size >>= 1;
      }
    }
  } finally {
    closeSync(fd);
  }
}

describe.skipIf(!mounted)('a full disk', () => {
  it('refuses writes while full, and what is stored once the space is back survives a crash', async () => {
    const dbDir = join(mountDir, 'db');
    const storage = await Storage.open(dbDir);
    const value = (i: number) => ({ text: 'x'.repeat(300), i });
    for (let i = 0; i < 20; i++) await storage.write([{ key: `before:${i}`, value: value(i) }]);

    const filler = join(mountDir, 'filler');
    fill(filler);
    let refused: Error | null = null;
    for (let i = 0; i < 500 && !refused; i++) await storage.write([{ key: `full:${i}`, value: value(i) }]).catch((e: Error) => (refused = e));
    expect(refused).not.toBeNull();
    expect(refused!.message).toMatch(/^Not stored: the server cannot write to its storage \(.*No space left on device\)$/);
    // Still full: refused again, without touching the log.
    await expect(storage.write([{ key: 'full:again', value: value(0) }])).rejects.toThrow(/Not stored/);

    rmSync(filler);
    for (let i = 0; i < 20; i++) await storage.write([{ key: `after:${i}`, value: value(i) }]);

    // The files as a crash would leave them (nothing in flight): copied, opened elsewhere.
    const copy = join(root, 'copy');
    cpSync(dbDir, copy, { recursive: true });
    await storage.close();
    const reopened = await Storage.open(copy);
    const after = await reopened.jsonRange('after:', 'after;');
    const before = await reopened.jsonRange('before:', 'before;');
    await reopened.close();
    expect(before).toHaveLength(20);
    expect(after.map(([key]) => key).sort()).toEqual(Array.from({ length: 20 }, (_, i) => `after:${i}`).sort());
  });
});
