/**
 * The parts of `npm run reliability`, in the order they run. The soak runs beside the fuzz (it
 * loads the machine lightly; its measured window starts once the fuzz is done), which keeps the
 * whole run within about twenty minutes.
 */
import type { Part } from './part.js';
import { crashPart } from './crash.js';
import { fuzzPart } from './fuzz.js';
import { slowReadersPart } from './slow-readers.js';
import { stormPart } from './storm.js';
import { storageFaultsPart } from './storage-faults.js';
import { soakPart } from './soak.js';

export const PARTS: Part[] = [crashPart, fuzzPart, slowReadersPart, stormPart, storageFaultsPart, soakPart];

/**
 * The parts in the order they run, as stages: a part and the parts that run beside it (`beside`),
 * which start with it; a part whose companion is not selected runs alone, in its own place.
 */
export function stages(parts: Part[]): Part[][] {
  const selected = new Set(parts.map((p) => p.name));
  const out: Part[][] = [];
  for (const part of parts) {
    if (part.beside !== undefined && selected.has(part.beside)) continue;
    out.push([part, ...parts.filter((p) => p.beside === part.name)]);
  }
  return out;
}

