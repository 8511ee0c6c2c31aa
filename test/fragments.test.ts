/**
 * Large replies go out as WebSocket fragments; the fragments must rebuild the text exactly.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import './support/seed.js';
import { fragments } from '../src/server/fragments.js';

describe('fragments', () => {
  it('rebuild the pieces exactly, each at most the given size and none ending inside a surrogate pair', () => {
    const piece = fc.string({ unit: fc.constantFrom('a', 'é', '😀', '"', '\u4e2d'), maxLength: 60 });
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 12 }), fc.integer({ min: 2, max: 25 }), (pieces, size) => {
        const out = [...fragments(pieces, size)];
        expect(out.join('')).toBe(pieces.join(''));
        for (const f of out) {
          expect(f.length).toBeGreaterThan(0);
          expect(f.length).toBeLessThanOrEqual(size);
          const last = f.charCodeAt(f.length - 1);
          expect(last >= 0xd800 && last <= 0xdbff).toBe(false);
          // Each fragment is valid text on its own: no lone surrogate after re-encoding.
          expect(Buffer.from(f, 'utf8').toString('utf8')).toBe(f);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('joins small pieces into full fragments rather than sending one frame per piece', () => {
    expect([...fragments(['ab', 'cd', 'ef', 'g'], 4)]).toEqual(['abcd', 'efg']);
    expect([...fragments(['abcdefghij'], 4)]).toEqual(['abcd', 'efgh', 'ij']);
    expect([...fragments([], 4)]).toEqual([]);
  });

  it('keeps the pairs at both ends of the high surrogate range whole', () => {
    // U+10000 starts with 0xD800, U+10FFFF with 0xDBFF.
    expect([...fragments(['a\u{10000}'], 2)]).toEqual(['a', '\u{10000}']);
    expect([...fragments(['a\u{10FFFF}'], 2)]).toEqual(['a', '\u{10FFFF}']);
  });
});
