/** Part "storm" of npm run reliability (being written). */
import type { Part } from './part.js';

export const stormPart: Part = {
  name: 'storm',
  summary: 'not written yet',
  run: async () => {
    throw new Error('part storm is not written yet');
  },
};
