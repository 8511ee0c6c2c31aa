/** Part "storage-faults" of npm run reliability (being written). */
import type { Part } from './part.js';

export const storageFaultsPart: Part = {
  name: 'storage-faults',
  summary: 'not written yet',
  run: async () => {
    throw new Error('part storage-faults is not written yet');
  },
};
