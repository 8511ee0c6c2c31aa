/** The parts of `npm run reliability`, in the order they run. */
import type { Part } from './part.js';
import { crashPart } from './crash.js';
import { fuzzPart } from './fuzz.js';
import { slowReadersPart } from './slow-readers.js';
import { stormPart } from './storm.js';
import { storageFaultsPart } from './storage-faults.js';
import { soakPart } from './soak.js';

export const PARTS: Part[] = [crashPart, fuzzPart, slowReadersPart, stormPart, storageFaultsPart, soakPart];
