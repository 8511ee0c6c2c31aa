/**
 * The write gate (src/persistence/write-gate.ts): after LevelDB failed to write (a full disk), no
 * write reaches it until it was reopened, the client hears a short reason without server paths,
 * and any other error passes through untouched.
 */
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Level } from 'level';
import { REOPEN_FREE_BYTES, WriteGate } from '../src/persistence/write-gate.js';

vi.mock('node:fs/promises', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs/promises')>();
  return { ...actual, statfs: vi.fn(actual.statfs) };
});

/** A stand-in database that counts reopenings (the gate only closes and opens it). */
function fakeDb() {
  const calls: string[] = [];
  const db = { close: async () => void calls.push('close'), open: async () => void calls.push('open') };
  return { db: db as unknown as Level<string, Uint8Array>, calls };
}

const space = (bytes: number) => ({ bavail: bytes / 2, bsize: 2 }) as Awaited<ReturnType<typeof statfs>>;
// Free space is what the test says, not what the machine has.
beforeEach(() => {
  vi.mocked(statfs).mockReset();
  vi.mocked(statfs).mockResolvedValue(space(4 * REOPEN_FREE_BYTES));
});

const ioError = () => Object.assign(new Error('IO error: /data/db/000003.log: No space left on device'), { code: 'LEVEL_IO_ERROR' });

describe('the write gate', () => {
  it('refuses a write that failed on I/O with the reason and no path, keeping the original as cause', async () => {
    const { db } = fakeDb();
    const gate = new WriteGate(db, tmpdir());
    const original = ioError();
    const refusal = await gate.run(() => Promise.reject(original)).catch((e: Error) => e);
    expect(refusal).toBeInstanceOf(Error);
    expect((refusal as Error).message).toBe('Not stored: the server cannot write to its storage (No space left on device)');
    expect((refusal as Error).cause).toBe(original);
  });

  it('uses the whole message as the reason when it has no path in front', async () => {
    const gate = new WriteGate(fakeDb().db, tmpdir());
    const error = Object.assign(new Error('disk gone'), { code: 'LEVEL_IO_ERROR' });
    await expect(gate.run(() => Promise.reject(error))).rejects.toThrow('Not stored: the server cannot write to its storage (disk gone)');
  });

  it('reopens the database once before the next write, and then writes as before', async () => {
    const { db, calls } = fakeDb();
    const gate = new WriteGate(db, tmpdir());
    await gate.run(() => Promise.reject(ioError())).catch(() => {});
    expect(calls).toEqual([]);
    const results = await Promise.all([gate.run(async () => 1), gate.run(async () => 2)]);
    expect(results).toEqual([1, 2]);
    expect(calls).toEqual(['close', 'open']);
    expect(await gate.run(async () => 3)).toBe(3);
    expect(calls).toEqual(['close', 'open']);
  });

  it('keeps refusing, without touching the database, while there is no room to reopen it', async () => {
    const { db, calls } = fakeDb();
    // A directory that cannot be examined counts as one without free space.
    vi.mocked(statfs).mockRejectedValue(Object.assign(new Error('ENOENT'), { code: 'ENOENT' }));
    const gate = new WriteGate(db, join(tmpdir(), 'weft-no-such-dir', 'db'));
    await gate.run(() => Promise.reject(ioError())).catch(() => {});
    let wrote = false;
    await expect(gate.run(async () => (wrote = true))).rejects.toThrow('Not stored: the server cannot write to its storage (No space left on device)');
    await expect(gate.run(async () => (wrote = true))).rejects.toThrow('Not stored');
    expect(wrote).toBe(false);
    expect(calls).toEqual([]);
  });

  it('passes any other error through unchanged and does not reopen after it', async () => {
    const { db, calls } = fakeDb();
    const gate = new WriteGate(db, tmpdir());
    const other = Object.assign(new Error('Value cannot be null'), { code: 'LEVEL_INVALID_VALUE' });
    await expect(gate.run(() => Promise.reject(other))).rejects.toBe(other);
    expect(await gate.run(async () => 'ok')).toBe('ok');
    expect(calls).toEqual([]);
  });

  it('reopens only once the free space reaches what recovery needs', async () => {
    const { db, calls } = fakeDb();
    const gate = new WriteGate(db, tmpdir());
    await gate.run(() => Promise.reject(ioError())).catch(() => {});
    vi.mocked(statfs).mockResolvedValueOnce(space(REOPEN_FREE_BYTES - 2));
    await expect(gate.run(async () => 'early')).rejects.toThrow('Not stored');
    expect(calls).toEqual([]);
    vi.mocked(statfs).mockResolvedValueOnce(space(REOPEN_FREE_BYTES));
    expect(await gate.run(async () => 'later')).toBe('later');
    expect(calls).toEqual(['close', 'open']);
  });
});
