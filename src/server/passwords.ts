/**
 * Configured passwords: scrypt hashes (node:crypto), written `scrypt$<N>$<r>$<p>$<salt>$<hash>`
 * with salt and hash in base64url, made by `weft hash-password`. A plain-text password still
 * works (the demo setup), compared in constant time; the server warns about it at start.
 */
import { randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';

const PREFIX = 'scrypt$';
/** Cost parameters: about 50 ms per check on a 2-core machine, 16 MB of memory. */
const N = 16384;
const R = 8;
const P = 1;
const KEY_BYTES = 32;

export function isHashed(stored: string): boolean {
  return stored.startsWith(PREFIX);
}

export function hashPassword(password: string): string {
  const salt = randomBytes(16);
  const key = scryptSync(password, salt, KEY_BYTES, { N, r: R, p: P, maxmem: 64 * 1024 * 1024 });
  return `${PREFIX}${N}$${R}$${P}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

/** True when `given` is the password `stored` holds (a hash or plain text). */
export function verifyPassword(given: string, stored: string): boolean {
  if (!isHashed(stored)) return sameBytes(Buffer.from(given), Buffer.from(stored));
  const parts = stored.split('$');
  if (parts.length !== 6) return false;
  const [n, r, p] = parts.slice(1, 4).map(Number);
  // Bounds keep a mistyped config from making every login take seconds or exhaust memory.
  if (![n, r, p].every(Number.isSafeInteger) || n < 2 || n > 1 << 20 || (n & (n - 1)) !== 0 || r < 1 || r > 32 || p < 1 || p > 16) return false;
  const salt = Buffer.from(parts[4], 'base64url');
  const expected = Buffer.from(parts[5], 'base64url');
  if (expected.length < 16 || expected.length > 128) return false;
  const key = scryptSync(given, salt, expected.length, { N: n, r, p, maxmem: 256 * 1024 * 1024 });
  return timingSafeEqual(key, expected);
}

/** Whether a secret someone sent (a token, a header) is the expected one, in constant time. */
export function sameSecret(given: string, expected: string): boolean {
  return sameBytes(Buffer.from(given), Buffer.from(expected));
}

/** Constant time for equal lengths; unequal lengths compare against themselves so timing does not say which. */
function sameBytes(a: Buffer, b: Buffer): boolean {
  if (a.length !== b.length) {
    timingSafeEqual(a, a);
    return false;
  }
  return timingSafeEqual(a, b);
}
