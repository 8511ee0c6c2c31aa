/**
 * Hooks for a Node application that runs Weft inside itself: its own authentication, and being
 * told of committed changes and of projects loaded and unloaded. A hook that throws is logged and
 * never breaks the server (a throwing `authenticate` refuses that login).
 */
import { z } from 'zod';
import { ProjectIdSchema, type Changes, type ProjectId } from '../protocol/schemas.js';
import type { TokenGrant } from './tokens.js';

/** A login as the client sent it. */
export interface AuthRequest {
  /** The login name (empty when a Yjs peer sent only a token). */
  login: string;
  password: string | null;
  /** `token` of a Bryntum login, `?token=` or the first message of a Yjs peer. */
  token: string | null;
  /** The client's address. */
  address: string;
  /** A Bryntum client or a Yjs peer. */
  via: 'bryntum' | 'yjs';
}

/** What the host grants: the name others see, the projects it may open and change, until when. */
export const AuthAnswerSchema = z.strictObject({
  user: z.string().min(1).max(200),
  projects: z.union([z.literal('*'), z.array(ProjectIdSchema)]),
  /** true (default), false, or the project ids it may change. */
  write: z.union([z.boolean(), z.array(ProjectIdSchema)]).default(true),
  /** Epoch milliseconds; the connection is closed (4401) then. */
  expiresAt: z.number().nullable().default(null),
});
export type AuthAnswer = z.input<typeof AuthAnswerSchema>;

/** A change as clients received it. */
export interface CommittedChange {
  project: ProjectId;
  /** `server-<n>`. */
  revision: string;
  /** The connection (or Yjs peer) it came from; `weft-server` for what the server did itself. */
  client: string;
  /** Who made it; null for the server's own revisions (repairs, versions, restores by the CLI). */
  user: string | null;
  changes: Changes;
}

export interface WeftHooks {
  /**
   * Decide a login: an answer grants it, null refuses it ("Wrong username/password"), undefined
   * leaves it to the configured users and tokens.
   */
  authenticate?(request: AuthRequest): Promise<AuthAnswer | null | undefined> | AuthAnswer | null | undefined;
  /** Told of every committed change, after it is stored and sent. Read-only: do not change `changes`. */
  onCommit?(change: CommittedChange): void | Promise<void>;
  /** A project was loaded into memory (opened by a client, the CLI or the admin API). */
  onLoad?(project: ProjectId): void | Promise<void>;
  /** A project was unloaded (idle, deleted, or the server closing). */
  onUnload?(project: ProjectId): void | Promise<void>;
}

/** The host's answer as a grant; throws when it is not a valid answer. */
export function grantOf(answer: AuthAnswer): TokenGrant {
  const parsed = AuthAnswerSchema.safeParse(answer);
  if (!parsed.success) throw new Error(`authenticate hook answered ${parsed.error.issues.map((i) => `${i.path.join('.') || 'answer'}: ${i.message}`).join('; ')}`);
  return parsed.data;
}

/** Call a hook that must not break anything: errors (thrown or rejected) go to `failed`. */
export function safely<A extends unknown[]>(hook: ((...args: A) => unknown) | undefined, failed: (error: Error) => void, ...args: A): void {
  if (!hook) return;
  try {
    const result = hook(...args);
    if (result instanceof Promise) result.catch((e: unknown) => failed(e instanceof Error ? e : new Error(String(e))));
  } catch (e) {
    failed(e instanceof Error ? e : new Error(String(e)));
  }
}
