/**
 * `<dataDir>/weft-server.json`: how to reach the server that holds a data directory. LevelDB lets
 * one process open the directory, so the CLI finds the running server here and talks to it with
 * the token, which only those who can read the directory (mode 0600) learn.
 */
import { chmod, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';

export const SIDECAR_FILE = 'weft-server.json';

export const SidecarSchema = z.object({ url: z.url(), token: z.string().min(16), pid: z.number().int() });
export type Sidecar = z.infer<typeof SidecarSchema>;

export const sidecarPath = (dataDir: string) => join(dataDir, SIDECAR_FILE);

/** The URL the CLI on this machine uses for a server listening on `host`. */
export function localUrl(host: string, port: number): string {
  const reachable = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `http://${reachable.includes(':') ? `[${reachable}]` : reachable}:${port}`;
}

export async function writeSidecar(dataDir: string, sidecar: Sidecar): Promise<void> {
  const path = sidecarPath(dataDir);
  // A file left by a crashed server keeps its mode on overwrite: remove it first.
  await rm(path, { force: true });
  await writeFile(path, JSON.stringify(sidecar), { mode: 0o600, flag: 'wx' });
  await chmod(path, 0o600);
}

export async function removeSidecar(dataDir: string): Promise<void> {
  await rm(sidecarPath(dataDir), { force: true });
}

/** The sidecar of a data directory, or undefined when there is none (or it is unreadable). */
export async function readSidecar(dataDir: string): Promise<Sidecar | undefined> {
  try {
    // Stryker disable next-line StringLiteral: without an encoding readFile gives a Buffer, which JSON.parse reads as the same UTF-8 text
    const parsed = SidecarSchema.safeParse(JSON.parse(await readFile(sidecarPath(dataDir), 'utf8')));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
