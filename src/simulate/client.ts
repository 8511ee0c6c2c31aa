/** What the runner needs from every simulated client, whatever protocol it speaks. */
import type { Op, OpKind } from './ops.js';
import type { View } from './view.js';

export type ClientKind = 'classic' | 'revisions' | 'yjs';
export const CLIENT_KINDS: ClientKind[] = ['classic', 'revisions', 'yjs'];

export interface ClientOptions {
  /** Name shown in reports, also the login name unless `login` is set. */
  name: string;
  /** Base URL of the server, e.g. ws://127.0.0.1:8080. */
  url: string;
  project: string | number;
  login: string;
  password?: string;
  /** Called whenever something arrives from the server (for progress and quiet detection). */
  onActivity?: () => void;
  timeoutMs?: number;
}

export interface ClientStats {
  ops: Partial<Record<OpKind, number>>;
  /** Ops that no longer fitted the view when made (a record removed meanwhile). */
  skipped: number;
  messages: number;
  offlinePeriods: number;
  /** Server revisions from 'weft-server' this client saw (revisions clients only). */
  repairs: number;
}

export interface SimClient {
  readonly name: string;
  readonly kind: ClientKind;
  readonly stats: ClientStats;
  /** Error messages the server sent this client. */
  readonly errors: string[];
  /** Connected and in step (dataset loaded / caught up / synced). */
  readonly online: boolean;
  /** First connection. */
  start(): Promise<void>;
  /** The client's current picture of the project. */
  view(): View;
  /** Make an edit locally and send it (or keep it for later when offline). False when it did not fit. */
  edit(op: Op): boolean;
  /** Close the connection; edits go on locally. */
  goOffline(): void;
  /** Reconnect and get back in step; resolves when online. */
  goOnline(): Promise<void>;
  /** Online with nothing of its own waiting for the server. */
  settled(): boolean;
  /** What the client still waits for, for reports when it never settles. */
  describeState(): string;
  close(): Promise<void>;
}

export function emptyStats(): ClientStats {
  return { ops: {}, skipped: 0, messages: 0, offlinePeriods: 0, repairs: 0 };
}

export function countOp(stats: ClientStats, op: Op, applied: boolean): void {
  if (!applied) {
    stats.skipped++;
    return;
  }
  stats.ops[op.kind] = (stats.ops[op.kind] ?? 0) + 1;
}
