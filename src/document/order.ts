/**
 * Fractional order keys: strings that sort lexicographically in sibling order, so a task is
 * placed between two siblings by writing one field instead of renumbering the others.
 *
 * A key is an integer part (a head letter giving its length, then base-62 digits) followed by an
 * optional fraction. Appending or prepending steps the integer, so keys stay short for long runs
 * of appends; inserting between two neighbours bisects the fraction.
 */
const DIGITS = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const BASE = DIGITS.length;
const SMALLEST_INTEGER = 'A' + '0'.repeat(26);

function integerLength(head: string): number {
  if (head >= 'a' && head <= 'z') return head.charCodeAt(0) - 97 + 2;
  if (head >= 'A' && head <= 'Z') return 90 - head.charCodeAt(0) + 2;
  throw new RangeError(`invalid order key head: ${head}`);
}

function integerPart(key: string): string {
  const length = integerLength(key[0]);
  if (length > key.length) throw new RangeError(`invalid order key: ${key}`);
  return key.slice(0, length);
}

/**
 * Whether `key` has the form this module hands out (Yjs peers may write anything). Only such keys
 * can bound keyBetween: a fraction ending in '0' leaves no key between it and its prefix.
 */
export function isOrderKey(key: unknown): key is string {
  if (typeof key !== 'string' || key === '' || key === SMALLEST_INTEGER) return false;
  const head = key[0];
  if (!((head >= 'a' && head <= 'z') || (head >= 'A' && head <= 'Z'))) return false;
  const length = integerLength(head);
  if (key.length < length || (key.length > length && key.endsWith('0'))) return false;
  for (let i = 1; i < key.length; i++) if (!DIGITS.includes(key[i])) return false;
  return true;
}

/** A digit string strictly between fractions a and b (b null = 1). Never ends in '0'. */
function midpoint(a: string, b: string | null): string {
  let result = '';
  for (let i = 0; ; i++) {
    const lo = i < a.length ? DIGITS.indexOf(a[i]) : 0;
    const hi = b !== null && i < b.length ? DIGITS.indexOf(b[i]) : BASE;
    if (lo === hi) {
      result += DIGITS[lo];
      continue;
    }
    if (hi - lo > 1) return result + DIGITS[(lo + hi) >> 1];
    // Adjacent digits: keep a's digit; the bound from b no longer applies further right.
    result += DIGITS[lo];
    b = null;
  }
}

function stepInteger(x: string, delta: 1 | -1): string | null {
  const head = x[0];
  const digits = x.slice(1).split('');
  const wrapTo = delta === 1 ? '0' : DIGITS[BASE - 1];
  let carry = true;
  for (let i = digits.length - 1; carry && i >= 0; i--) {
    const d = DIGITS.indexOf(digits[i]) + delta;
    if (d === BASE || d === -1) digits[i] = wrapTo;
    else {
      digits[i] = DIGITS[d];
      carry = false;
    }
  }
  if (!carry) return head + digits.join('');
  if (delta === 1) {
    if (head === 'Z') return 'a0';
    if (head === 'z') return null;
    const next = String.fromCharCode(head.charCodeAt(0) + 1);
    // Stryker disable next-line EqualityOperator: next is never 'a' ('Z' returned above), so `>=` is the same
    if (next > 'a') digits.push('0');
    else digits.pop();
    return next + digits.join('');
  }
  if (head === 'a') return 'Z' + DIGITS[BASE - 1];
  // Stryker disable next-line ConditionalExpression,StringLiteral: the one caller stepping down never passes the smallest integer
  if (head === 'A') return null;
  const prev = String.fromCharCode(head.charCodeAt(0) - 1);
  // Stryker disable next-line EqualityOperator: prev is never 'Z' ('a' returned above), so `<=` is the same
  if (prev < 'Z') digits.push(DIGITS[BASE - 1]);
  else digits.pop();
  return prev + digits.join('');
}

/** A key strictly between `a` and `b`; null means "no bound on that side". Requires a < b. */
export function keyBetween(a: string | null, b: string | null): string {
  if (a !== null && b !== null && a >= b) throw new RangeError(`order keys out of order: ${a} >= ${b}`);
  if (a === null && b === null) return 'a0';
  if (a === null) {
    const ib = integerPart(b!);
    const fb = b!.slice(ib.length);
    if (ib === SMALLEST_INTEGER) return ib + midpoint('', fb);
    if (ib < b!) return ib;
    // ib is not the smallest integer (returned above), so it has one before it.
    return stepInteger(ib, -1)!;
  }
  const ia = integerPart(a);
  const fa = a.slice(ia.length);
  if (b === null) return stepInteger(ia, 1) ?? ia + midpoint(fa, null);
  const ib = integerPart(b);
  if (ia === ib) return ia + midpoint(fa, b.slice(ib.length));
  // a < b and their integer parts differ, so ia < ib: ia is not the largest integer, and has a next.
  const next = stepInteger(ia, 1)!;
  return next < b ? next : ia + midpoint(fa, null);
}

/** `n` increasing keys strictly between a and b. */
export function keysBetween(a: string | null, b: string | null, n: number): string[] {
  const keys: string[] = [];
  if (n <= 0) return keys;
  if (b === null) {
    let prev = a;
    for (let i = 0; i < n; i++) keys.push((prev = keyBetween(prev, null)));
    return keys;
  }
  // Bisect recursively so keys stay short when many are placed between two neighbours.
  const mid = keyBetween(a, b);
  const left = Math.floor((n - 1) / 2);
  return [...keysBetween(a, mid, left), mid, ...keysBetween(mid, b, n - 1 - left)];
}
