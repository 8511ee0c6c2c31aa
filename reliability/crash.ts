/** Part "crash" of npm run reliability (being written). */
import type { Part } from './part.js';

export const crashPart: Part = {
  name: 'crash',
  summary: 'not written yet',
  run: async () => {
    throw new Error('part crash is not written yet');
  },
};
