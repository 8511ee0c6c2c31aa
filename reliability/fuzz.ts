/** Part "fuzz" of npm run reliability (being written). */
import type { Part } from './part.js';

export const fuzzPart: Part = {
  name: 'fuzz',
  summary: 'not written yet',
  run: async () => {
    throw new Error('part fuzz is not written yet');
  },
};
