/**
 * Sessions of the history page: a random id in an HttpOnly, SameSite=Strict cookie, and a CSRF
 * token per session that every write must send back in a header (a page of another site can make
 * the browser send the cookie, but cannot read the token).
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';

export interface Session {
  user: string;
  csrf: string;
  expires: number;
}

export const COOKIE = 'weft_history';

export class Sessions {
  private readonly byId = new Map<string, Session>();

  constructor(
    private readonly ttlMs = 8 * 3600_000,
    /** Sessions kept at most; the oldest go first. */
    private readonly max = 10_000,
  ) {}

  create(user: string, now = Date.now()): { id: string; session: Session } {
    this.prune(now);
    while (this.byId.size >= this.max) this.byId.delete(this.byId.keys().next().value as string);
    const id = randomBytes(32).toString('base64url');
    const session = { user, csrf: randomBytes(24).toString('base64url'), expires: now + this.ttlMs };
    this.byId.set(id, session);
    return { id, session };
  }

  /** The session a request's cookie header names, if it is live. */
  fromCookie(header: string | undefined, now = Date.now()): { id: string; session: Session } | null {
    const id = cookieValue(header, COOKIE);
    const session = id ? this.byId.get(id) : undefined;
    if (!id || !session) return null;
    if (session.expires < now) {
      this.byId.delete(id);
      return null;
    }
    return { id, session };
  }

  end(id: string): void {
    this.byId.delete(id);
  }

  private prune(now: number): void {
    for (const [id, s] of this.byId) if (s.expires < now) this.byId.delete(id);
  }
}

export function sameToken(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export function cookieValue(header: string | undefined, name: string): string | null {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq !== -1 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}

export function sessionCookie(id: string, maxAgeSeconds: number): string {
  return `${COOKIE}=${id}; Path=/history; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSeconds}`;
}
