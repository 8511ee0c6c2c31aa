/** Part "slow-readers" of npm run reliability (being written). */
import type { Part } from './part.js';

export const slowReadersPart: Part = {
  name: 'slow-readers',
  summary: 'not written yet',
  run: async () => {
    throw new Error('part slow-readers is not written yet');
  },
};
