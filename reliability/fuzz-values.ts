/**
 * Values a hostile client may put anywhere in a message: pools drawn once with fast-check from the
 * run's seed (so generation stays cheap for a million messages), plus the hand-picked edge cases
 * of JSON and of this protocol (ids near the id counter's bound, phantom ids, prototype keys).
 * Values JSON cannot express (`-0`, `1e999`, lone surrogates, NaN) travel as raw tokens that
 * `encode` splices into the text.
 */
import fc from 'fast-check';
import { Random } from '../src/simulate/random.js';

/** A value written into the JSON text as is. */
export class Raw {
  constructor(readonly text: string) {}
}

const RAW_NUMBERS = ['-0', '1e999', '-1e999', '1e-400', '0.0000000000000000000000001', '123456789012345678901234567890', 'NaN', 'Infinity'];
const RAW_STRINGS = ['"\\ud800"', '"\\udfff\\ud800"', '"a\\u0000b"', '"\\u202e"'];

export const EDGE_NUMBERS = [0, -1, 1, 0.5, -0.5, 1e14 - 1, 1e14, 1e14 + 1, 2 ** 31, 2 ** 32 + 1, 2 ** 53, 2 ** 53 + 2, -(2 ** 53), 1e300, -1e300, 5e-324, Number.MAX_VALUE];
export const EDGE_STRINGS = ['', ' ', '0', '1', '-1', 'null', 'undefined', 'NaN', '__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'server-1', 'server-999999999', 'local-1', 'tasks-17', 'weft-1', '$input', '$PhantomId', '\u0000', '𝕏😀', 'ן‏ש', '\\', '"', '<script>', '../../etc/passwd'];
export const PROTO_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'valueOf', 'hasOwnProperty', '$base', '$order', '$input', '', 'a'.repeat(300)];

export interface Pools {
  json: unknown[];
  strings: string[];
  anything: unknown[];
  keys: string[];
}

/** Draw the pools from fast-check's arbitraries, reproducibly from `seed`. */
export function drawPools(seed: number, size: number): Pools {
  const draw = <T>(arb: fc.Arbitrary<T>, n: number, offset: number) => fc.sample(arb, { seed: (seed + offset) | 0, numRuns: n });
  return {
    json: draw(fc.jsonValue({ maxDepth: 4 }), size, 1),
    strings: draw(fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: 'binary', maxLength: 40 }), fc.string({ unit: 'grapheme', maxLength: 20 })), size, 2),
    anything: draw(fc.anything({ maxDepth: 3, withNullPrototype: false, withBoxedValues: false, withMap: false, withSet: false, withTypedArray: false, withSparseArray: true }), size, 3),
    keys: draw(fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom(...PROTO_KEYS)), Math.min(size, 500), 4),
  };
}

/** Nested arrays or objects `depth` deep, as raw text (cheap even for very deep ones). */
export function deep(depth: number, objects: boolean): Raw {
  return new Raw(objects ? '{"a":'.repeat(depth) + '1' + '}'.repeat(depth) : '['.repeat(depth) + '1' + ']'.repeat(depth));
}

/** Something of the wrong kind or at an edge, for any field. */
export function wild(r: Random, pools: Pools): unknown {
  switch (r.int(0, 9)) {
    case 0:
      return r.pick(EDGE_NUMBERS) * (r.chance(0.5) ? 1 : -1);
    case 1:
      return r.pick(EDGE_STRINGS);
    case 2:
      return new Raw(r.pick([...RAW_NUMBERS, ...RAW_STRINGS]));
    case 3:
      return r.pick(pools.json);
    case 4:
      return r.pick(pools.strings);
    case 5:
      return r.pick(pools.anything);
    case 6:
      // Megabyte values stay rare: parsing them is most of the server's work, and they would cut
      // the count of messages a run can send tenfold without finding more.
      return r.chance(0.1) ? 'x'.repeat(r.chance(0.01) ? 1_000_000 : r.pick([1_000, 10_000, 100_000])) : r.pick([null, true, false, [], {}]);
    case 7:
      return deep(r.pick([8, 63, 64, 65, 200, r.chance(0.01) ? 100_000 : 1_000]), r.chance(0.5));
    case 8:
      return { [r.pick(PROTO_KEYS)]: r.pick(pools.json) };
    default:
      return r.int(-1000, 1000);
  }
}

/** JSON text of `value`, with Raw tokens written as their text. */
export function encode(value: unknown): string {
  const raws: string[] = [];
  const text = JSON.stringify(value, (_key, v) => {
    if (v instanceof Raw) return `\u0001raw${raws.push(v.text) - 1}\u0001`;
    if (typeof v === 'bigint') return Number(v);
    return v;
  });
  if (raws.length === 0) return text ?? 'null';
  return (text ?? 'null').replace(/"\\u0001raw(\d+)\\u0001"/g, (_m, i: string) => raws[Number(i)]);
}
